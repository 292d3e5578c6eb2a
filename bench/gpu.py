"""GPU benchmark: the engine on CUDA in fp32, fp16 and bf16, side by side in one process.

Per precision (the same texts, voice and settings otherwise):
- load_s:       Engine.load with its warm-up (first compile of the Triton kernels included);
- rtf:          compute seconds / audio seconds of ``engine.synthesize`` per text (median of --runs);
- first_audio_s: time until ``engine.stream`` yields its first segment (a request's first audio);
- memory:       GPU memory allocated after load, and the peak while synthesizing (torch.cuda);
- durations:    share of phoneme durations (frames per token) identical to fp32's, and the log-mel
                distance to fp32's audio (how far reduced precision moves the sound);
- with --asr:   Whisper base WER (English) / CER (Mandarin) on the hard sentences (bench/sentences.py),
                the intelligibility check for reduced precision (target: within +1 point of fp32).

Usage:
  python bench/gpu.py [--device cuda] [--precisions fp32 fp16 bf16] [--runs 3] [--asr] [--out bench/out]
  python bench/gpu.py --device cpu --precisions fp32 --runs 1      # a smoke run without a GPU
Prints a table and writes <out>/gpu-<device>.json. Target (issue: GPU path): RTF <= 0.02 on long texts.
"""
from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

from speed import TEXTS  # noqa: E402  (the same texts as the CPU speed benchmark)

from indextts.model_facts import SAMPLE_RATE  # noqa: E402

VOICE = "jm_kumo"


def _log_mel(audio: np.ndarray) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=SAMPLE_RATE, n_fft=1024, hop_length=256, n_mels=80)
    return np.log(np.maximum(mel, 1e-5))


def mel_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |log-mel difference| over the common length (0 = the same spectrum)."""
    ma, mb = _log_mel(a), _log_mel(b)
    n = min(ma.shape[1], mb.shape[1])
    return float(np.abs(ma[:, :n] - mb[:, :n]).mean())


def _gpu_mb(fn_name: str) -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return getattr(torch.cuda, fn_name)() / 2**20


def measure(device: str, precision: str, runs: int, reference: dict | None, with_asr: bool) -> dict:
    import torch

    from indextts.config import Settings
    from indextts.engine import Engine

    settings = Settings.load(overrides={"engine": {"device": device, "precision": precision}})
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    engine = Engine.load(settings, warm_up=True)
    load_s = time.perf_counter() - t0
    row: dict = {"precision": engine.precision, "device": engine.device, "load_s": round(load_s, 2),
                 "allocated_after_load_mb": _gpu_mb("memory_allocated"), "texts": {}}
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    frames_same = frames_all = 0
    distances = []
    for name, (lang, text) in TEXTS.items():
        rtfs, first = [], []
        result = None
        for _ in range(runs):
            t0 = time.perf_counter()
            stream = engine.stream(text, voice=VOICE, lang=lang,
                                   first_max_tokens=settings.engine.stream_first_tokens or None)
            next(stream)
            first.append(time.perf_counter() - t0)
            for _ in stream:
                pass
            result = engine.synthesize(text, voice=VOICE, lang=lang)
            rtfs.append(result.rtf)
        frames = [seg.prosody.frames.tolist() for seg in result.segments]
        entry = {"rtf": round(statistics.median(rtfs), 4), "first_audio_s": round(statistics.median(first), 3),
                 "audio_s": round(result.duration_s, 2)}
        if reference is not None:
            ref = reference["texts"][name]
            for mine, theirs in zip(frames, ref["frames"]):
                frames_all += len(theirs)
                frames_same += sum(int(x == y) for x, y in zip(mine, theirs))
            distances.append(mel_distance(result.audio, ref["audio"]))
        entry["frames"], entry["audio"] = frames, result.audio
        row["texts"][name] = entry
    row["peak_mb"] = _gpu_mb("max_memory_allocated")
    row["durations_same"] = round(frames_same / frames_all, 4) if frames_all else None
    row["mel_l1_vs_fp32"] = round(statistics.fmean(distances), 4) if distances else None
    if with_asr:
        row["asr"] = intelligibility(engine)
    del engine
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return row


def intelligibility(engine) -> dict:
    """Mean WER (en) / CER (zh) over the hard sentences, and what Whisper misheard."""
    from indextts.evaluation import asr
    from sentences import select

    asr.load_model()
    out: dict = {}
    for lang in ("en", "zh"):
        errs, misheard = [], []
        for s in select((lang,), ("hard",)):
            result = engine.synthesize(s.text, voice=VOICE, lang="auto")
            hyp = asr.transcribe(result.audio, result.sample_rate, lang)
            err = asr.score(s.ref, hyp, lang)
            errs.append(err)
            if err:
                misheard.append({"id": s.id, "error": round(err, 4), "hyp": hyp})
        out[lang] = {"metric": "WER" if lang == "en" else "CER", "mean": round(statistics.fmean(errs), 4),
                     "misheard": misheard}
    return out


def print_table(rows: list[dict]) -> None:
    names = list(TEXTS)
    print("\n| precision | load s | " + " | ".join(f"{n} RTF" for n in names) + " | first audio s (en-long) | "
          "GPU MB after load | peak MB | durations = fp32 | log-mel L1 vs fp32 | ASR en / zh |")
    print("|---|---:|" + "---:|" * len(names) + "---:|---:|---:|---:|---:|---|")
    for r in rows:
        asr_cell = (f"{r['asr']['en']['mean'] * 100:.1f} % / {r['asr']['zh']['mean'] * 100:.1f} %"
                    if "asr" in r else "-")
        rtfs = " | ".join(f"{r['texts'][n]['rtf']:.4f}" for n in names)
        fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
        print(f"| {r['precision']} | {r['load_s']:.1f} | {rtfs} | {r['texts']['en-long']['first_audio_s']:.3f} | "
              f"{fmt(r['allocated_after_load_mb'], '.0f')} | {fmt(r['peak_mb'], '.0f')} | "
              f"{fmt(r['durations_same'], '.2%')} | {fmt(r['mel_l1_vs_fp32'], '.3f')} | {asr_cell} |")


def main() -> None:
    ap = argparse.ArgumentParser(description="engine speed, memory and fidelity per precision on a GPU")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "fp16", "bf16"], choices=["fp32", "fp16", "bf16"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--asr", action="store_true", help="also transcribe the hard sentences (Whisper base, CPU)")
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    a = ap.parse_args()
    import torch

    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible to PyTorch (torch.cuda.is_available() is False); "
                         "use --device cpu for a smoke run")
    precisions = list(dict.fromkeys(["fp32", *a.precisions]))  # fp32 first: the reference for the others
    rows, reference = [], None
    for precision in precisions:
        print(f"-- {precision}", flush=True)
        row = measure(a.device, precision, a.runs, reference, a.asr)
        reference = reference or row
        rows.append(row)
    print_table(rows)
    for row in rows:
        for entry in row["texts"].values():
            entry.pop("audio"), entry.pop("frames")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
            "machine": platform.machine(), "gpu": gpu, "torch": torch.__version__, "voice": VOICE}
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / f"gpu-{a.device}.json"
    path.write_text(json.dumps({"meta": meta, "rows": rows}, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
