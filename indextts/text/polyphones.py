"""Polyphone fixes on top of pypinyin's word readings: the common words and contexts where the
plain dictionary picks the wrong reading (长 cháng/zhǎng, 还 hái/huán, 行 xíng/háng, 得, 地, 教)."""
from __future__ import annotations

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
}
DEGREE_ADVERBS = ("很", "太", "好", "多", "更", "最", "较", "挺", "真", "非常", "特别", "比较", "这么",
                  "那么", "越来越", "不", "有点", "够")
ADVERBIAL_WORDS = frozenset("认真 仔细 努力 大声 小声 小心 开心 高兴 耐心 热情 轻轻 静静 默默 悄悄 "
                            "慢慢 渐渐 偷偷 紧紧 深深 好好 狠狠 匆匆 不停 飞快 拼命 礼貌".split())
HUAN_OBJECTS = ("钱", "书", "款", "债", "贷", "账", "给", "回")
ZHANG_FOLLOWERS = ("大", "高", "胖", "出", "满", "得")


def _is_reduplicated(word: str) -> bool:
    return (len(word) == 2 and word[0] == word[1]) or (len(word) == 4 and word[0] == word[1]
                                                       and word[2] == word[3])


def fix_polyphones(words: list[str], pinyins: list[list[str]]) -> list[list[str]]:
    """Context rules over one sentence's words and their per-character readings (fixed in place)."""
    for i, (word, py) in enumerate(zip(words, pinyins)):
        prev = words[i - 1] if i else ""
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if word in WORD_PINYIN:
            py[:] = WORD_PINYIN[word]
        elif word == "长":
            py[0] = "zhang3" if nxt.startswith(ZHANG_FOLLOWERS) else "chang2"
        elif word.endswith("长") and word[:-1] in DEGREE_ADVERBS:
            py[-1] = "chang2"                       # 很长, 太长: the adjective, not 长大's zhǎng
        elif word == "还" and nxt.startswith(HUAN_OBJECTS):
            py[0] = "huan2"
        elif word == "得" and prev:
            py[0] = "de5"                           # 跑得快: the complement particle
        elif word == "教":
            py[0] = "jiao1"                         # the verb 教 (我教你); 教育 etc. are words
        elif word[:1] == "地" and (_is_reduplicated(prev) or prev in ADVERBIAL_WORDS):
            py[0] = "de5"                           # 慢慢地走: the adverbial particle
    return pinyins
