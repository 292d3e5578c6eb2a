"""Speed through the API: per-request work outside the model stays small, and the int8 text reader (ALBERT)
keeps the float model's durations and audio."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone

import numpy as np
import pytest
import torch

from audio_metrics import log_mel_l1
from indextts.audio import speech_bounds
from indextts.model.kokoro import SAMPLES_PER_FRAME, speech_span

slow = pytest.mark.slow
RATE = 24000
# (lang, text, voice): the default voices, sentences with a clause break, Mandarin's long tail
TEXTS = [
    ("en", "The weather was cool and bright, so we walked to the market by the river.", "af_heart"),
    ("en", "Please remember to bring your umbrella because it might rain this afternoon.", "am_michael"),
    ("zh", "她每天早上都会喝一杯热茶，然后开始工作。", "zf_xiaobei"),
    ("zh", "这本书讲述了一个关于友谊和勇气的故事。", "jm_kumo"),
]


def _fill_outputs(folder, count: int) -> list[str]:
    """``count`` kept generations (a small wav + its sidecar each), oldest first; their ids."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(count):
        output_id = f"{i:032x}"
        (folder / f"{output_id}.wav").write_bytes(b"RIFF" + bytes(40))
        (folder / f"{output_id}.json").write_text('{"id": "%s"}' % output_id, encoding="utf-8")
        ids.append(output_id)
    return ids


def test_a_request_is_not_slowed_by_the_outputs_already_kept(make_app):
    """Each save applied retention with a directory glob per kept output: O(n^2) in the files kept, 0.2-0.5 s a
    request at the default 500 outputs and seconds at a few thousand. Now one listing per folder."""
    from fastapi.testclient import TestClient

    app, settings = make_app(outputs={"keep_files": 5000, "keep_mb": 100000})
    folder = settings.paths.outputs / datetime.now(timezone.utc).strftime("%Y-%m-%d")
    kept = _fill_outputs(folder, 2000)
    with TestClient(app) as client:
        app.state.holder.wait(10)
        client.post("/v1/audio/speech", json={"input": "Warm up."})  # first-call costs (imports, encoders)
        started = time.perf_counter()
        response = client.post("/v1/audio/speech", json={"input": "Hello there."})
        elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    assert (folder / f"{response.headers['X-Output-Id']}.wav").exists()
    assert all((folder / f"{output_id}.json").exists() for output_id in kept)  # under the limits: all kept
    assert elapsed < 1.0, f"a request with 2000 kept outputs took {elapsed:.2f} s (the fake engine takes ~0)"


def test_retention_still_removes_the_oldest_beyond_the_limit(make_app):
    from fastapi.testclient import TestClient

    app, settings = make_app(outputs={"keep_files": 50})
    folder = settings.paths.outputs / datetime.now(timezone.utc).strftime("%Y-%m-%d")
    kept = _fill_outputs(folder, 80)
    for age, output_id in enumerate(reversed(kept)):  # the first filled is the oldest
        stamp = time.time() - 1000 - age
        for path in folder.glob(f"{output_id}.*"):
            os.utime(path, (stamp, stamp))
    with TestClient(app) as client:
        app.state.holder.wait(10)
        response = client.post("/v1/audio/speech", json={"input": "Hello there."})
    assert response.status_code == 200, response.text
    left = {p.stem for p in folder.glob("*.json")}
    assert left == {response.headers["X-Output-Id"], *kept[-49:]}  # the new one and the 49 newest before it
    assert not [p for output_id in kept[:31] for p in folder.glob(f"{output_id}.*")]  # audio and sidecar both gone


# ---------------------------------------------------------------- rendering only the speech

