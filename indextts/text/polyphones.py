"""Polyphone fixes on top of pypinyin's word readings.

pypinyin reads a word it knows from its phrase data, and that is right for nearly every word; the
misreadings are characters that stand alone (or sit in a word the segmenter made up) where the plain
dictionary gives the most frequent reading: 我得走了 (děi), 种了一棵树 (zhòng), 不还 (huán), 量体温
(liáng). Those are decided here by the characters around them; words pypinyin knows are left alone.
bench/polyphones.py measures the result on a set of everyday sentences."""
from __future__ import annotations

from dataclasses import dataclass

# Whole-word readings (TONE3). They are also added to the word segmenter so it keeps them whole.
WORD_PINYIN: dict[str, list[str]] = {
    "还款": ["huan2", "kuan3"], "还钱": ["huan2", "qian2"], "还书": ["huan2", "shu1"],
    "还债": ["huan2", "zhai4"], "还贷": ["huan2", "dai4"], "还清": ["huan2", "qing1"],
    "还给": ["huan2", "gei3"], "还账": ["huan2", "zhang4"], "归还": ["gui1", "huan2"],
    "长时间": ["chang2", "shi2", "jian1"], "长得": ["zhang3", "de5"], "长高": ["zhang3", "gao1"],
    "长胖": ["zhang3", "pang4"], "行长": ["hang2", "zhang3"], "银行": ["yin2", "hang2"],
    "行业": ["hang2", "ye4"], "同行业": ["tong2", "hang2", "ye4"], "外行": ["wai4", "hang2"],
    "内行": ["nei4", "hang2"], "行家": ["hang2", "jia1"], "一行代码": ["yi4", "hang2", "dai4", "ma3"],
    "这行代码": ["zhe4", "hang2", "dai4", "ma3"], "每行": ["mei3", "hang2"],
    "教书": ["jiao1", "shu1"],
    # words pypinyin's phrase data lacks or reads with the rarer reading
    "麻将": ["ma2", "jiang4"], "打麻将": ["da3", "ma2", "jiang4"], "掉色": ["diao4", "shai3"],
    "褪色": ["tui4", "shai3"], "考中": ["kao3", "zhong4"], "系鞋带": ["ji4", "xie2", "dai4"], "系安全带": ["ji4", "an1", "quan2", "dai4"],
}
DEGREE_ADVERBS = ("很", "太", "好", "多", "更", "最", "较", "挺", "真", "非常", "特别", "比较", "这么",
                  "那么", "越来越", "不", "有点", "够")
ADVERBIAL_WORDS = frozenset("认真 仔细 努力 大声 小声 小心 开心 高兴 耐心 热情 轻轻 静静 默默 悄悄 "
                            "慢慢 渐渐 偷偷 紧紧 深深 好好 狠狠 匆匆 不停 飞快 拼命 礼貌".split())
HUAN_OBJECTS = ("钱", "书", "款", "债", "贷", "账", "给", "回")
ZHANG_FOLLOWERS = ("大", "高", "胖", "出", "满", "得")
# 得 děi (must) follows its subject, a time word or an adverb: 我得走, 今晚得复习, 你还得等; after a
# verb or an adjective it is the particle (跑得快).
DEI_AFTER = ("我", "你", "他", "她", "它", "们", "咱", "谁", "家", "也", "还", "就", "都", "总", "必须",
             "可", "又", "才", "先", "真", "天", "晚", "午", "后", "年", "会儿", "现在", "马上")
# ... unless an object follows: then it is the verb dé (他得了第一名, 她得病了).
DE2_OBJECTS = ("了", "过", "到", "奖", "病", "分", "罪", "知", "意", "票", "冠军", "第")
# after 一点, these make it a number (a decimal, an IP's part, a clock time), read yī, not the yì of 有一点累
NUMERAL_FOLLOWERS = tuple("零一二三四五六七八九十两半钟整")
PRIZES = ("第", "冠军", "亚军", "金", "银", "铜", "满分", "奖", "大奖", "一等", "二等", "三等", "病")
ASPECT = ("了", "着", "过")
# What stands before a verb: a subject, a modal, an adverb (我种, 正在数, 要量, 忙着种).
VERB_AFTER = ("我", "你", "他", "她", "们", "谁", "民", "在", "着", "要", "会", "能", "想", "去", "来", "别",
              "再", "先", "又", "也", "就", "得", "快", "帮")


