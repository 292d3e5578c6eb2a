"""Intelligibility benchmark: synthesize every sentence, transcribe with Whisper base, score WER/CER.

Systems:
- engine: the project's PyTorch engine (`indextts.engine.Engine`), with its text frontend.
- onnx:   the Kokoro int8 ONNX runtime fed by the raw G2P (bench/onnx_baseline.py).

Usage:
  python bench/intelligibility.py [--system engine|onnx|both] [--voice jm_kumo] [--out bench/out]
                                  [--lang en zh] [--set plain hard] [--ids en-h1 zh-h3] [--save-audio]
  python bench/intelligibility.py --rescore bench/out/intelligibility-both-jm_kumo.json
Prints one row per sentence and system, then means per language and set, and writes
<out>/intelligibility-<system>-<voice>.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

from indextts.evaluation import asr  # noqa: E402
from sentences import Sentence, select  # noqa: E402


class System:
    """A text -> (audio, sample_rate, phonemes) callable with a name."""

    name = ""

    def synthesize(self, text: str, voice: str, lang: str) -> tuple[np.ndarray, int, str]:
        raise NotImplementedError


class OnnxSystem(System):
    name = "onnx"

    def __init__(self):
        from onnx_baseline import OnnxKokoro

        self.tts = OnnxKokoro(threads=2)

    def synthesize(self, text, voice, lang):
        audio, sr, ph = self.tts.synthesize(text, voice=voice, speed=1.0, lang="auto")
        return audio, sr, ph


class EngineSystem(System):
    name = "engine"

    def __init__(self):
        try:
            from indextts.engine import Engine
        except ImportError as exc:
            raise SystemExit(
                f"engine system unavailable ({exc}); indextts/engine.py is not ready yet: use --system onnx"
            ) from exc
        import torch

        torch.set_num_threads(2)
        self.engine = Engine.load()

    def synthesize(self, text, voice, lang):
        r = self.engine.synthesize(text, voice=voice, speed=1.0, lang="auto")
        ph = " | ".join(str(getattr(s, "phonemes", "")) for s in (getattr(r, "segments", None) or []))
        return np.asarray(r.audio, np.float32).ravel(), int(r.sample_rate), ph


SYSTEMS = {"onnx": OnnxSystem, "engine": EngineSystem}


def run_system(system: System, sentences: list[Sentence], voice: str, audio_dir: Path | None) -> list[dict]:
    rows = []
    for s in sentences:
        t0 = time.perf_counter()
        audio, sr, ph = system.synthesize(s.text, voice, s.lang)
        t1 = time.perf_counter()
        hyp = asr.transcribe(audio, sr, s.lang)
        t2 = time.perf_counter()
        err = asr.score(s.ref, hyp, s.lang)
        if audio_dir is not None:
            import soundfile as sf

            audio_dir.mkdir(parents=True, exist_ok=True)
            sf.write(audio_dir / f"{system.name}-{voice}-{s.id}.wav", audio, sr)
        row = {
            **asdict(s), "system": system.name, "voice": voice, "metric": "WER" if s.lang == "en" else "CER",
            "error": round(err, 4), "hyp": hyp, "phonemes": ph, "audio_s": round(len(audio) / sr, 3),
            "synth_s": round(t1 - t0, 3), "asr_s": round(t2 - t1, 3),
        }
        rows.append(row)
        print(f"{s.id:7} {s.lang:3} {s.set:6} {system.name:7} {row['metric']} {err * 100:6.1f}%  {hyp}", flush=True)
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    out = []
    keys = sorted({(r["system"], r["lang"], r["set"]) for r in rows}, key=lambda k: (k[0], k[1], k[2] != "plain"))
    for system, lang, set_ in keys:
        errs = [r["error"] for r in rows if (r["system"], r["lang"], r["set"]) == (system, lang, set_)]
        out.append({"system": system, "lang": lang, "set": set_, "metric": "WER" if lang == "en" else "CER",
                    "n": len(errs), "mean": round(statistics.fmean(errs), 4),
                    "n_perfect": sum(e == 0 for e in errs)})
    return out


def print_summary(summary: list[dict]) -> None:
    print("\n| system | lang | set | metric | n | mean | sentences at 0 |")
    print("|---|---|---|---|---:|---:|---:|")
    for s in summary:
        print(f"| {s['system']} | {s['lang']} | {s['set']} | {s['metric']} | {s['n']} | "
              f"{s['mean'] * 100:.1f} % | {s['n_perfect']}/{s['n']} |")


def rescore(path: Path) -> None:
    """Re-score stored transcripts against the current references and normalisation; rewrite the JSON."""
    data = json.loads(path.read_text(encoding="utf-8"))
    refs = {s.id: s.ref for s in select()}
    for r in data["rows"]:
        r["ref"] = refs.get(r["id"], r["ref"])
        r["error"] = round(asr.score(r["ref"], r["hyp"], r["lang"]), 4)
        print(f"{r['id']:7} {r['lang']:3} {r['set']:6} {r['system']:7} {r['metric']} {r['error'] * 100:6.1f}%  {r['hyp']}")
    data["summary"] = summarize(data["rows"])
    data["meta"]["rescored"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    print_summary(data["summary"])
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"rewrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description="ASR round-trip intelligibility benchmark")
    ap.add_argument("--system", default="both", choices=["engine", "onnx", "both"])
    ap.add_argument("--voice", default="jm_kumo")
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    ap.add_argument("--lang", nargs="+", default=["en", "zh"], choices=["en", "zh"])
    ap.add_argument("--set", nargs="+", default=["plain", "hard"], choices=["plain", "hard"])
    ap.add_argument("--ids", nargs="+", help="only these sentence ids")
    ap.add_argument("--save-audio", action="store_true", help="write each WAV under <out>/audio/")
    ap.add_argument("--rescore", type=Path, metavar="JSON",
                    help="recompute scores of a results JSON from its stored transcripts (after a scoring change)")
    a = ap.parse_args()
    if a.rescore:
        rescore(a.rescore)
        return

    sentences = select(tuple(a.lang), tuple(a.set))
    if a.ids:
        sentences = [s for s in sentences if s.id in set(a.ids)]
    names = ["engine", "onnx"] if a.system == "both" else [a.system]
    t_start = time.perf_counter()
    asr.load_model()
    rows = []
    load_s = {}
    for name in names:
        t0 = time.perf_counter()
        system = SYSTEMS[name]()
        load_s[name] = round(time.perf_counter() - t0, 2)
        rows += run_system(system, sentences, a.voice, a.out / "audio" if a.save_audio else None)
        del system
    summary = summarize(rows)
    print_summary(summary)
    total = time.perf_counter() - t_start
    print(f"\n{len(rows)} items in {total:.0f} s")

    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / f"intelligibility-{a.system}-{a.voice}.json"
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
            "machine": f"{platform.machine()} {platform.processor() or ''} ".strip(), "voice": a.voice,
            "asr": "faster-whisper Whisper base int8, beam 5, no VAD", "load_s": load_s, "total_s": round(total, 1)}
    path.write_text(json.dumps({"meta": meta, "summary": summary, "rows": rows}, ensure_ascii=False, indent=1),
                    encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
