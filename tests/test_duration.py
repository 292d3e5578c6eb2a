"""duration_s (issue 18): the clip lasts what was asked, +-10 ms, within 0.5x-2x of the natural length;
outside it a clear 400 that names the natural length. Through the engine and the real HTTP API."""

from __future__ import annotations

import io
import math
import re

import pytest

from indextts.errors import InputError
from indextts.request import SynthesisRequest

ONE_SEGMENT = "The quick brown fox jumps over the lazy dog near the river bank."
THREE_SEGMENTS = ("The weather was cool and bright. We walked to the market by the river. "
                  "Then we went home for dinner.")
TOLERANCE_S = 0.010


@pytest.mark.parametrize("bad", [0, -1.5, math.nan, math.inf, True, "3"])
def test_a_length_that_is_not_a_positive_number_is_refused(bad):
    with pytest.raises(InputError, match="duration_s must be a positive number") as caught:
        SynthesisRequest("Hello.", duration_s=bad)
    assert caught.value.field == "duration_s"


@pytest.mark.parametrize("text", [ONE_SEGMENT, THREE_SEGMENTS], ids=["one-segment", "three-segments"])
def test_the_clip_lasts_the_asked_length(engine, text):
    natural = engine.synthesize(text)
    assert len(natural.segments) == (1 if text == ONE_SEGMENT else 3)
    for factor in (0.6, 1.0, 1.6):
        target = round(natural.duration_s * factor, 3)
        fitted = engine.synthesize(text, duration_s=target)
        assert abs(fitted.duration_s - target) <= TOLERANCE_S, (factor, target, fitted.duration_s)
        # the speech itself was retimed, not padded with silence or cut: it moved with the target
        speech = sum(seg.duration_s for seg in fitted.segments)
        natural_speech = sum(seg.duration_s for seg in natural.segments)
        if factor != 1.0:
            assert (speech - natural_speech) * (factor - 1) > 0, (factor, speech, natural_speech)


def test_streamed_fitted_segments_add_up_to_the_asked_length(engine):
    target = 6.0
    pieces = list(engine.stream_pieces(engine.stream(THREE_SEGMENTS, duration_s=target)))
    assert abs(sum(len(p) for p in pieces) / 24_000 - target) <= TOLERANCE_S


@pytest.mark.parametrize("factor", [0.3, 3.0])
def test_out_of_reach_lengths_name_the_natural_length(engine, factor):
    natural = engine.synthesize(ONE_SEGMENT).duration_s
    with pytest.raises(InputError) as caught:
        engine.synthesize(ONE_SEGMENT, duration_s=natural * factor)
    assert caught.value.field == "duration_s"
    named = float(re.search(r"natural length ([0-9.]+) s", str(caught.value)).group(1))
    assert abs(named - natural) < 0.1, str(caught.value)


def test_http_duration_s_whole_and_streamed_and_its_400(live_server):
    import httpx
    import soundfile as sf

    url = f"{live_server.url}/v1/audio/speech"
    body = {"input": ONE_SEGMENT, "voice": "af_heart", "response_format": "wav"}
    reply = httpx.post(url, json={**body, "duration_s": 4.5}, timeout=300)
    assert reply.status_code == 200, reply.text
    audio, rate = sf.read(io.BytesIO(reply.content))
    assert abs(len(audio) / rate - 4.5) <= TOLERANCE_S
    assert abs(float(reply.headers["X-Audio-Duration"]) - 4.5) <= TOLERANCE_S

    streamed = httpx.post(url, json={**body, "duration_s": 4.5, "stream": True, "response_format": "pcm"},
                          timeout=300)
    assert streamed.status_code == 200, streamed.text
    assert abs(len(streamed.content) / 2 / 24_000 - 4.5) <= TOLERANCE_S  # 16-bit mono at 24 kHz

    refused = httpx.post(url, json={**body, "duration_s": 60}, timeout=300)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["param"] == "duration_s"
    assert re.search(r"natural length [0-9.]+ s", error["message"]), error["message"]
