"""Checks on HTTP answers that many test files make: the OpenAI error shape, a live server, decoding a reply."""

from __future__ import annotations

import io

import httpx
import numpy as np
import soundfile as sf


def speech(url: str, **body) -> httpx.Response:
    return httpx.post(f"{url}/v1/audio/speech", json=body, timeout=120)


def assert_openai_error(response: httpx.Response, status: int, fragment: str, param: str | None = "*") -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert fragment in error["message"], error["message"]
    assert error["type"] == ("invalid_request_error" if status < 500 else "server_error")
    if param != "*":
        assert error["param"] == param
    return error


def assert_alive(url: str) -> None:
    assert httpx.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}


def decode(data: bytes, fmt: str) -> tuple[np.ndarray, int]:
    """Mono float audio and its rate from an encoded response (AAC through FFmpeg's decoder, the rest
    through libsndfile)."""
    if fmt != "aac":
        return sf.read(io.BytesIO(data), dtype="float32")
    import av

    with av.open(io.BytesIO(data)) as container:
        frames = [frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)]
        rate = container.streams.audio[0].sample_rate
    return np.concatenate(frames).astype(np.float32), rate
