"""Shared fixtures: the model and the ASR are loaded once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from indextts.config import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.load(environ={}, overrides={"engine": {"device": "cpu", "threads": 2}})


@pytest.fixture(scope="session")
def engine(settings):
    from indextts.engine import Engine

    return Engine.load(settings, warm_up=False)


@pytest.fixture(scope="session")
def onnx_path(settings) -> Path:
    """The shipped int8 ONNX, assembled from its pip packages (a reference for parity)."""
    from indextts.weights.package_data import assemble_onnx

    return assemble_onnx(settings.paths.cache_hub / ".build" / "kokoro-v1.0.int8.onnx")


@pytest.fixture(scope="session")
def asr():
    """(transcribe(audio, sr, lang), normalize(text, lang)) backed by the bundled Whisper base."""
    from bench.asr import normalize_en, normalize_zh, transcribe

    def normalize(text: str, lang: str) -> str:
        return normalize_en(text) if lang == "en" else normalize_zh(text)

    return transcribe, normalize
