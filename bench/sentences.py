"""Sentence sets for the intelligibility benchmark.

Each item: id, lang ("en"/"zh"), set ("plain"/"hard"), text (what the user types) and ref (the
sentence as it should be HEARD, written out). Scoring compares the ASR transcript with `ref`, so a
frontend that reads "$12.50" as "dollar sign twelve point five zero" or "e.g." as "E G" is charged
for it. Both sides go through the same normalisation (indextts/evaluation/asr.py), which maps Whisper's digits
back to words, so a correct reading written with digits is not an error.

Limits of an ASR round trip: a wrong polyphone reading (行 xíng/háng) or 二 for 两 is only caught
when Whisper writes a different character; Whisper's language model often repairs it. These items
still catch gross failures (dropped words, letters spelled out, hyphens read as 负).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sentence:
    id: str
    lang: str  # "en" | "zh"
    set: str  # "plain" | "hard"
    text: str
    ref: str


def _plain(lang: str, items: list[str]) -> list[Sentence]:
    return [Sentence(f"{lang}-p{i}", lang, "plain", t, t) for i, t in enumerate(items, 1)]


def _hard(lang: str, items: list[tuple[str, str]]) -> list[Sentence]:
    return [Sentence(f"{lang}-h{i}", lang, "hard", t, r) for i, (t, r) in enumerate(items, 1)]


EN_PLAIN = _plain("en", [
    "The weather was cool and bright, so we walked to the market by the river.",
    "She opened the window and listened to the birds singing in the garden.",
    "Please remember to bring your umbrella because it might rain this afternoon.",
    "The old library on the corner has been closed for repairs since last summer.",
    "He cooked a simple dinner of rice, vegetables, and grilled fish for his family.",
    "Our train leaves early in the morning, so we should pack our bags tonight.",
    "The children laughed as the little dog chased its tail around the yard.",
    "Learning a new language takes patience, practice, and a lot of curiosity.",
])

EN_HARD = _hard("en", [
    ("Dr. Patel paid $12.50 for lunch on March 3rd, 2024.",
     "Doctor Patel paid twelve dollars and fifty cents for lunch on March third, twenty twenty-four."),
    ("The meeting starts at 9:30 a.m. and ends at 4:15 p.m.",
     "The meeting starts at nine thirty a m and ends at four fifteen p m."),
    ("Sales grew by 45% to $3.2 million in the 2nd quarter.",
     "Sales grew by forty-five percent to three point two million dollars in the second quarter."),
    ("NASA launched 3 satellites in 1999, e.g. the one named Terra.",
     "NASA launched three satellites in nineteen ninety-nine, for example the one named Terra."),
    ("The new GPU renders 1,080 frames in 2.5 seconds.",
     "The new G P U renders one thousand eighty frames in two point five seconds."),
    ("Call Mr. Brown at 555-0199 before Jan. 15.",
     "Call Mister Brown at five five five zero one nine nine before January fifteenth."),
    ("The CEO of IBM said the 2025 budget is up 8%.",
     "The C E O of I B M said the twenty twenty-five budget is up eight percent."),
    ("The U.S. team won on Dec. 25, 2023, i.e. on Christmas Day.",
     "The U S team won on December twenty-fifth, twenty twenty-three, that is on Christmas Day."),
])

ZH_PLAIN = _plain("zh", [
    "今天天气很好，我们一起去公园散步吧。",
    "她每天早上都会喝一杯热茶，然后开始工作。",
    "这本书讲述了一个关于友谊和勇气的故事。",
    "请把窗户打开，让新鲜的空气进来。",
    "我们明天早上坐火车去北京看望爷爷奶奶。",
    "春天来了，花园里的花都开了，非常漂亮。",
    "他每天学习中文，希望将来能去中国旅行。",
    "晚饭以后，全家人坐在一起聊天看电视。",
])

ZH_HARD = _hard("zh", [
    ("会议定于2024年3月15日下午3点30分开始。",
     "会议定于二零二四年三月十五日下午三点三十分开始。"),
    ("这台电脑的价格是12999元，比去年便宜了15%。",
     "这台电脑的价格是一万两千九百九十九元，比去年便宜了百分之十五。"),
    ("我的电话是138-1234-5678，有事请打给我。",
     "我的电话是一三八一二三四五六七八，有事请打给我。"),
    ("他有2个孩子，今年22岁。",
     "他有两个孩子，今年二十二岁。"),
    ("这位银行行长说，他还要把借的书还给图书馆。",
     "这位银行行长说，他还要把借的书还给图书馆。"),
    ("他长大以后，头发长得很长。",
     "他长大以后，头发长得很长。"),
    ("我用iPhone下载了PyTorch的教程，准备在GPU上训练模型。",
     "我用iPhone下载了PyTorch的教程，准备在GPU上训练模型。"),
    ("这款AI芯片由NVIDIA设计，性能比上一代提高了2倍。",
     "这款AI芯片由NVIDIA设计，性能比上一代提高了两倍。"),
])

ALL: list[Sentence] = EN_PLAIN + EN_HARD + ZH_PLAIN + ZH_HARD


def select(langs: tuple[str, ...] = ("en", "zh"), sets: tuple[str, ...] = ("plain", "hard")) -> list[Sentence]:
    return [s for s in ALL if s.lang in langs and s.set in sets]
