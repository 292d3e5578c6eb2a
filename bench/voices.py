"""Per-voice intelligibility: every English voice reads the English sentences, every Mandarin voice the
Mandarin ones, through the engine (its frontend included), scored by Whisper base (indextts/evaluation/asr.py).

Usage:
  python bench/voices.py [--lang en zh] [--set hard] [--voices af_heart zf_xiaobei] [--out bench/out]
  python bench/voices.py --rescore bench/out/voices-hard.json      # after a scoring fix (stored transcripts)
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

from indextts.evaluation import asr  # noqa: E402
from sentences import select  # noqa: E402

REFERENCE_VOICE = "jm_kumo"
PREFIXES = {"en": ("af_", "am_", "bf_", "bm_"), "zh": ("zf_", "zm_")}


def voices_for(lang: str, names: list[str], only: list[str] | None) -> list[str]:
    chosen = [n for n in names if n.startswith(PREFIXES[lang])] + [REFERENCE_VOICE]
    return [n for n in chosen if only is None or n in only]


def summarize(row: dict) -> None:
    """Mean error, sentences heard perfectly and what was misheard, from the row's transcripts."""
    errors = [h["error"] for h in row["heard"]]
    row.update(n=len(errors), mean=round(statistics.fmean(errors), 4), perfect=sum(e == 0 for e in errors),
               misheard=[h for h in row["heard"] if h["error"]])


def print_table(rows: list[dict]) -> None:
    print("\n| voice | lang | metric | mean | sentences heard perfectly |")
    print("|---|---|---|---:|---:|")
    for r in sorted(rows, key=lambda r: (r["lang"], r["mean"], r["voice"])):
        print(f"| {r['voice']} | {r['lang']} | {r['metric']} | {r['mean'] * 100:.1f} % | {r['perfect']}/{r['n']} |")


def rescore(path: Path) -> None:
    """Score the stored transcripts again against the current references and normalisation. Runs from
    before every transcript was kept stored only the misheard ones; the others scored 0, which a scoring
    fix cannot change (the references hold no digits)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    refs = {s.id: s.ref for s in select()}
    for row in data["rows"]:
        if "heard" not in row:
            kept = {h["id"]: h for h in row["misheard"]}
            row["heard"] = [kept.get(i, {"id": i, "error": 0.0, "hyp": None})
                            for i in [f"{row['lang']}-h{k}" for k in range(1, row["n"] + 1)]]
        for h in row["heard"]:
            if h["hyp"] is not None:
                h["error"] = round(asr.score(refs[h["id"]], h["hyp"], row["lang"]), 4)
        summarize(row)
    data["meta"]["rescored"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    print_table(data["rows"])
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"rewrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description="intelligibility of every native voice (Whisper base)")
    ap.add_argument("--lang", nargs="+", default=["en", "zh"], choices=["en", "zh"])
    ap.add_argument("--set", nargs="+", default=["hard"], choices=["plain", "hard"])
    ap.add_argument("--voices", nargs="+", help="only these voices")
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    ap.add_argument("--rescore", type=Path, metavar="JSON", help="score a results file's transcripts again")
    a = ap.parse_args()
    if a.rescore:
        rescore(a.rescore)
        return

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
            heard = []
            for s in sentences:
                result = engine.synthesize(s.text, voice=voice, lang="auto")
                hyp = asr.transcribe(result.audio, result.sample_rate, lang)
                heard.append({"id": s.id, "error": round(asr.score(s.ref, hyp, lang), 4), "hyp": hyp})
            row = {"voice": voice, "lang": lang, "metric": "WER" if lang == "en" else "CER", "heard": heard}
            summarize(row)
            rows.append(row)
            print(f"{voice:14} {lang} {row['metric']} {row['mean'] * 100:5.1f} %  "
                  f"perfect {row['perfect']}/{row['n']}", flush=True)
    print_table(rows)
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / f"voices-{'-'.join(a.set)}.json"
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
            "machine": platform.machine(), "asr": "faster-whisper Whisper base int8, beam 5, no VAD",
            "total_s": round(time.perf_counter() - started, 1)}
    path.write_text(json.dumps({"meta": meta, "rows": rows}, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
