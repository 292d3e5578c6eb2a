"""English inside Chinese: is the English term of a Chinese sentence heard as that term?

Each sentence of bench/data/zh_english_terms.tsv (40 Chinese sentences, one brand name, programming
language or acronym each) is synthesized by the engine in process with the default Mandarin voice and
``lang="auto"``, transcribed by Whisper base in Chinese mode (indextts.evaluation.asr), and counted as
heard when the transcript contains the term or one of its listed spellings. The Chinese around the term is
scored too: ``zh_cer``, the character error rate over the Han characters only (the term left out of both
sides), so a change that makes the term English must not blur the Chinese. Matching ignores case,
spaces, hyphens, dots and underscores ("Chat GPT" == "ChatGPT", "Wi-Fi" == "WiFi", "G.P.U." == "GPU").
A term Whisper writes in Chinese characters (派森 for Python) or as other Latin syllables is not heard.

A second judge, ``span_heard``: the term's own stretch of audio (its words' times from the engine's word
timings, 0.1 s either side) transcribed by the same Whisper in English mode. It asks "is this word said as
English?" without Whisper base's Chinese-mode habit of writing what it hears in Chinese characters.

``--reference VOICE`` measures what the judges can give at all: each sentence is cut at the term, the Chinese
parts said by the Mandarin voice and the term said alone, in English, by VOICE (an English voice: what a
native speaker of the model would say), joined with 30 ms gaps. ``--carrier`` checks that VOICE says the
terms right in the first place: "I use TERM every day." in English mode, judged in English mode.

Usage:
  python bench/zh_english.py [--voice zf_xiaobei] [--blend 0.5] [--ids ze01 ze02] [--out bench/out] [--save-audio]
                             [--seam] [--reference af_heart [--carrier]]
  python bench/zh_english.py --rescore bench/out/zh_english.json
Prints one row per sentence and the heard rate; writes <out>/zh_english.json.

``--seam`` also measures the audio where the English run starts and ends (where a blended style switches):
``seam_jump``, the largest sample-to-sample step within 25 ms of a switch over the clip's 99.9th percentile
step, and ``seam_flux_pct``, the percentile (among all of the clip's 10 ms frames) of the largest spectral
flux within 20 ms of a switch. A click is a step far above the clip's (jump >> 1) and the clip's top flux
(~100); compare with ``--blend 0``, where the same places are plain phoneme boundaries.
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


def han_cer(ref: str, hyp: str) -> float:
    """Character error rate over the Han characters only (Latin and digit runs dropped from both sides)."""
    han = lambda text: " ".join(u for u in asr.zh_units(text) if not u.isascii())  # noqa: E731
    return asr.cer(han(ref), han(hyp))


SEAM_JUMP_S, SEAM_FLUX_S = 0.025, 0.02


def switch_samples(engine, text: str, result) -> list[int]:
    """Sample positions in ``result.audio`` where the English runs start and end (the first frame of the run's
    first token and of the token after it); only for a sentence rendered as one segment (no pauses to place)."""
    from indextts.model import SAMPLE_RATE

    segments = engine.segments(text, lang="auto")
    if len(segments) != 1 or len(result.segments) != 1:
        return []
    rendered = result.segments[0]
    starts = np.concatenate([[0], np.cumsum(rendered.prosody.frames.numpy())]) * 600
    trim = round(rendered.trim_start_s * SAMPLE_RATE)
    out = []
    for a, b in segments[0].english_runs:  # token indices without the boundary token: +1 in the model input
        out += [int(starts[a + 1]) - trim, int(starts[b + 1]) - trim]
    return [n for n in out if 0 < n < len(result.audio)]


def seam_metrics(audio: np.ndarray, switches: list[int], rate: int = 24000) -> dict:
    """How a click would show at the ``switches`` (see the module docstring); {} without switches."""
    if not switches:
        return {}
    steps = np.abs(np.diff(audio))
    near = lambda n, half: steps[max(0, n - half): n + half]  # noqa: E731
    jump = max(float(near(n, int(SEAM_JUMP_S * rate)).max()) for n in switches) / float(np.percentile(steps, 99.9))
    hop, win = rate // 100, rate // 50
    frames = np.lib.stride_tricks.sliding_window_view(audio, win)[::hop] * np.hanning(win)
    mag = np.log1p(np.abs(np.fft.rfft(frames, axis=1)) * 100)
    flux = np.concatenate([[0.0], np.clip(np.diff(mag, axis=0), 0, None).sum(axis=1)])
    centre = lambda n: (n - win // 2) // hop  # noqa: E731
    reach = int(SEAM_FLUX_S * rate) // hop
    top = max(float(flux[max(0, centre(n) - reach): centre(n) + reach + 1].max()) for n in switches)
    return {"seam_jump": round(jump, 3), "seam_flux_pct": round(float((flux < top).mean() * 100), 1)}


SPAN_PAD_S = 0.1


def term_span_s(engine, text: str, voice: str, result) -> tuple[float, float]:
    """Where the Latin words of ``result`` (the engine's clip of ``text``) start and end, from its word timings."""
    from indextts.request import SynthesisRequest
    from indextts.timing import synthesis_timing

    request = SynthesisRequest.of(text, voice=voice, lang="auto")
    latin = [w for w in synthesis_timing(engine, request, result).words if re.search(r"[A-Za-z]", w.text)]
    return (latin[0].start_s, latin[-1].end_s) if latin else (0.0, len(result.audio) / result.sample_rate)


def spliced(engine, item: TermSentence, voice: str | None, reference: str) -> tuple[np.ndarray, tuple[float, float]]:
    """The reference clip (module docstring): Chinese by ``voice``, the term alone in English by ``reference``."""
    rate = 24000
    say = lambda text, v, lang: np.asarray(engine.synthesize(text, voice=v, lang=lang).audio, np.float32).ravel()  # noqa: E731
    gap = np.zeros(int(0.03 * rate), np.float32)
    left, right = item.text.split(item.term, 1)
    head = [say(left, voice, "zh"), gap] if left else []
    term = say(item.term, reference, "en")
    tail = [gap, say(right, voice, "zh")] if right.strip("。，！？") else []
    start = sum(map(len, head))
    return np.concatenate([*head, term, *tail]), (start / rate, (start + len(term)) / rate)


def span_transcript(audio: np.ndarray, rate: int, span_s: tuple[float, float]) -> str:
    """The second judge: the term's stretch (+- SPAN_PAD_S) transcribed in English mode."""
    a, b = max(0, int((span_s[0] - SPAN_PAD_S) * rate)), int((span_s[1] + SPAN_PAD_S) * rate)
    return asr.transcribe(audio[a:b], rate, "en")


def carrier(items: list[TermSentence], reference: str) -> list[dict]:
    """``--carrier``: does ``reference`` say each term right in an English sentence (English mode)?"""
    engine = _engine(None)
    rows = []
    for item in items:
        result = engine.synthesize(f"I use {item.term} every day.", voice=reference, lang="en")
        hyp = asr.transcribe(np.asarray(result.audio, np.float32).ravel(), result.sample_rate, "en")
        rows.append({"id": item.id, "term": item.term, "heard": heard(item, hyp), "hyp": hyp})
        print(f"{item.id} {'heard' if rows[-1]['heard'] else 'MISSED':6} {item.term:12} {hyp}", flush=True)
    return rows


def _engine(blend: float | None):
    import torch

    from indextts.config import Settings
    from indextts.engine import Engine

    torch.set_num_threads(2)
    overrides = {} if blend is None else {"engine": {"english_in_chinese_blend": blend}}
    return Engine.load(Settings.load(overrides=overrides), warm_up=False)


def run(items: list[TermSentence], voice: str | None, audio_dir: Path | None, blend: float | None = None,
        seam: bool = False, reference: str | None = None) -> list[dict]:
    engine = _engine(blend)
    voice = voice or engine.default_voice(lang="zh")
    rows = []
    for item in items:
        t0 = time.perf_counter()
        if reference:
            audio, span_s = spliced(engine, item, voice, reference)
            result = None
        else:
            result = engine.synthesize(item.text, voice=voice, lang="auto")
            audio = np.asarray(result.audio, np.float32).ravel()
            span_s = term_span_s(engine, item.text, voice, result)
        t1 = time.perf_counter()
        hyp = asr.transcribe(audio, 24000, "zh")
        span_hyp = span_transcript(audio, 24000, span_s)
        if audio_dir is not None:
            import soundfile as sf

            audio_dir.mkdir(parents=True, exist_ok=True)
            sf.write(audio_dir / f"zh_english-{item.id}.wav", audio, 24000)
        ok = heard(item, hyp)
        seams = seam_metrics(audio, switch_samples(engine, item.text, result)) if seam and result else {}
        rows.append({**asdict(item), "heard": ok, "hyp": hyp, "zh_cer": round(han_cer(item.text, hyp), 4), **seams,
                     "span_heard": heard(item, span_hyp), "span_hyp": span_hyp,
                     "phonemes": " | ".join(s.phonemes for s in engine.frontend.segments(item.text, "auto")),
                     "synth_s": round(t1 - t0, 2), "asr_s": round(time.perf_counter() - t1, 2)})
        print(f"{item.id} {'heard' if ok else 'MISSED':6} {'span' if rows[-1]['span_heard'] else '-':4} "
              f"{item.term:12} {hyp} | {span_hyp}", flush=True)
    return rows


def summary(rows: list[dict]) -> dict:
    n_heard = sum(r["heard"] for r in rows)
    return {"n": len(rows), "heard": n_heard, "rate": round(n_heard / len(rows), 3) if rows else 0.0,
            **({"span_heard": sum(r["span_heard"] for r in rows)} if any("span_heard" in r for r in rows) else {}),
            "zh_cer": round(float(np.mean([r["zh_cer"] for r in rows])), 4) if rows else 0.0,
            **({"seam_jump_max": max(r["seam_jump"] for r in rows if "seam_jump" in r),
                "seam_jump_median": float(np.median([r["seam_jump"] for r in rows if "seam_jump" in r])),
                "seam_flux_pct_median": float(np.median([r["seam_flux_pct"] for r in rows if "seam_flux_pct" in r]))}
               if any("seam_jump" in r for r in rows) else {}),
            "missed": [r["term"] for r in rows if not r["heard"]]}


def print_summary(s: dict) -> None:
    print(f"\nheard {s['heard']}/{s['n']} ({s['rate'] * 100:.1f} %); Chinese CER {s['zh_cer'] * 100:.1f} %; "
          f"missed: {', '.join(s['missed']) or '-'}")
    if "span_heard" in s:
        print(f"term's span in English mode: heard {s['span_heard']}/{s['n']}")
    if "seam_jump_max" in s:
        print(f"seams: jump max {s['seam_jump_max']:.2f}, median {s['seam_jump_median']:.2f}; "
              f"flux percentile median {s['seam_flux_pct_median']:.1f}")


def rescore(path: Path) -> None:
    """Re-check stored transcripts against the current set and matching rule; rewrite the JSON."""
    data = json.loads(path.read_text(encoding="utf-8"))
    items = {t.id: t for t in load_terms()}
    for r in data["rows"]:
        item = items.get(r["id"])
        if item is not None:
            r.update(asdict(item), heard=heard(item, r["hyp"]), zh_cer=round(han_cer(item.text, r["hyp"]), 4))
    data["summary"] = summary(data["rows"])
    print_summary(data["summary"])
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description="English terms inside Chinese: heard by Whisper?")
    ap.add_argument("--voice", default=None, help="voice name (default: the engine's Mandarin default)")
    ap.add_argument("--blend", type=float, default=None,
                    help="engine.english_in_chinese_blend for this run (default: the config's; 0 = off)")
    ap.add_argument("--seam", action="store_true", help="measure the audio at the English runs' edges")
    ap.add_argument("--ids", nargs="+", help="only these sentence ids")
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    ap.add_argument("--save-audio", action="store_true", help="write each WAV under <out>/audio/")
    ap.add_argument("--rescore", type=Path, metavar="JSON", help="re-check a results JSON's stored transcripts")
    ap.add_argument("--reference", metavar="VOICE",
                    help="the judges' ceiling: the term said alone in English by VOICE, spliced into the Chinese")
    ap.add_argument("--carrier", action="store_true", help="with --reference: VOICE says each term in English")
    a = ap.parse_args()
    if a.rescore:
        rescore(a.rescore)
        return
    items = load_terms()
    if a.ids:
        items = [t for t in items if t.id in set(a.ids)]
    started = time.perf_counter()
    asr.load_model()
    if a.carrier:
        rows = carrier(items, a.reference or "af_heart")
        print(f"\n{a.reference or 'af_heart'} in an English sentence, English mode: heard "
              f"{sum(r['heard'] for r in rows)}/{len(rows)}")
        return
    rows = run(items, a.voice, a.out / "audio" if a.save_audio else None, a.blend, a.seam, a.reference)
    s = summary(rows)
    print_summary(s)
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / (f"zh_english-reference-{a.reference}.json" if a.reference else "zh_english.json")
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
            "machine": platform.machine(), "voice": a.voice or "engine default (zh)",
            "english_in_chinese_blend": "config default" if a.blend is None else a.blend, "reference": a.reference,
            "asr": "faster-whisper Whisper base int8, beam 5, language zh (span judge: en)", "total_s": round(time.perf_counter() - started, 1)}
    path.write_text(json.dumps({"meta": meta, "summary": s, "rows": rows}, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
