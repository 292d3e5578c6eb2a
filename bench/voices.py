"""Per-voice intelligibility: every English voice reads the English sentences, every Mandarin voice the
Mandarin ones, through the engine (its frontend included), scored by Whisper base (bench/asr.py).

Usage:
  python bench/voices.py [--lang en zh] [--set hard] [--voices af_heart zf_xiaobei] [--out bench/out]
Prints one row per voice (mean WER for English, CER for Mandarin, sentences heard perfectly, what was
misheard) and writes <out>/voices-<sets>.json. jm_kumo (the voice every language used before the native
voices) is read in both languages as the reference row.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

import asr  # noqa: E402
from sentences import select  # noqa: E402

REFERENCE_VOICE = "jm_kumo"
PREFIXES = {"en": ("af_", "am_", "bf_", "bm_"), "zh": ("zf_", "zm_")}


def voices_for(lang: str, names: list[str], only: list[str] | None) -> list[str]:
    chosen = [n for n in names if n.startswith(PREFIXES[lang])] + [REFERENCE_VOICE]
    return [n for n in chosen if only is None or n in only]


def main() -> None:
    ap = argparse.ArgumentParser(description="intelligibility of every native voice (Whisper base)")
    ap.add_argument("--lang", nargs="+", default=["en", "zh"], choices=["en", "zh"])
    ap.add_argument("--set", nargs="+", default=["hard"], choices=["plain", "hard"])
    ap.add_argument("--voices", nargs="+", help="only these voices")
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    a = ap.parse_args()

    import torch

    from indextts.config import Settings
    from indextts.engine import Engine

    torch.set_num_threads(2)
    started = time.perf_counter()
    engine = Engine.load(Settings.load(), warm_up=False)  # no background statistics competing for the CPU
    engine.synthesize("Hello.", lang="en")
    asr.load_model()
    rows: list[dict] = []
    for lang in a.lang:
        sentences = select((lang,), tuple(a.set))
        for voice in voices_for(lang, engine.voices.stock_names, a.voices):
            errors, misheard = [], []
            for s in sentences:
                result = engine.synthesize(s.text, voice=voice, lang="auto")
                hyp = asr.transcribe(result.audio, result.sample_rate, lang)
                err = asr.score(s.ref, hyp, lang)
                errors.append(err)
                if err:
                    misheard.append({"id": s.id, "error": round(err, 4), "hyp": hyp})
            row = {"voice": voice, "lang": lang, "metric": "WER" if lang == "en" else "CER", "n": len(errors),
                   "mean": round(statistics.fmean(errors), 4), "perfect": sum(e == 0 for e in errors),
                   "misheard": misheard}
            rows.append(row)
            print(f"{voice:14} {lang} {row['metric']} {row['mean'] * 100:5.1f} %  "
                  f"perfect {row['perfect']}/{row['n']}", flush=True)
    print("\n| voice | lang | metric | mean | sentences heard perfectly |")
    print("|---|---|---|---:|---:|")
    for r in sorted(rows, key=lambda r: (r["lang"], r["mean"], r["voice"])):
        print(f"| {r['voice']} | {r['lang']} | {r['metric']} | {r['mean'] * 100:.1f} % | {r['perfect']}/{r['n']} |")
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / f"voices-{'-'.join(a.set)}.json"
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
            "machine": platform.machine(), "asr": "faster-whisper Whisper base int8, beam 5, no VAD",
            "total_s": round(time.perf_counter() - started, 1)}
    path.write_text(json.dumps({"meta": meta, "rows": rows}, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
