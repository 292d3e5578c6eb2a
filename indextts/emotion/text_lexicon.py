"""Emotion description (Chinese or English) -> EmotionVector, by a lexicon and a few rules.

No network model: a description such as "有点难过" or "excited and a little scared" is read as

1. Clauses. The text is split at punctuation and at conjunctions (and, but, with, 但是, 而且 ...). Each clause is scanned for emotion words, longest first ("不安" before "不").
2. Emotion words. Each lexicon entry gives one or more emotions with a base value (e.g.
   "excited" = happy 0.8 + surprised 0.3; "难过" = sad 1.0).
3. Degree. The words between the previous emotion word (or the clause start) and this one are
   searched for the nearest intensifier: "a little"/"有点" 0.4, "quite"/"比较" 0.6-0.75,
   "very"/"很" 0.85-0.9, "extremely"/"非常" 1.0 (table ``INTENSIFIERS_*``); none = 0.7.
   A degree word right after a Chinese term ("开心极了", "难过得很") counts as 1.0.
4. Negation. "not"/"n't"/"no"/"never"/"不"/"没"/"别" before the word maps it to its opposite
   (``NEGATED``: not happy -> sad, not angry/sad/afraid -> calm, not calm -> afraid) at 0.6;
   a hedged negation ("not very", "not really", "不太", "不是很") at 0.3; "not at all"-style
   ("一点也不", "毫不") at 0.9; an intensifier before the negation ("有点不开心") gives its value.
5. Contrast. Before "but"/"但是"/"可是"/"不过"/"however"/"yet", everything said so far is scaled
   by 0.6 (the part after the contrast is what the speaker means most).
6. Combination: per emotion, the largest value found (so repeating a word does not stack).

A description with no emotion word is an InputError naming examples. ``resolve_text`` returns the
vector and what matched, so the UI and the API can show how the text was read. Torch-free.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ..errors import InputError
from .profiles import EMOTIONS
from .vector import EmotionVector

MAX_DESCRIPTION_CHARS = 200
DEFAULT_DEGREE = 0.7
NEGATION_DEGREE = 0.6
HEDGED_NEGATION_DEGREE = 0.3
STRONG_NEGATION_DEGREE = 0.9
CONTRAST_DISCOUNT = 0.6

E = dict[str, float]

LEXICON_EN: dict[str, E] = {}
LEXICON_ZH: dict[str, E] = {}


def _add(table: dict[str, E], words: str, value: E) -> None:
    for w in words.split():
        table[w.replace("_", " ")] = value


# --- English: word forms (matched as whole words) ---------------------------------------------
_add(LEXICON_EN, "happy happier happily happiness joy joyful joyous glad cheerful cheery delighted pleased "
     "merry upbeat jolly elated ecstatic overjoyed", {"happy": 1.0})
_add(LEXICON_EN, "excited exciting thrilled", {"happy": 0.8, "surprised": 0.3})
_add(LEXICON_EN, "angry angrily anger mad furious fury irritated annoyed enraged outraged rage raging livid "
     "irate", {"angry": 1.0})
_add(LEXICON_EN, "frustrated impatient", {"angry": 0.6})
_add(LEXICON_EN, "sad sadly sadness unhappy sorrow sorrowful tearful crying heartbroken grief grieving "
     "miserable", {"sad": 1.0})
_add(LEXICON_EN, "upset hurt", {"sad": 0.7, "angry": 0.2})
_add(LEXICON_EN, "afraid scared frightened fear fearful terrified panicked panicky horrified", {"afraid": 1.0})
_add(LEXICON_EN, "anxious nervous worried uneasy tense timid", {"afraid": 0.6})
_add(LEXICON_EN, "disgusted disgust disgusting gross revolted repulsed repelled contempt contemptuous "
     "scornful", {"disgusted": 1.0})
_add(LEXICON_EN, "melancholic melancholy gloomy wistful downcast dejected despondent somber sombre "
     "low-spirited depressed glum", {"melancholic": 1.0})
_add(LEXICON_EN, "lonely", {"melancholic": 0.8, "sad": 0.3})
_add(LEXICON_EN, "disappointed", {"sad": 0.5, "melancholic": 0.4})
_add(LEXICON_EN, "surprised surprise surprising astonished amazed shocked startled stunned astounded wow",
     {"surprised": 1.0})
_add(LEXICON_EN, "calm calmly peaceful relaxed serene tranquil composed soothing placid", {"calm": 1.0})
_add(LEXICON_EN, "gentle gently soft softly quiet quietly tender", {"calm": 0.7})

# --- Chinese: terms (matched as substrings, longest first) ------------------------------------
_add(LEXICON_ZH, "开心 高兴 快乐 愉快 欢快 喜悦 欣喜 快活 乐呵呵 欢喜 喜 乐 愉悦 雀跃", {"happy": 1.0})
_add(LEXICON_ZH, "兴奋 激动", {"happy": 0.8, "surprised": 0.3})
_add(LEXICON_ZH, "生气 愤怒 恼火 气愤 发火 暴怒 火大 恼怒 愤慨 怒 气死", {"angry": 1.0})
_add(LEXICON_ZH, "不耐烦 烦躁 烦", {"angry": 0.6})
_add(LEXICON_ZH, "难过 伤心 悲伤 哀伤 悲痛 痛苦 哭 想哭 委屈 悲 哀", {"sad": 1.0})
_add(LEXICON_ZH, "失望", {"sad": 0.5, "melancholic": 0.4})
_add(LEXICON_ZH, "害怕 恐惧 惊恐 恐慌 畏惧 怕 惧", {"afraid": 1.0})
_add(LEXICON_ZH, "紧张 担心 不安 焦虑 忐忑 慌张 慌", {"afraid": 0.6})
_add(LEXICON_ZH, "厌恶 恶心 嫌弃 讨厌 反感 鄙视 嫌恶", {"disgusted": 1.0})
_add(LEXICON_ZH, "低落 忧郁 惆怅 沮丧 消沉 郁闷 失落 忧伤 伤感 颓丧 惆怅 落寞", {"melancholic": 1.0})
_add(LEXICON_ZH, "孤独 寂寞", {"melancholic": 0.8, "sad": 0.3})
_add(LEXICON_ZH, "惊讶 惊喜 吃惊 意外 震惊 惊奇 诧异 惊", {"surprised": 1.0})
_add(LEXICON_ZH, "平静 冷静 淡定 放松 平和 安静 沉着 宁静 从容 心平气和", {"calm": 1.0})
_add(LEXICON_ZH, "温柔 轻柔 柔和 轻声", {"calm": 0.7})
_add(LEXICON_ZH, "轻松", {"calm": 0.6, "happy": 0.3})

# Opposites under negation ("not happy" is read as mildly sad, "not angry" as calm ...).
NEGATED: dict[str, E] = {
    "happy": {"sad": 1.0}, "angry": {"calm": 1.0}, "sad": {"calm": 1.0}, "afraid": {"calm": 1.0},
    "disgusted": {"calm": 0.5}, "melancholic": {"calm": 0.7}, "surprised": {"calm": 0.7}, "calm": {"afraid": 0.6},
}

INTENSIFIERS_EN: dict[str, float] = {
    "a little bit": 0.35, "a tiny bit": 0.3, "a little": 0.4, "a bit": 0.4, "a touch": 0.35, "slightly": 0.35,
    "mildly": 0.4, "somewhat": 0.5, "kind of": 0.5, "kinda": 0.5, "sort of": 0.5, "fairly": 0.6,
    "rather": 0.65, "quite": 0.75, "pretty": 0.75, "really": 0.9, "very": 0.9, "so": 0.9, "truly": 0.9,
    "too": 0.9, "deeply": 0.95, "extremely": 1.0, "incredibly": 1.0, "super": 1.0, "totally": 1.0,
    "utterly": 1.0, "absolutely": 1.0, "terribly": 1.0, "completely": 1.0, "overwhelmingly": 1.0,
}
INTENSIFIERS_ZH: dict[str, float] = {
    "有一点点": 0.3, "有一点": 0.4, "有点儿": 0.4, "有点": 0.4, "有些": 0.45, "一点": 0.4, "一些": 0.45,
    "稍微": 0.35, "稍稍": 0.35, "略微": 0.35, "略": 0.4, "些许": 0.35, "比较": 0.6, "还挺": 0.7, "挺": 0.7,
    "蛮": 0.7, "相当": 0.8, "很": 0.85, "好": 0.85, "真": 0.85, "真的": 0.85, "太": 0.95, "特别": 0.95,
    "十分": 0.95, "非常": 1.0, "极其": 1.0, "极度": 1.0, "超级": 1.0, "超": 1.0, "万分": 1.0, "无比": 1.0,
}
POST_INTENSIFIERS_ZH = ("极了", "得很", "得不得了", "得要命", "死了", "坏了")
NEGATIONS_EN = {"strong": ("not at all", "not in the least", "never"),
                "hedged": ("not very", "not too", "not so", "not that", "not really", "not particularly",
                           "n't very", "n't too", "n't so", "n't that", "n't really", "n't particularly"),
                "plain": ("not", "n't", "no", "without", "hardly", "barely")}
NEGATIONS_ZH = {"strong": ("一点也不", "一点都不", "一点儿也不", "毫不", "绝不", "根本不", "完全不", "丝毫不"),
                "hedged": ("不太", "不是很", "不怎么", "不大", "不那么", "没那么", "不算太", "不算"),
                "plain": ("不", "没有", "没", "别")}
CONTRASTS = ("but", "however", "yet", "though", "although", "但是", "但", "可是", "不过", "然而", "却")
# Clause breaks (a degree or negation word never reaches across one). Single-character Chinese
# conjunctions (和, 又, 也) are not breaks: they occur inside terms (心平气和) and degree phrases (一点也不).
CONJUNCTIONS = ("and", "with", "while", "also", "plus", "而且", "并且", "同时", "还有", "带着", "夹杂着")


@dataclass(frozen=True)
class Match:
    term: str
    values: dict[str, float]  # what this word contributed (after degree, negation and contrast)
    note: str  # e.g. "a little (0.4)", "negated (not)"


@dataclass(frozen=True)
class TextResolution:
    text: str
    vector: EmotionVector
    matches: tuple[Match, ...]

    def as_dict(self) -> dict:
        return {"text": self.text, "vector": self.vector.as_dict(),
                "matches": [{"term": m.term, "values": m.values, "note": m.note} for m in self.matches]}


def _alternation(words, en: bool) -> str:
    items = sorted(words, key=len, reverse=True)
    body = "|".join(re.escape(w) for w in items)
    return rf"(?<![a-z'-])(?:{body})(?![a-z-])" if en else f"(?:{body})"


_TERM_RE = re.compile(f"{_alternation(LEXICON_EN, True)}|{_alternation(LEXICON_ZH, False)}")
_SPLIT_RE = re.compile(
    r"[,.;:!?，。；：！？、/()（）\n]|" + _alternation([c for c in CONTRASTS + CONJUNCTIONS if c.isascii()], True)
    + "|" + "|".join(re.escape(c) for c in sorted((c for c in CONTRASTS + CONJUNCTIONS if not c.isascii()),
                                                    key=len, reverse=True)))
_CONTRAST_SET = set(CONTRASTS)


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    return re.sub(r"\s+", " ", text).strip()


def _find_last(window: str, phrases, en: bool) -> tuple[int, str] | None:
    """(position, phrase) of the phrase that ends nearest to the end of the window."""
    best = None
    for phrase in phrases:
        pattern = (rf"(?<![a-z]){re.escape(phrase)}(?![a-z])" if en and phrase[0].isalpha() and phrase[-1].isalpha()
                   else re.escape(phrase))
        for m in re.finditer(pattern, window):
            key = (m.end(), len(phrase))
            if best is None or key > best[0]:
                best = (key, m.start(), phrase)
    return (best[1], best[2]) if best else None


def _degree(window: str, after: str, term_is_en: bool) -> tuple[float, bool, str]:
    """(degree, negated?, note) from the words before the term (and, in Chinese, right after it)."""
    en = term_is_en
    window = window[-24:] if en else window[-6:]
    negations = NEGATIONS_EN if en else NEGATIONS_ZH
    intensifiers = INTENSIFIERS_EN if en else INTENSIFIERS_ZH
    for kind, degree in (("strong", STRONG_NEGATION_DEGREE), ("hedged", HEDGED_NEGATION_DEGREE),
                         ("plain", NEGATION_DEGREE)):
        found = _find_last(window, negations[kind], en)
        if found:
            before = _find_last(window[: found[0]], intensifiers, en)
            if kind == "plain" and before:
                return intensifiers[before[1]], True, f"{before[1]} + negated ({found[1]})"
            return degree, True, f"negated ({found[1]})"
    if not en and after.startswith(POST_INTENSIFIERS_ZH):
        return 1.0, False, "degree after the word (1.0)"
    found = _find_last(window, intensifiers, en)
    if found:
        return intensifiers[found[1]], False, f"{found[1]} ({intensifiers[found[1]]:g})"
    return DEFAULT_DEGREE, False, f"no degree word ({DEFAULT_DEGREE:g})"


def resolve_text(text: str) -> TextResolution:
    """Read an emotion description; InputError when it is empty, too long or has no emotion word."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("the emotion description is empty; describe the emotion, e.g. '有点难过' or "
                         "'excited and a little scared'", field="emotion_text")
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise InputError(f"the emotion description is {len(text)} characters; keep it under "
                         f"{MAX_DESCRIPTION_CHARS}", field="emotion_text")
    norm = _normalize(text)
    matches: list[Match] = []
    clause_start = 0
    pieces = list(_SPLIT_RE.finditer(norm)) + [None]
    for sep in pieces:
        end = sep.start() if sep else len(norm)
        clause = norm[clause_start:end]
        last = 0
        for m in _TERM_RE.finditer(clause):
            term = m.group(0)
            is_en = term.isascii()
            lexicon = LEXICON_EN if is_en else LEXICON_ZH
            degree, negated, note = _degree(clause[last:m.start()], clause[m.end():], is_en)
            values: dict[str, float] = {}
            for emotion, base in lexicon[term].items():
                targets = NEGATED[emotion] if negated else {emotion: 1.0}
                for target, k in targets.items():
                    values[target] = max(values.get(target, 0.0), round(min(1.0, base * degree * k), 3))
            matches.append(Match(term, values, note))
            last = m.end()
        if sep is not None and sep.group(0).strip() in _CONTRAST_SET:
            matches = [Match(mm.term, {k: round(v * CONTRAST_DISCOUNT, 3) for k, v in mm.values.items()},
                             mm.note + f", before '{sep.group(0).strip()}' (x{CONTRAST_DISCOUNT:g})")
                       for mm in matches]
        clause_start = sep.end() if sep else len(norm)
    if not matches:
        raise InputError(f"no emotion word found in {text!r}; use words like happy, angry, sad, scared, "
                         f"disgusted, gloomy, surprised, calm (or 开心, 生气, 难过, 害怕, 厌恶, 低落, 惊讶, 平静), "
                         f"with 'a little'/'very' or 有点/很/非常", field="emotion_text")
    best = dict.fromkeys(EMOTIONS, 0.0)
    for match in matches:
        for emotion, value in match.values.items():
            best[emotion] = max(best[emotion], value)
    return TextResolution(text, EmotionVector(tuple(best[e] for e in EMOTIONS)), tuple(matches))