@dataclass(frozen=True)
class CharRule:
    """``char`` reads ``reading`` when the text right after it starts with one of ``before``, or when
    it ends its word and the text right before it ends with one of ``after`` (within the same run of
    Han characters), unless the text before it ends with one of ``not_after``. (A character that starts
    a longer word is not judged by what precedes it: 在盛大的 is not 在盛饭.)"""
    char: str
    reading: str
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    not_after: tuple[str, ...] = ()

    def matches(self, left: str, right: str, ends_word: bool) -> bool:
        if self.not_after and left.endswith(self.not_after):
            return False
        return (bool(self.before and right.startswith(self.before))
                or bool(ends_word and self.after and left.endswith(self.after)))


# Verb readings, recognised by what a verb takes: an aspect particle, a complement or its usual object.
# Only for characters outside a word pypinyin knows (种子, 数学, 心脏 keep their dictionary reading).
CHAR_RULES: tuple[CharRule, ...] = (
    CharRule("种", "zhong4", before=ASPECT + ("树", "花", "菜", "地", "田", "下", "在", "上", "出"), after=VERB_AFTER,
             not_after=tuple("这那哪每各某此该本另一二两三四五六七八九十百几多")),   # 这种花: the kind
    CharRule("盛", "cheng2", before=ASPECT + ("饭", "汤", "粥", "满", "一碗", "一勺"), after=VERB_AFTER),
    CharRule("量", "liang2", before=ASPECT + ("体温", "血压", "身高", "尺寸", "一量", "一下"), after=VERB_AFTER),
    CharRule("中", "zhong4", before=("了", "过", "奖", "彩", "标", "毒", "暑"),
             after=("考", "猜", "选", "打", "射", "击")),                  # 考中, 猜中: hit
    CharRule("看", "kan1", before=("孩子", "小孩", "门", "守", "护", "管")),
    CharRule("背", "bei1", before=("着", "起", "包", "书包", "孩子", "上")),
    CharRule("系", "ji4", before=("上", "好", "紧", "鞋带", "领带", "安全带", "围裙")),
    CharRule("卡", "qia3", before=("住", "在喉咙", "在嗓子", "在中间", "在门")),   # 这张卡在哪: the card
    CharRule("待", "dai1", before=("一会", "一下", "了", "着", "在", "几天", "多久")),
    CharRule("削", "xiao1", before=ASPECT + ("皮", "苹果", "梨", "土豆", "萝卜", "水果", "铅笔"), after=VERB_AFTER),
    CharRule("切", "qie1", before=ASPECT + ("菜", "肉", "开", "成", "断", "好", "一")),
    CharRule("铺", "pu1", before=("好", "平", "开", "上", "满", "床", "路")),
    CharRule("落", "luo4", before=("下去", "下来", "叶", "后")),
    CharRule("脏", "zang1", before=("了", "手", "衣", "水", "东西", "兮兮"), after=("很", "太", "真", "好", "弄", "把")),
    CharRule("数", "shu3", before=("一数", "了数", "不清", "不过来", "得清", "钱", "星星"), after=VERB_AFTER),
    CharRule("好", "hao4", before=("奇", "客", "吃懒做")),
    CharRule("调", "tiao2", before=("皮", "节", "整", "和", "料", "小", "大", "高", "低", "亮", "暗", "快", "慢",
                                    "好", "成", "一下", "频")),             # 调小一点: adjust
    CharRule("觉", "jiao4", after=("睡", "好", "午", "一", "个", "懒")),   # 睡了一觉, 睡好觉: sleep
    CharRule("行", "hang2", before=("字", "代码", "诗", "文字", "数据")),   # 多少行字: the line
    CharRule("转", "zhuan4", before=("圈", "来转去", "悠"), after=("围着", "绕着", "团团", "打")),
)


