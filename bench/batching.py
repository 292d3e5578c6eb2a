"""Would batching segments of concurrent requests raise throughput on CPU? Measures the decoder on one
utterance twice in a row against once as a batch of two (same inputs), min of 5, 2 threads.

Usage: python bench/batching.py [--text "..."]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, when run as a script


def best_of(fn, runs: int = 5) -> float:
    fn()
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text", default="The weather was cool and bright, so we walked to the market by the river.")
    args = ap.parse_args()
    torch.set_num_threads(2)
    from indextts.engine import Engine
    from indextts.model import SAMPLE_RATE
    from indextts.model.kokoro import SAMPLES_PER_FRAME
    from indextts.model.prosody import expand_to_frames

    engine = Engine.load()
    model = engine.model
    (segment,) = engine.segments(args.text, lang="en", first_max_tokens=0)  # the sentence whole
    tokens = torch.tensor([[0, *segment.tokens, 0]])
    style = engine.voices.style(engine.settings.engine.default_voice, len(segment.tokens))
    with torch.inference_mode():
        prosody = model.predict_prosody(tokens, style)
        asr = expand_to_frames(model.text_encoder(tokens), prosody.frames)
        timbre = model.split_style(style)[0]
        inputs = (asr, prosody.f0, prosody.energy, timbre)
        batched = tuple(t.repeat(2, *([1] * (t.dim() - 1))) for t in inputs)
        sequential = best_of(lambda: [model.decoder(*inputs) for _ in range(2)])
        batch = best_of(lambda: model.decoder(*batched))
    audio_s = prosody.total_frames * SAMPLES_PER_FRAME / SAMPLE_RATE
    print(f"| utterance s | two calls s | one batch of two s | batch speed-up |\n|---:|---:|---:|---:|\n"
          f"| {audio_s:.2f} | {sequential:.3f} | {batch:.3f} | {sequential / batch:.2f}x |")


if __name__ == "__main__":
    main()
