"""English inside Chinese: is the English term of a Chinese sentence heard as that term?

Each sentence of bench/data/zh_english_terms.tsv (40 Chinese sentences, one brand name, programming
language or acronym each) is synthesized by the engine in process with the default Mandarin voice and
``lang="auto"``, transcribed by Whisper base in Chinese mode (indextts.evaluation.asr), and counted as
heard when the transcript contains the term or one of its listed spellings. Matching ignores case,
spaces, hyphens, dots and underscores ("Chat GPT" == "ChatGPT", "Wi-Fi" == "WiFi", "G.P.U." == "GPU").
A term Whisper writes in Chinese characters (派森 for Python) or as other Latin syllables is not heard.

Usage:
  python bench/zh_english.py [--voice zf_xiaobei] [--ids ze01 ze02] [--out bench/out] [--save-audio]
  python bench/zh_english.py --rescore bench/out/zh_english.json
Prints one row per sentence and the heard rate; writes <out>/zh_english.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from indextts.evaluation import asr  # noqa: E402

TERMS_TSV = BENCH / "data" / "zh_english_terms.tsv"
_IGNORED_RE = re.compile(r"[\s\-._·]+")


@dataclass(frozen=True)
class TermSentence:
    id: str
    term: str
    variants: tuple[str, ...]  # other accepted spellings
    text: str


def load_terms(path: Path = TERMS_TSV) -> list[TermSentence]:
    """The test set: rows of id, term, variants ("|"-separated), text; "#" lines are comments."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t")
        return [TermSentence(r["id"], r["term"], tuple(v for v in r["variants"].split("|") if v), r["text"])
                for r in rows]


def _folded(text: str) -> str:
    return _IGNORED_RE.sub("", text).casefold()


def heard(item: TermSentence, transcript: str) -> bool:
    """Whether the transcript contains the term or a listed spelling (case, spaces, hyphens, dots ignored)."""
    hyp = _folded(transcript)
    return any(_folded(spelling) in hyp for spelling in (item.term, *item.variants))


def run(items: list[TermSentence], voice: str | None, audio_dir: Path | None) -> list[dict]:
    import torch

    from indextts.engine import Engine

    torch.set_num_threads(2)
    engine = Engine.load(warm_up=False)
    rows = []
    for item in items:
        t0 = time.perf_counter()
        result = engine.synthesize(item.text, voice=voice, lang="auto")
        audio = np.asarray(result.audio, np.float32).ravel()
        t1 = time.perf_counter()
        hyp = asr.transcribe(audio, result.sample_rate, "zh")
        if audio_dir is not None:
            import soundfile as sf

            audio_dir.mkdir(parents=True, exist_ok=True)
            sf.write(audio_dir / f"zh_english-{item.id}.wav", audio, result.sample_rate)
        ok = heard(item, hyp)
        rows.append({**asdict(item), "heard": ok, "hyp": hyp,
                     "phonemes": " | ".join(s.phonemes for s in engine.frontend.segments(item.text, "auto")),
                     "synth_s": round(t1 - t0, 2), "asr_s": round(time.perf_counter() - t1, 2)})
        print(f"{item.id} {'heard' if ok else 'MISSED':6} {item.term:12} {hyp}", flush=True)
    return rows


def summary(rows: list[dict]) -> dict:
    n_heard = sum(r["heard"] for r in rows)
    return {"n": len(rows), "heard": n_heard, "rate": round(n_heard / len(rows), 3) if rows else 0.0,
            "missed": [r["term"] for r in rows if not r["heard"]]}


def print_summary(s: dict) -> None:
    print(f"\nheard {s['heard']}/{s['n']} ({s['rate'] * 100:.1f} %); missed: {', '.join(s['missed']) or '-'}")


def rescore(path: Path) -> None:
    """Re-check stored transcripts against the current set and matching rule; rewrite the JSON."""
    data = json.loads(path.read_text(encoding="utf-8"))
    items = {t.id: t for t in load_terms()}
    for r in data["rows"]:
        item = items.get(r["id"])
        if item is not None:
            r.update(asdict(item), heard=heard(item, r["hyp"]))
    data["summary"] = summary(data["rows"])
    print_summary(data["summary"])
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description="English terms inside Chinese: heard by Whisper?")
    ap.add_argument("--voice", default=None, help="voice name (default: the engine's Mandarin default)")
    ap.add_argument("--ids", nargs="+", help="only these sentence ids")
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    ap.add_argument("--save-audio", action="store_true", help="write each WAV under <out>/audio/")
    ap.add_argument("--rescore", type=Path, metavar="JSON", help="re-check a results JSON's stored transcripts")
    a = ap.parse_args()
    if a.rescore:
        rescore(a.rescore)
        return
    items = load_terms()
    if a.ids:
        items = [t for t in items if t.id in set(a.ids)]
    started = time.perf_counter()
    asr.load_model()
    rows = run(items, a.voice, a.out / "audio" if a.save_audio else None)
    s = summary(rows)
    print_summary(s)
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / "zh_english.json"
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
            "machine": platform.machine(), "voice": a.voice or "engine default (zh)",
            "asr": "faster-whisper Whisper base int8, beam 5, language zh", "total_s": round(time.perf_counter() - started, 1)}
    path.write_text(json.dumps({"meta": meta, "summary": s, "rows": rows}, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