def _whole_and_span(engine, monkeypatch, text: str, lang: str, voice: str):
    """Per segment: the whole rendering trimmed as the engine trims, the engine's own result, and the frames
    the engine had the decoder render."""
    decoder, spans = engine.model.decoder, []
    render = decoder.forward

    def recording(asr, f0, energy, style, span=None):
        spans.append((0, asr.shape[2]) if span is None else tuple(span))
        return render(asr, f0, energy, style, span)

    monkeypatch.setattr(decoder, "forward", recording)
    result = engine.synthesize(text, voice=voice, lang=lang)
    monkeypatch.undo()
    assert len(spans) == len(result.segments)
    out = []
    for segment, span in zip(result.segments, spans):
        style = engine.voices.style(voice, len(segment.tokens))
        tokens = torch.tensor([[0, *segment.tokens, 0]])
        with torch.inference_mode():
            whole = engine.model.render(tokens, style, segment.prosody).numpy()
        start, end = speech_bounds(whole, RATE)
        assert span == speech_span(segment.prosody)
        out.append((whole, start, end, segment, span))
    return out


@slow
@pytest.mark.parametrize(("lang", "text", "voice"), TEXTS, ids=[f"{t[0]}-{t[2]}" for t in TEXTS])
def test_the_engine_renders_the_speech_not_the_silence_around_it(engine, monkeypatch, lang, text, voice):
    """Kokoro puts 0.35-0.5 s of silence before speech and 0.4-1 s after, which the engine trims: so it
    renders the speech span only. What is kept sounds as the whole rendering trimmed: same start and
    length, level within 0.5 dB, spectrum as close as int8 vs float (log-mel L1 ~0.1-0.2)."""
    for whole, start, end, segment, (first, stop) in _whole_and_span(engine, monkeypatch, text, lang, voice):
        # rendered: the trimmed speech with frames to spare each side; for the default voices, much less than all
        assert first + 2 <= start / SAMPLES_PER_FRAME and end / SAMPLES_PER_FRAME <= stop - 2, (first, stop, start, end)
        if voice in ("af_heart", "zf_xiaobei"):  # at least 0.3 s of the edge silence is never rendered
            assert stop - first <= segment.prosody.total_frames - 12, (first, stop, segment.prosody.total_frames)
        assert abs(segment.trim_start_s - start / RATE) <= 0.02
        assert abs(segment.duration_s - (end - start) / RATE) <= 0.03
        lead = round(segment.trim_start_s * RATE)
        kept = np.zeros(end - start, np.float32)  # the engine's audio placed on the whole rendering's time axis
        lo, hi = max(start, lead), min(end, lead + len(segment.audio))
        kept[lo - start : hi - start] = segment.audio[lo - lead : hi - lead]
        reference = whole[start:end]
        level_db = 10 * np.log10(np.mean(kept**2) / np.mean(reference**2))
        assert abs(level_db) < 0.5, level_db
        assert log_mel_l1(kept, reference) < 0.3  # another voice scores 0.7+


def test_speech_span_follows_the_energy_curve_and_its_scale():
    from indextts.model import Prosody

    silence, speech = -9.3, 6.0
    energy = torch.tensor([[silence] * 40 + [speech] * 100 + [silence] * 60])  # 2 points per frame: 100 frames
    prosody = Prosody(encoded=torch.zeros(1), expected_frames=torch.zeros(1), frames=torch.tensor([100]),
                      f0=torch.zeros_like(energy), energy=energy)
    assert speech_span(prosody, margin=6, step=1) == (20 - 6, 70 + 6)
    scaled = Prosody(**{**prosody.__dict__, "energy": energy * 0.4})  # an emotion's energy scaling (0.4-2.2)
    assert speech_span(scaled, margin=6, step=1) == (14, 76)
    flat = Prosody(**{**prosody.__dict__, "energy": torch.full_like(energy, silence)})
    assert speech_span(flat) == (0, 100)  # nothing stands out: the whole utterance
    # widened to a whole number of steps (windows of one length share their convolution kernels), the margin kept
    assert speech_span(prosody, margin=6, step=8) == (13, 77)
    assert speech_span(prosody, margin=6, step=48) == (0, 96)  # widened on the side that has frames
    assert speech_span(prosody, margin=6, step=70) == (10, 80)  # centred on the speech
    assert speech_span(prosody, margin=6, step=120) == (0, 100)  # longer than the utterance: all of it
