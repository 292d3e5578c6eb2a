"""Mandarin polyphones: the frontend reads the polyphonic characters of everyday sentences right.

The set is bench/data/polyphones.tsv (bench/polyphones.py prints the same accuracy with the errors)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from indextts.text.g2p import chinese_readings

_BENCH = Path(__file__).resolve().parent.parent / "bench" / "polyphones.py"
_spec = importlib.util.spec_from_file_location("bench_polyphones", _BENCH)
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench     # dataclasses look their module up there
_spec.loader.exec_module(bench)


def test_the_set_covers_enough_characters():
    items = bench.load_set()
    assert len(items) >= 150
    readings: dict[str, set[str]] = {}
    for it in items:
        readings.setdefault(it.char, set()).add(it.reading)
    assert len(readings) >= 60
    assert sum(len(r) > 1 for r in readings.values()) >= 60     # both readings of most characters
    assert {it.split for it in items} == {"tune", "heldout"}


def test_whole_set_accuracy():
    items = bench.load_set()
    accuracy, errors = bench.score(items)
    assert accuracy >= bench.TARGET_ACCURACY, [(e.sentence, e.reading, got) for e, got in errors]
    heldout, _ = bench.score([it for it in items if it.split == "heldout"])
    assert heldout >= 0.88


@pytest.mark.parametrize("sentence, char, reading", [
    ("时间不早了，我得走了。", "得", "dei3"),
    ("她在比赛中得了第一名。", "得", "de2"),
    ("他跑得比谁都快。", "得", "de5"),
    ("他借了钱总是不还。", "还", "huan2"),
    ("我还没吃午饭呢。", "还", "hai2"),
    ("爷爷在院子里种了一棵树。", "种", "zhong4"),
    ("这种花在春天开放。", "种", "zhong3"),
    ("护士给病人量了体温。", "量", "liang2"),
    ("今年的产量比去年高。", "量", "liang4"),
    ("他买彩票中了大奖。", "中", "zhong4"),
    ("妈妈给我盛了一碗饭。", "盛", "cheng2"),
    ("公园里的花开得很茂盛。", "盛", "sheng4"),
    ("奶奶在家看孩子。", "看", "kan1"),
    ("开车时一定要系上安全带。", "系", "ji4"),
    ("我和他没有任何关系。", "系", "xi4"),
    ("我把手机落在出租车上了。", "落", "la4"),
    ("太阳从西边落下去了。", "落", "luo4"),
    ("别用脏手揉眼睛。", "脏", "zang1"),
    ("他的心脏不太好。", "脏", "zang4"),
    ("我们打的去机场吧。", "的", "di1"),
    ("周末他们喜欢打麻将。", "将", "jiang4"),
    ("鱼刺卡在喉咙里了。", "卡", "qia3"),
    # the context rules must leave the other reading alone
    ("这张卡在哪里？", "卡", "ka3"),
    ("他是个好学生。", "好", "hao3"),
    ("她得病了。", "得", "de2"),
    ("大家得注意安全。", "得", "dei3"),
    ("他比我还高。", "还", "hai2"),
    ("各种菜都有。", "种", "zhong3"),
    ("他把书落在教室了。", "落", "la4"),
])
def test_sample_reads_right(sentence, char, reading):
    assert bench.syllable_at(sentence, sentence.index(char)) == reading


def test_readings_cover_the_text_one_syllable_per_han_character():
    text = "我用iPhone下载了2个App，然后去银行还款。"
    pieces = chinese_readings(text)
    assert "".join(p for p, _ in pieces) == text
    for piece, syllables in pieces:
        han = all("\u4e00" <= c <= "\u9fff" for c in piece)
        assert len(syllables) == (len(piece) if han else 0), (piece, syllables)


def test_phonemes_follow_the_readings():
    from indextts.text.g2p import G2P
    g2p = G2P()
    assert G2P._py2ipa("dei3") in g2p.zh("我得走了。")          # děi, not the particle de
    assert G2P._py2ipa("zhong4") in g2p.zh("他种了一棵树。")


@pytest.mark.parametrize("text, reading", [
    ("价格涨了1.5倍。", "yi1 dian3"),        # a decimal
    ("下午1:30出发。", "yi1 dian3"),          # a clock time
    ("一点钟见。", "yi1 dian3 zhong1"),
    ("访问10.0.1.1即可。", "yi1 dian3"),      # an address's part
    ("他有一点累。", "yi4 dian3"),            # "a little" keeps its yì
])
def test_yi_dian_is_yi1_as_a_number_and_yi4_as_a_little(text, reading):
    from indextts.text import Frontend

    words = [w for w in Frontend().words(text, "zh") if w.text.startswith("一点")]
    assert words and " ".join(words[0].pinyin) == reading, words
