"""Fingerprints of the audio a fixed set of requests makes: proof that a refactor changed no sound.

Each request (plain English and Mandarin, mixed languages, a speed, a voice mix, the OpenAI name, three
emotion modes, a long text in several segments, the streamed first-sentence cut, an unsaved clone) is
rendered by the engine in process, and its float32 samples are hashed (sha256). Run it before a change
and after it, on the same machine and thread count (int8 kernels differ between CPU families):

  python scripts/audio_fingerprints.py --write /tmp/before.json     # on the old commit
  python scripts/audio_fingerprints.py --check /tmp/before.json     # on the new one: exit 1 on any change

The clone is fitted with 2 steps from a stock voice's rendering, in a temporary voices folder (no fit
cache), so the fitter's whole path runs in about a minute.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indextts.config import Settings  # noqa: E402
from indextts.emotion import spec_from_request  # noqa: E402
from indextts.engine import Engine  # noqa: E402

LONG = ("The old lighthouse keeper climbed the stairs every evening. He checked the lamp, wiped the windows, and "
        "wrote a short note in his journal about the weather and the passing ships. Then he went to bed. "
        "今天天气很好，我们一起去公园散步吧。路边的花都开了，非常漂亮。")
CUT = "Good morning everyone, and welcome to the annual meeting of the society. The weather is nice."


def requests(engine: Engine, clone: Any) -> dict[str, Callable[[], np.ndarray]]:
    """name -> a call that renders it (the whole clip as float32 samples)."""
    def whole(text: str, **kw: Any) -> Callable[[], np.ndarray]:
        return lambda: engine.synthesize(text, **kw).audio

    def streamed(text: str, **kw: Any) -> Callable[[], np.ndarray]:
        return lambda: np.concatenate(list(engine.stream_pieces(engine.stream(text, **kw))))

    return {
        "en": whole("The weather was cool and bright, so we walked to the market by the river.", lang="en"),
        "zh": whole("她每天早上都会喝一杯热茶，然后开始工作。", lang="zh"),
        "mixed": whole("我昨天用iPhone给NVIDIA的朋友打了电话。", lang="auto"),
        "speed": whole("Please remember to bring your umbrella.", voice="am_michael", speed=1.25),
        "mix": whole("A voice made of two voices.", voice="af_bella+af_sky"),
        "openai-name": whole("Hello from the alloy voice.", voice="alloy"),
        "emotion-vector": whole("I cannot believe we actually won the game!", voice="af_heart",
                                emotion=spec_from_request(vector={"happy": 0.8, "surprised": 0.4}, weight=0.9)),
        "emotion-text": whole("Please leave me alone tonight.", voice="am_michael",
                              emotion=spec_from_request(text="sad and tired")),
        "emotion-random": whole("The results will be announced tomorrow.",
                                emotion=spec_from_request(random=True, seed=7)),
        "long": whole(LONG, pause_s=0.3),
        "stream-cut": streamed(CUT, voice="af_heart", lang="en", first_max_tokens=48),
        "clone": whole("This is the cloned voice speaking.", voice=clone),
    }


def fingerprint(audio: np.ndarray) -> dict[str, Any]:
    samples = np.ascontiguousarray(audio, dtype=np.float32)
    return {"sha256": hashlib.sha256(samples.tobytes()).hexdigest(), "samples": int(samples.size)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", type=Path, help="write the fingerprints to this JSON file")
    mode.add_argument("--check", type=Path, help="compare with this JSON file; exit 1 on any difference")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="fingerprints-") as tmp:
        settings = Settings.load(overrides={"paths": {"voices": str(Path(tmp) / "voices"),
                                                      "outputs": str(Path(tmp) / "outputs")},
                                            "engine": {"threads": a.threads}})
        engine = Engine.load(settings, warm_up=False)
        try:
            reference = engine.synthesize("The quick brown fox jumps over the lazy dog. She sells sea shells by "
                                          "the sea shore, and the shells she sells are surely sea shells.",
                                          voice="bm_george", speed=0.9)
            clone = engine.studio.clone((reference.sample_rate, reference.audio), steps=2)["voice_value"]
            found = {name: fingerprint(render()) for name, render in requests(engine, clone).items()}
        finally:
            engine.close()

    if a.write:
        a.write.write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {len(found)} fingerprints to {a.write}")
        return 0
    expected = json.loads(a.check.read_text(encoding="utf-8"))
    changed = sorted(name for name in expected.keys() | found.keys() if expected.get(name) != found.get(name))
    for name in sorted(found):
        print(f"{'CHANGED' if name in changed else 'same   '} {name}")
    print(f"{len(found) - len(changed)} of {len(expected.keys() | found.keys())} the same")
    return 1 if changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
