"""Exact durations (issue 18): length accuracy and intelligibility of ``duration_s``.

For each English hard sentence (bench/sentences.py), in the default English voice: the natural clip, then
the same text asked to last 0.8x and 1.25x of it. Prints the length error of each fitted clip and the
Whisper WER (indextts.evaluation.asr, scored as bench/intelligibility.py scores) per factor.

    .venv/bin/python bench/duration.py [--factors 0.8 1.25] [--ids en-h1 en-h2]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from indextts.evaluation import asr  # noqa: E402
from sentences import select  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--factors", nargs="+", type=float, default=[0.8, 1.25])
    ap.add_argument("--ids", nargs="*", help="only these sentence ids")
    args = ap.parse_args()

    import torch

    from indextts.engine import Engine

    torch.set_num_threads(2)
    engine = Engine.load()
    voice = engine.default_voice(lang="en")
    sentences = [s for s in select(["en"], ["hard"]) if not args.ids or s.id in args.ids]
    errors: dict[float, list[float]] = {1.0: [], **{f: [] for f in args.factors}}
    misses_ms: list[float] = []
    started = time.perf_counter()
    for s in sentences:
        natural = engine.synthesize(s.text, voice=voice)
        clips = {1.0: natural}
        for factor in args.factors:
            target = round(natural.duration_s * factor, 3)
            clips[factor] = engine.synthesize(s.text, voice=voice, duration_s=target)
            misses_ms.append((clips[factor].duration_s - target) * 1000)
        for factor, clip in clips.items():
            hyp = asr.transcribe(clip.audio, clip.sample_rate, "en")
            err = asr.score(s.ref, hyp, "en")
            errors[factor].append(err)
            print(f"{s.id:7} x{factor:<5g} {clip.duration_s:6.2f} s  WER {err * 100:5.1f}%  {hyp}", flush=True)
    print(f"\nvoice {voice}, {len(sentences)} English hard sentences, {time.perf_counter() - started:.0f} s\n")
    print("| length | mean WER | sentences at 0 |")
    print("|---|---:|---:|")
    for factor, errs in errors.items():
        name = "natural" if factor == 1.0 else f"{factor:g}x natural"
        print(f"| {name} | {statistics.fmean(errs) * 100:.1f} % | {sum(e == 0 for e in errs)}/{len(errs)} |")
    print(f"\nlength error of the fitted clips: max |{max(abs(m) for m in misses_ms):.2f}| ms over {len(misses_ms)}")


if __name__ == "__main__":
    main()
