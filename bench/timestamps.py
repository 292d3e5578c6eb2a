"""Word timestamp accuracy: the engine's word times against an independent aligner.

Each English paragraph (sentences from bench/sentences.py, three or four to a paragraph, one with money, a date
and an abbreviation) is synthesized by the engine in process with the default English voice, and its words are
timed as ``POST /v1/audio/speech/timed`` times them (``indextts.timing``). Whisper base (faster-whisper, word
timestamps) transcribes the same audio; the two word lists are matched by their text (lowercase, punctuation
removed; only words both wrote the same way are compared), and for each match the difference of the start
times is taken. Prints one row per paragraph and the median |start difference| over all matched words.

Usage:
  python bench/timestamps.py [--voice af_heart] [--out bench/out]
Writes <out>/timestamps.json.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from difflib import SequenceMatcher
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

from indextts.engine import Engine  # noqa: E402
from indextts.evaluation import asr  # noqa: E402
from indextts.request import SynthesisRequest  # noqa: E402
from indextts.timing import synthesis_timing  # noqa: E402
from sentences import EN_HARD, EN_PLAIN  # noqa: E402

PARAGRAPHS = [
    " ".join(s.text for s in EN_PLAIN[0:3]),
    " ".join(s.text for s in EN_PLAIN[3:6]),
    " ".join(s.text for s in (EN_PLAIN[6], EN_HARD[0], EN_PLAIN[7])),
    " ".join(s.text for s in (EN_HARD[2], EN_HARD[5], EN_PLAIN[1])),
]


def _key(word: str) -> str:
    return re.sub(r"[^\w$%]", "", word.lower())


def compare(ours: list[tuple[str, float]], heard: list[tuple[str, float]]) -> list[tuple[str, float, float]]:
    """(word, our start, Whisper's start) for the words both wrote the same, matched in order."""
    a, b = [_key(w) for w, _ in ours], [_key(w) for w, _ in heard]
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    return [(ours[i + k][0], ours[i + k][1], heard[j + k][1])
            for i, j, n in matcher.get_matching_blocks() for k in range(n) if a[i + k]]


def main() -> None:
    ap = argparse.ArgumentParser(description="word timestamps vs Whisper word timestamps")
    ap.add_argument("--voice", default=None, help="default: the engine's default English voice")
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    args = ap.parse_args()
    engine = Engine.load(warm_up=False)
    voice = args.voice or engine.default_voice(lang="en")
    diffs: list[float] = []
    rows = []
    print(f"voice {voice}")
    print(f"{'#':>2} {'audio s':>8} {'words':>6} {'matched':>8} {'median ms':>10} {'p90 ms':>8}")
    for k, text in enumerate(PARAGRAPHS, 1):
        request = SynthesisRequest(text, voice=voice, lang="en")
        started = time.perf_counter()
        result = engine.synthesize(request)
        timing = synthesis_timing(engine, request, result)
        synth_s = time.perf_counter() - started
        heard = asr.transcribe_words(result.audio, result.sample_rate, "en")
        matched = compare([(w.text, w.start_s) for w in timing.words], [(w, s) for w, s, _ in heard])
        these = [abs(ours - theirs) for _, ours, theirs in matched]
        diffs += these
        row = {"paragraph": k, "text": text, "audio_s": round(result.duration_s, 2), "synth_s": round(synth_s, 1),
               "words": len(timing.words), "matched": len(matched),
               "median_abs_start_diff_ms": round(1000 * statistics.median(these), 1),
               "p90_abs_start_diff_ms": round(1000 * sorted(these)[int(0.9 * (len(these) - 1))], 1),
               "pairs": [(w, round(a, 3), round(b, 3)) for w, a, b in matched]}
        rows.append(row)
        print(f"{k:>2} {row['audio_s']:>8.2f} {row['words']:>6} {row['matched']:>8} "
              f"{row['median_abs_start_diff_ms']:>10.1f} {row['p90_abs_start_diff_ms']:>8.1f}")
    median_ms = 1000 * statistics.median(diffs)
    p90_ms = 1000 * sorted(diffs)[int(0.9 * (len(diffs) - 1))]
    print(f"all: {len(diffs)} matched words, median |start diff| {median_ms:.1f} ms, p90 {p90_ms:.1f} ms "
          f"(target <= 100 ms median)")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "timestamps.json").write_text(json.dumps(
        {"voice": voice, "median_abs_start_diff_ms": round(median_ms, 1), "p90_abs_start_diff_ms": round(p90_ms, 1),
         "matched": len(diffs), "paragraphs": rows}, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
