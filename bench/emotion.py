"""Emotion benchmark: how each emotion moves the OUTPUT audio, per weight and language.

For every emotion x weight (0.3, 0.6, 1.0) x sentence (3 per language), the engine speaks it with the
emotion vector {emotion: 1.0} at that weight, and the output audio is measured (never the curves
that were set) with indextts.emotion.analysis: F0 median and 5-95 % range (semitones, YIN), speech
level (dB, mean power of frames within 35 dB of the loudest), and speaking rate (neutral duration /
emotional duration of the same text, so pauses count). Each is reported relative to the neutral
rendering (no emotion) of the same sentence, then averaged over the sentences. Whisper base transcribes
every clip (WER for English, CER for Mandarin; the mean over the sentences is reported).

Checks, per emotion and language: each measure listed in the profile's ``checked`` moves in the
documented direction at every weight, and its size grows with the weight (0.3 <= 0.6 <= 1.0 in the
documented direction, with 0.1 st/dB or 1 % of slack for measurement noise); intelligibility stays within +2 points
of neutral.

Usage: python bench/emotion.py [--voice af_heart] [--weights 0.3 0.6 1.0] [--out bench/out]
Without --voice each language is spoken by its default voice (af_heart, zf_xiaobei).
About 8 minutes on an idle 2-core machine (300 syntheses + 300 transcriptions).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

from indextts.evaluation import asr  # noqa: E402

# Several sentences per language: each measure is the mean of its per-sentence change from that
# sentence's neutral rendering, so the small weight-0.3 moves rise above one sentence's noise. Six, not
# three: with three, one Mandarin character Whisper base misreads was 1.8 points of CER.
SENTENCES = {
    "en": ["The weather is lovely today, and we are going to the park with our friends.",
           "I left my keys on the kitchen table before the meeting started.",
           "Tomorrow we will drive to the coast and watch the boats come in.",
           "Please remember to water the plants while I am away this week.",
           "The children laughed when the little dog chased its own tail.",
           "She opened the window and listened to the rain on the roof."],
    "zh": ["今天天气很好，我们下午三点在公园门口见面吧。",
           "他把钥匙忘在了厨房的桌子上，只好回家去拿。",
           "明天我们开车去海边，看渔船慢慢回到港口。",
           "妈妈在厨房里做饭，爸爸在客厅看电视。",
           "这本书很有意思，我已经读了两遍了。",
           "周末我们一起去爬山，呼吸新鲜空气。"],
}
SLACK = 0.1


def measures(result) -> dict:
    from indextts.emotion.analysis import measure

    m = measure(result.audio, result.sample_rate)
    return {"f0_mean": m.f0_median_st, "f0_range": m.f0_range_st, "energy": m.energy_db,
            "duration": result.duration_s}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--voice", default=None, help="one voice for both languages (default: each language's own)")
    ap.add_argument("--weights", nargs="+", type=float, default=[0.3, 0.6, 1.0])
    ap.add_argument("--out", type=Path, default=BENCH / "out")
    a = ap.parse_args()

    import torch

    from indextts.emotion import EMOTIONS, PROFILES, spec_from_request
    from indextts.engine import Engine

    torch.set_num_threads(2)
    started = time.perf_counter()
    engine = Engine.load(warm_up=False)
    engine.synthesize("Hello.", lang="en")
    asr.load_model()
    rows, checks = [], []
    for lang, texts in SENTENCES.items():
        voice = a.voice or engine.default_voice(lang=lang)
        neutrals = [engine.synthesize(text, voice=voice, lang=lang) for text in texts]
        bases = [measures(n) for n in neutrals]
        base_err = _mean([asr.score(t, asr.transcribe(n.audio, n.sample_rate, lang), lang)
                          for t, n in zip(texts, neutrals)])
        base = {k: _mean([b[k] for b in bases]) for k in bases[0]}
        rows.append({"lang": lang, "emotion": "neutral", "weight": 0.0, **{k: round(v, 3) for k, v in base.items()},
                     "error": round(base_err, 4)})
        print(f"{lang} neutral (mean of {len(texts)}): F0 {base['f0_mean']:+.2f} st, range {base['f0_range']:.2f} st, "
              f"{base['energy']:.1f} dB, {base['duration']:.2f} s, {'WER' if lang == 'en' else 'CER'} "
              f"{base_err * 100:.1f} %", flush=True)
        for emotion in EMOTIONS:
            deltas = {}
            for w in a.weights:
                spec = spec_from_request(vector={emotion: 1.0}, weight=w)
                per_sentence, errors, heard = [], [], []
                for text, b in zip(texts, bases):
                    r = engine.synthesize(text, voice=voice, lang=lang, emotion=spec)
                    m = measures(r)
                    heard.append(asr.transcribe(r.audio, r.sample_rate, lang))
                    errors.append(asr.score(text, heard[-1], lang))
                    per_sentence.append({"f0_mean": m["f0_mean"] - b["f0_mean"],
                                         "f0_range": m["f0_range"] - b["f0_range"],
                                         "energy": m["energy"] - b["energy"],
                                         "rate": (b["duration"] / m["duration"] - 1) * 100})
                d = {k: _mean([p[k] for p in per_sentence]) for k in per_sentence[0]}
                err = _mean(errors)
                deltas[w] = d
                row = {"lang": lang, "emotion": emotion, "weight": w, **{k: round(v, 3) for k, v in d.items()},
                       "error": round(err, 4), "error_delta_pts": round((err - base_err) * 100, 2),
                       "misheard": [h for h, e in zip(heard, errors) if e > 0]}
                ok = []
                for measure in PROFILES[emotion].checked:
                    sign = PROFILES[emotion].edit.expected_sign(measure)
                    ok.append(sign * d[measure] > 0)
                row["direction_ok"] = all(ok)
                row["wer_ok"] = (err - base_err) * 100 <= 2.0
                rows.append(row)
                print(f"{lang} {emotion:11} w{w:.1f}  dF0 {d['f0_mean']:+5.2f} st  drange {d['f0_range']:+5.2f} st  "
                      f"dE {d['energy']:+5.2f} dB  rate {d['rate']:+5.1f} %  "
                      f"{'WER' if lang == 'en' else 'CER'} {err * 100:4.1f} % ({(err - base_err) * 100:+.1f})  "
                      f"dir {'ok' if row['direction_ok'] else 'FAIL'}", flush=True)
            for measure in PROFILES[emotion].checked:
                sign = PROFILES[emotion].edit.expected_sign(measure)
                slack = 1.0 if measure == "rate" else SLACK  # % vs st/dB
                seq = [sign * deltas[w][measure] for w in sorted(a.weights)]
                grows = all(later >= earlier - slack for earlier, later in zip(seq, seq[1:]))
                checks.append({"lang": lang, "emotion": emotion, "measure": measure, "grows": grows,
                               "values": [round(v, 2) for v in seq]})
    print_table(rows, checks)
    total = time.perf_counter() - started
    print(f"\n{len(rows)} clips in {total:.0f} s")
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / f"emotion-{a.voice or 'defaults'}.json"
    path.write_text(json.dumps({"meta": {"command": " ".join(sys.argv), "voice": a.voice or engine.default_voices, "total_s": round(total, 1),
                                         "sentences": SENTENCES},
                                "rows": rows, "growth_checks": checks}, ensure_ascii=False, indent=1),
                    encoding="utf-8")
    print(f"wrote {path}")


def print_table(rows: list[dict], checks: list[dict]) -> None:
    print("\n| lang | emotion | weight | ΔF0 mean (st) | ΔF0 range (st) | Δenergy (dB) | Δrate (%) | direction | "
          "WER/CER (Δ pts) |")
    print("|---|---|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        if r["emotion"] == "neutral":
            print(f"| {r['lang']} | neutral | 0 | F0 {r['f0_mean']:+.2f} st | {r['f0_range']:.2f} st | "
                  f"{r['energy']:.1f} dBFS | {r['duration']:.2f} s | | {r['error'] * 100:.1f} % |")
            continue
        print(f"| {r['lang']} | {r['emotion']} | {r['weight']:.1f} | {r['f0_mean']:+.2f} | {r['f0_range']:+.2f} | "
              f"{r['energy']:+.2f} | {r['rate']:+.1f} | {'pass' if r['direction_ok'] else 'FAIL'} | "
              f"{r['error'] * 100:.1f} ({r['error_delta_pts']:+.1f}) |")
    grown = sum(c["grows"] for c in checks)
    print(f"\ngrowth with weight: {grown}/{len(checks)} (emotion x language x checked measure)")
    for c in checks:
        if not c["grows"]:
            print(f"  not monotonic: {c['lang']} {c['emotion']} {c['measure']} {c['values']}")
    dir_ok = sum(r.get("direction_ok", False) for r in rows if r["emotion"] != "neutral")
    wer_ok = sum(r.get("wer_ok", False) for r in rows if r["emotion"] != "neutral")
    n = sum(r["emotion"] != "neutral" for r in rows)
    print(f"direction: {dir_ok}/{n} clips; intelligibility within +2 pts of neutral: {wer_ok}/{n} clips")
    for lang in sorted({r["lang"] for r in rows}):
        by_weight = {}
        for r in rows:
            if r["lang"] == lang and r["emotion"] != "neutral":
                by_weight.setdefault(r["weight"], []).append(r["error_delta_pts"])
        print(f"mean WER/CER change over the eight emotions, {lang}: "
              + ", ".join(f"w{w:.1f} {sum(v) / len(v):+.2f} pts" for w, v in sorted(by_weight.items())))


if __name__ == "__main__":
    main()