def _is_reduplicated(word: str) -> bool:
    return (len(word) == 2 and word[0] == word[1]) or (len(word) == 4 and word[0] == word[1]
                                                       and word[2] == word[3])


def _known_word(word: str) -> bool:
    """Whether pypinyin reads ``word`` from its phrase data (then its readings are trusted)."""
    from pypinyin.constants import PHRASES_DICT
    return len(word) > 1 and (word in PHRASES_DICT or word in WORD_PINYIN)


def _apply_char_rules(words: list[str], pinyins: list[list[str]]) -> None:
    run = "".join(words)
    pos = 0
    for word, py in zip(words, pinyins):
        if not _known_word(word) and len(py) == len(word):
            for k, char in enumerate(word):
                left, right = run[:pos + k], run[pos + k + 1:]
                for rule in CHAR_RULES:
                    if rule.char == char and rule.matches(left, right, k == len(word) - 1):
                        py[k] = rule.reading
                        break
        pos += len(word)


def fix_polyphones(words: list[str], pinyins: list[list[str]]) -> list[list[str]]:
    """Context rules over one run of Han characters' words and their per-character readings (fixed in
    place): the character rules for characters outside known words, then whole-word overrides and the
    rules for particles and adverbs (得 地 的 还 长 ...)."""
    _apply_char_rules(words, pinyins)
    for i, (word, py) in enumerate(zip(words, pinyins)):
        prev = words[i - 1] if i else ""
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if word in WORD_PINYIN:
            py[:] = WORD_PINYIN[word]
        elif word == "长":
            py[0] = "zhang3" if nxt.startswith(ZHANG_FOLLOWERS) else "chang2"
        elif word.endswith("长") and word[:-1] in DEGREE_ADVERBS:
            py[-1] = "chang2"                       # 很长, 太长: the adjective, not 长大's zhǎng
        elif word == "还" and (nxt.startswith(HUAN_OBJECTS) or not nxt):
            py[0] = "huan2"                         # 还给, 借钱不还: the verb (hái never ends a clause)
        elif word.endswith("得") and (word == "得" or not _known_word(word)) and (prev or len(word) > 1):
            prev = word[:-1] or prev                # 考得 / 我得: a word the segmenter made up
            after_le = words[i + 2] if nxt == "了" and i + 2 < len(words) else ""
            if after_le.startswith(PRIZES):
                py[-1] = "de2"                      # 比赛中得了第一名
            elif prev.endswith(DEI_AFTER):
                py[-1] = "de2" if nxt.startswith(DE2_OBJECTS) else "dei3"   # 他得了第一名 / 我得走了
            elif len(prev) > 1 and after_le and not after_le.startswith(("吗", "呢", "吧")):
                py[-1] = "de2"                      # 考试得了满分 (not 吃得了吗: can eat)
            else:
                py[-1] = "de5"                      # 跑得快: the complement particle
        elif word.endswith("着") and not _known_word(word) and nxt == "了" and i + 2 == len(words):
            py[-1] = "zhao2"                        # 找着了, 睡着了: the result, not the ongoing zhe
        elif word == "教":
            py[0] = "jiao1"                         # the verb 教 (我教你); 教育 etc. are words
        elif word[:1] == "地" and (_is_reduplicated(prev) or prev in ADVERBIAL_WORDS):
            py[0] = "de5"                           # 慢慢地走: the adverbial particle
        elif word == "的" and prev.endswith("打") and nxt.startswith(("去", "到", "回")):
            py[0] = "di1"                           # 打的去机场: the taxi
        elif word in ("一点", "一点钟") and (word == "一点钟" or nxt[:1] in NUMERAL_FOLLOWERS):
            py[0] = "yi1"                           # 1.5 一点五, 1:30 一点三十分, 一点钟: the numeral
        elif word.endswith("一行") and not nxt:
            py[-1] = "hang2"                        # 干这一行: the trade
        elif (word.endswith("落") and not _known_word(word) and nxt.startswith(("在", "了", "下"))
              and "把" in "".join(words[:i]) + word):
            py[-1] = "la4"                          # 把手机落在车上: left behind
    return pinyins
