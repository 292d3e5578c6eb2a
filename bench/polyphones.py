"""Mandarin polyphone benchmark: how often the frontend reads a polyphonic character right.

The set (bench/data/polyphones.tsv) is everyday sentences, each with one target character and its
expected TONE3 reading (5 = neutral tone, v = ü), covering both readings of each character. The
frontend's reading is `indextts.text.g2p.chinese_readings` (words, polyphone fixes; before tone
sandhi), which the phonemes path uses too. Text only: no model, a few seconds.

A line's `split` is "tune" (the rules and data were chosen looking at these) or "heldout" (every
5th line, fixed before any tuning): a large gap between the two means the fixes overfit the set.

Usage:
  python bench/polyphones.py                 # accuracy (all, tune, held-out) and the errors
  python bench/polyphones.py --split tune    # errors of one split only (tuning without peeking)
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SET_PATH = ROOT / "bench" / "data" / "polyphones.tsv"
TARGET_ACCURACY = 0.95


@dataclass(frozen=True)
class Item:
    split: str      # "tune" | "heldout"
    char: str       # the polyphonic character
    index: int      # its position in the sentence
    reading: str    # expected TONE3 reading
    sentence: str


def load_set(path: Path = SET_PATH) -> list[Item]:
    """The test set; '#' lines are comments and the first other line is the header."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    items = []
    for ln in lines[1:]:
        split, char, index, reading, sentence = ln.split("\t")
        item = Item(split, char, int(index), reading, sentence)
        if item.sentence[item.index] != item.char:
            raise ValueError(f"index {item.index} of {sentence!r} is not {char!r}")
        items.append(item)
    return items


def syllable_at(sentence: str, index: int) -> str:
    """The frontend's reading of the character at ``index`` ("" where it gives none)."""
    from indextts.text.g2p import chinese_readings
    pos = 0
    for piece, syllables in chinese_readings(sentence):
        if pos <= index < pos + len(piece):
            return syllables[index - pos] if len(syllables) == len(piece) else ""
        pos += len(piece)
    return ""


def score(items: list[Item]) -> tuple[float, list[tuple[Item, str]]]:
    """Accuracy over ``items`` and the misread ones with what the frontend said."""
    errors = [(it, got) for it in items if (got := syllable_at(it.sentence, it.index)) != it.reading]
    return (1 - len(errors) / len(items)) if items else 1.0, errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=("all", "tune", "heldout"), default="all",
                    help="whose errors to list (accuracy is always printed for all splits)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    items = load_set()

    t0 = time.perf_counter()
    syllable_at("你好", 0)          # builds the segmenter and loads the phrase data: timed apart
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = {name: score([it for it in items if name == "all" or it.split == name])
               for name in ("all", "tune", "heldout")}
    run_s = time.perf_counter() - t0

    chars = {it.char for it in items}
    print(f"set: {len(items)} sentences, {len(chars)} characters ({SET_PATH.relative_to(ROOT)})")
    for name, (acc, errors) in results.items():
        n = sum(1 for it in items if name == "all" or it.split == name)
        print(f"{name:8s} {acc:6.1%}  ({n - len(errors)}/{n})")
    print(f"first use {load_s:.2f} s, then {1000 * run_s / (3 * len(items)):.1f} ms a sentence")

    _, errors = results[args.split]
    if errors:
        per_char = Counter(it.char for it, _ in errors)
        print(f"\nerrors ({args.split}) per character: " + " ".join(f"{c}{n}" for c, n in per_char.most_common()))
        for it, got in errors:
            print(f"  [{it.split}] {it.char} want {it.reading:7s} got {got or '-':7s} {it.sentence}")
    return 0 if results["all"][0] >= TARGET_ACCURACY else 1


if __name__ == "__main__":
    raise SystemExit(main())
