"""Voice-cloning benchmark on held-out reference voices (non-Kokoro engines and transforms).

For each voice of a reference set (default bench/cloning_refs.HELD_OUT_2, never used to tune the method):
- fit: engine.clone_voice on its ~10 s reference clip (fit cache emptied first: a real fit), timed;
- the clone and every stock voice a clone may start from (the fit's bases) speak EVAL_TEXTS (sentences not in the clip, not in the fit sentences);
- similarity: Resemblyzer (the package's own preprocess_wav + VoiceEncoder, not our torch front end) cosine
  between the speaker embedding of the clone's 3 sentences and of the reference voice saying the same 3;
  "best stock" = the highest-scoring stock voice (the floor a cloning method must beat);
- independent checks: median F0 difference in semitones (YIN) and long-term average spectrum distance
  (40 mel bands, level-normalised, RMS dB difference), clone and best stock vs reference;
- intelligibility: WER of the clone (Whisper base via indextts/evaluation/asr.py) vs the mean WER of the stock voices.

    python bench/cloning.py [--set held_out_2|held_out|tuning] [--steps N] [--voices a,b]
Makes the reference clips if missing (bench/cloning_refs.py), writes bench/out/cloning-<set>.json and
prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

from cloning_refs import EVAL_TEXTS, OUT as REFS, SETS, make  # noqa: E402

TARGET_SIM, TARGET_ST, TARGET_WER_PTS, TARGET_FIT_S = 0.80, 1.0, 2.0, 30.0


def ltas(audio: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    y = soxr.resample(audio, sr, 16000) if sr != 16000 else audio
    mel = librosa.feature.melspectrogram(y=y.astype(np.float32), sr=16000, n_fft=512, hop_length=160, n_mels=40)
    frame_db = 10 * np.log10(mel.sum(0) + 1e-10)
    loud = frame_db > frame_db.max() - 40  # speech frames only
    spec = 10 * np.log10(mel[:, loud].mean(1) + 1e-10)
    return spec - spec.mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=None, help="fit steps (default: the app's FitConfig)")
    parser.add_argument("--voices", default=None, help="comma-separated subset")
    parser.add_argument("--set", choices=SETS, default="held_out_2", help="reference voices (tuning: for development)")
    parser.add_argument("--no-asr", action="store_true")
    parser.add_argument("--fp32", action="store_true", help="float32 rendering (engine.int8 and engine.compile off)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    from resemblyzer import VoiceEncoder, preprocess_wav

    from indextts.cloning.fit import median_f0
    from indextts.model_facts import SAMPLE_RATE
    from indextts.config import Settings
    from indextts.engine import Engine

    voices = SETS[args.set]
    if args.voices:
        voices = {k: voices[k] for k in args.voices.split(",")}
    make(voices)
    tmp = Path(tempfile.mkdtemp(prefix="clone-bench-"))
    fp32 = {"int8": False, "compile": False} if args.fp32 else {}
    settings = Settings.load(environ={}, overrides={"engine": {"device": "cpu", "threads": 2, **fp32},
                                                     "paths": {"voices": str(tmp / "voices")}})
    engine = Engine.load(settings, warm_up=False)
    engine.synthesize("Hello.", lang="en")
    engine.studio.prepare(background=False)  # the stock statistics before the first fit, not beside it
    ve = VoiceEncoder("cpu", verbose=False)
    transcribe = score = None
    if not args.no_asr:
        from indextts.evaluation.asr import score, transcribe

    def embed(clips: list[tuple[np.ndarray, int]]) -> np.ndarray:
        return ve.embed_speaker([preprocess_wav(a, sr) for a, sr in clips])

    def speak(voice) -> list[np.ndarray]:
        return [engine.synthesize(t, voice=voice, lang="en").audio for t in EVAL_TEXTS]

    def heard(clips: list[np.ndarray]) -> tuple[float, list[str]]:
        """(mean WER, what Whisper heard where it differs from the text)."""
        said = [transcribe(a, SAMPLE_RATE, "en") for a in clips]
        errors = [score(t, h, "en") for t, h in zip(EVAL_TEXTS, said)]
        return float(np.mean(errors)), [h for h, e in zip(said, errors) if e > 0]

    stock = engine.studio.bases  # the voices a clone may start from: the floor to beat
    stock_audio = {v: speak(v) for v in stock}
    rows, clones = [], []
    for name in voices:
        ref_clips = [sf.read(REFS / name / f"eval{i}.wav", dtype="float32") for i in range(len(EVAL_TEXTS))]
        ref_emb = embed(ref_clips)
        ref_cat = np.concatenate([soxr.resample(a, sr, SAMPLE_RATE) for a, sr in ref_clips]).astype(np.float32)
        ref_f0, ref_lt = median_f0(ref_cat, SAMPLE_RATE), ltas(ref_cat, SAMPLE_RATE)
        shutil.rmtree(tmp / "voices" / ".cache", ignore_errors=True)
        started = time.perf_counter()
        info = engine.studio.clone(REFS / name / "fit.wav", steps=args.steps)
        fit_s = time.perf_counter() - started
        clone_audio = speak(info["voice_value"])
        sims = {v: float(embed([(a, SAMPLE_RATE) for a in stock_audio[v]]) @ ref_emb) for v in stock}
        best = max(sims, key=sims.get)
        sim = float(embed([(a, SAMPLE_RATE) for a in clone_audio]) @ ref_emb)
        cat = lambda clips: np.concatenate(clips).astype(np.float32)  # noqa: E731
        clone_f0, best_f0 = median_f0(cat(clone_audio), SAMPLE_RATE), median_f0(cat(stock_audio[best]), SAMPLE_RATE)
        row = {"voice": name, "engine": voices[name][0], "similarity": sim, "best_stock": best,
               "best_stock_similarity": sims[best], "base_voice": info["base_voice"],
               "ref_f0_hz": ref_f0, "clone_f0_hz": clone_f0,
               "pitch_diff_st": 12 * np.log2(clone_f0 / ref_f0), "stock_pitch_diff_st": 12 * np.log2(best_f0 / ref_f0),
               "ltas_db": float(np.sqrt(np.mean((ltas(cat(clone_audio), SAMPLE_RATE) - ref_lt) ** 2))),
               "stock_ltas_db": float(np.sqrt(np.mean((ltas(cat(stock_audio[best]), SAMPLE_RATE) - ref_lt) ** 2))),
               "fit_s": fit_s, "steps": info["steps"]}
        rows.append(row)
        clones.append(clone_audio)
        print(json.dumps(row), flush=True)
    # Transcribe only after every fit: Whisper running just before a fit slowed it by ~5 s (its threads
    # compete with torch's on 2 cores), which no user of the app pays.
    stock_wer = {}
    if transcribe:
        stock_wer = {v: heard(stock_audio[v])[0] for v in stock}
        for row, clone_audio in zip(rows, clones):
            row["wer"], row["misheard"] = heard(clone_audio)
    out = BENCH / "out" / f"cloning-{args.set}{'-fp32' if args.fp32 else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"stock_wer": stock_wer, "rows": rows, "threads": 2,
               "date": time.strftime("%Y-%m-%d %H:%M"), "steps": rows[0]["steps"] if rows else None}
    out.write_text(json.dumps(summary, indent=2))
    print_table(summary)
    shutil.rmtree(tmp, ignore_errors=True)


def print_table(summary: dict) -> None:
    rows = summary["rows"]
    stock_wer = float(np.mean(list(summary["stock_wer"].values()))) if summary["stock_wer"] else float("nan")
    print("| voice | engine | similarity | best stock (sim) | pitch diff st (stock) | LTAS dB (stock) "
          "| WER % | fit s |")
    print("|---|---|---:|---|---:|---:|---:|---:|")
    for r in rows:
        wer = f"{100 * r['wer']:.1f}" if "wer" in r else "-"
        print(f"| {r['voice']} | {r['engine']} | **{r['similarity']:.3f}** | {r['best_stock']} "
              f"({r['best_stock_similarity']:.3f}) | {r['pitch_diff_st']:+.2f} ({r['stock_pitch_diff_st']:+.2f}) "
              f"| {r['ltas_db']:.2f} ({r['stock_ltas_db']:.2f}) | {wer} | {r['fit_s']:.1f} |")
    m = lambda k: float(np.mean([r[k] for r in rows]))  # noqa: E731
    mabs = lambda k: float(np.mean([abs(r[k]) for r in rows]))  # noqa: E731
    wer = m("wer") if rows and "wer" in rows[0] else float("nan")
    print(f"| **mean** | | **{m('similarity'):.3f}** | ({m('best_stock_similarity'):.3f}) "
          f"| abs {mabs('pitch_diff_st'):.2f} ({mabs('stock_pitch_diff_st'):.2f}) "
          f"| {m('ltas_db'):.2f} ({m('stock_ltas_db'):.2f}) | {100 * wer:.1f} (stock {100 * stock_wer:.1f}) "
          f"| {m('fit_s'):.1f} |")
    print()
    within = sum(abs(r["pitch_diff_st"]) <= TARGET_ST for r in rows)
    print(f"targets: mean similarity >= {TARGET_SIM}: {m('similarity') >= TARGET_SIM} ({m('similarity'):.3f}); "
          f"pitch within {TARGET_ST} st: {within}/{len(rows)} voices; "
          f"WER within +{TARGET_WER_PTS} pts of stock: {100 * (wer - stock_wer) <= TARGET_WER_PTS} "
          f"({100 * (wer - stock_wer):+.1f} pts); fit <= {TARGET_FIT_S} s: {m('fit_s') <= TARGET_FIT_S} "
          f"(mean {m('fit_s'):.1f} s, max {max(r['fit_s'] for r in rows):.1f} s)")


if __name__ == "__main__":
    main()
