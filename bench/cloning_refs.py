"""Reference voices for the cloning benchmark, made by non-Kokoro engines and transforms.

Disjoint sets (``SETS``), each fixed before the method saw it:
- HELD_OUT_2: the benchmark. Fixed on 2026-11-21 before any fit of these voices; never tuned on.
- HELD_OUT: a benchmark set whose results were read while developing the method, so it is reported but
  does not count as unseen. Its one voice whose clone was garbled, espeak-us-f2, is in TUNING: the
  intelligibility guard was developed on it.
- TUNING: what the fitting method (steps, weights, init, guard thresholds) was tuned on.

Each voice speaks FIT_TEXT (the ~10 s reference clip a user would upload) and EVAL_TEXTS (held-out
sentences: the clone speaks these, and similarity is measured against the reference voice saying them).
Needs: espeak-ng, festival (+ festvox-kallpc16k, festvox-us-slt-hts), sox (apt), hibari-tts (pip).

    python bench/cloning_refs.py [--set S]  # writes bench/out/cloning_refs/<voice>/{fit,eval0..}.wav
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

OUT = Path(__file__).resolve().parent / "out" / "cloning_refs"

FIT_TEXT = ("The old lighthouse keeper climbed the stairs every evening. He checked the lamp, wiped the "
            "windows, and wrote a short note in his journal about the weather and the passing ships.")
EVAL_TEXTS = [
    "Please remember to water the plants while I am away next week.",
    "A gentle breeze carried the smell of fresh bread across the market square.",
    "Nobody expected the small team to finish the project two days early.",
]

# name -> (engine, spec, sox effects applied after). Never tune on a held-out set.
HELD_OUT_2 = {
    "espeak-us-f3": ("espeak", "en-us+f3", []),
    "espeak-us-f5": ("espeak", "en-us+f5", []),
    "espeak-scot-m2": ("espeak", "en-gb-scotland+m2", []),
    "f1-formant-down": ("espeak", "en-us+f1", ["speed", "0.9", "tempo", "1.111"]),
    "slt-pitch-down2": ("festival", "voice_cmu_us_slt_arctic_hts", ["pitch", "-200"]),
    "kal-formant-up": ("festival", "voice_kal_diphone", ["speed", "1.08", "tempo", "0.926"]),
    "heart-pitch-down3": ("hibari", "heart", ["pitch", "-300"]),
}
HELD_OUT = {
    "hibari-heart": ("hibari", "heart", []),
    "espeak-us-m3": ("espeak", "en-us+m3", []),
    "festival-kal": ("festival", "voice_kal_diphone", []),
    "festival-slt": ("festival", "voice_cmu_us_slt_arctic_hts", []),
    "kal-pitch-down4": ("festival", "voice_kal_diphone", ["pitch", "-400"]),
    "heart-formant-down": ("hibari", "heart", ["speed", "0.87", "tempo", "1.149"]),
}
TUNING = {
    "espeak-gb-m1": ("espeak", "en-gb+m1", []),
    "espeak-us-f4": ("espeak", "en-us+f4", []),
    "heart-pitch-up3": ("hibari", "heart", ["pitch", "300"]),
    "slt-formant-up": ("festival", "voice_cmu_us_slt_arctic_hts", ["speed", "1.1", "tempo", "0.909"]),
    "espeak-rp-klatt": ("espeak", "en-gb-x-rp+klatt", []),
    "espeak-us-f2": ("espeak", "en-us+f2", []),  # the intelligibility guard was developed on its garbled clone
}
SETS = {"held_out_2": HELD_OUT_2, "held_out": HELD_OUT, "tuning": TUNING}


def _hibari(text: str, spec: str) -> tuple[np.ndarray, int]:
    from hibari import Hibari

    tts = _hibari_cache.setdefault(spec, Hibari(voice=spec))
    return np.asarray(tts(text), dtype=np.float32), tts.sample_rate


_hibari_cache: dict = {}


def speak(engine: str, spec: str, text: str, effects: list[str]) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory() as tmp:
        raw, out = Path(tmp) / "raw.wav", Path(tmp) / "out.wav"
        if engine == "hibari":
            audio, sr = _hibari(text, spec)
            sf.write(raw, audio, sr)
        elif engine == "espeak":
            subprocess.run(["espeak-ng", "-v", spec, "-w", str(raw), text], check=True)
        elif engine == "festival":
            (Path(tmp) / "t.txt").write_text(text)
            subprocess.run(["text2wave", "-eval", f"({spec})", "-o", str(raw), str(Path(tmp) / "t.txt")],
                           check=True, capture_output=True)
        else:
            raise ValueError(engine)
        src = raw
        if effects:
            subprocess.run(["sox", str(raw), str(out), *effects], check=True)
            src = out
        audio, sr = sf.read(src, dtype="float32", always_2d=True)
        return audio.mean(axis=1), sr


def make(names: dict, out: Path = OUT) -> None:
    for name, (engine, spec, effects) in names.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, text in enumerate([FIT_TEXT, *EVAL_TEXTS]):
            target = folder / ("fit.wav" if i == 0 else f"eval{i - 1}.wav")
            if not target.exists():
                audio, sr = speak(engine, spec, text, effects)
                sf.write(target, audio, sr)
        print(name, sf.info(folder / "fit.wav").duration)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=(*SETS, "all"), default="all")
    args = parser.parse_args()
    for name, voices in SETS.items():
        if args.set in (name, "all"):
            make(voices)
