"""Dubbing from subtitles: the plan (fast, a fake engine with known natural lengths), the API's checks and
shape (in-process app), and what a user hears over real HTTP and from the CLI (the real model)."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from indextts.dubbing import DubOptions, MAX_CUES, cue_target, plan, render, slots
from indextts.errors import InputError
from indextts.request import SynthesisRequest
from indextts.subtitles import Cue

ROOT = Path(__file__).resolve().parent.parent
SR = 24000


class TimedFakeEngine:
    """Natural length: 0.1 s per character (no model); a clip is a tone lasting its duration_s or that."""

    def natural_length_s(self, request: SynthesisRequest) -> float:
        return 0.1 * len(request.text)

    def synthesize(self, request: SynthesisRequest):
        from types import SimpleNamespace

        seconds = request.duration_s or self.natural_length_s(request)
        n = round(seconds * SR)
        return SimpleNamespace(audio=(0.3 * np.sin(np.arange(n) * 2 * np.pi * 220 / SR)).astype(np.float32))


TEMPLATE = SynthesisRequest("x", voice="af_heart")


def test_slots_end_at_the_cue_end_or_the_next_start():
    cues = [Cue(0.0, 2.0, "a"), Cue(1.5, 3.0, "b"), Cue(4.0, 5.0, "c")]
    assert slots(cues) == pytest.approx([1.5, 1.5, 1.0])


@pytest.mark.parametrize("natural,slot,fit,target,status", [
    (1.0, 2.0, "shrink", 1.0, "fits"),        # room to spare: natural pace
    (1.0, 0.8, "shrink", 0.8, "fitted"),      # a bit long: sped up to end at the slot's end
    (1.0, 0.3, "shrink", 0.5005, "too_long"),  # past 2x: 2x, and reported
    (1.0, 1.5, "fill", 1.5, "fitted"),         # fill: stretched to the slot
    (1.0, 5.0, "fill", 1.998, "fitted"),       # at most 0.5x
], ids=["fits", "sped up", "too long", "fill", "fill capped"])
def test_each_cue_gets_its_target_and_status(natural, slot, fit, target, status):
    got_target, got_status = cue_target(natural, slot, fit)
    assert got_status == status and got_target == pytest.approx(target, abs=1e-3)


def test_plan_and_render_place_every_cue_at_its_start_and_report_overruns():
    engine = TimedFakeEngine()
    # cue 2's 40 characters need 4 s in a 1 s slot (2x is 2 s): it runs 1 s past its end into cue 3's start
    cues = [Cue(0.5, 2.0, "Hello."), Cue(3.0, 4.0, "x" * 40), Cue(4.5, 6.0, "Bye.")]
    rows = plan(engine, cues, TEMPLATE)
    assert [r.status for r in rows] == ["fits", "too_long", "fits"]
    assert rows[1].natural_s == pytest.approx(4.0) and rows[1].needed_factor == pytest.approx(4.0)
    with pytest.raises(InputError, match=r"#2 3.000-4.000 s .*needs 4.00x") as err:
        plan(engine, cues, TEMPLATE, DubOptions(on_overflow="error"))
    assert err.value.field == "on_overflow"

    done = []
    result = render(engine, cues, TEMPLATE, progress=lambda i, n: done.append((i, n)))
    assert done == [(1, 3), (2, 3), (3, 3)]
    first, long, last = result.cues
    assert first.rendered_start_s == 0.5 and first.rendered_end_s == pytest.approx(1.1)
    assert long.rendered_start_s == 3.0 and long.rendered_end_s == pytest.approx(5.0, abs=0.01)  # 2x, not clipped
    assert long.overrun_s == pytest.approx(1.0, abs=0.01)
    assert last.rendered_start_s == pytest.approx(5.1, abs=0.01) and last.delay_s == pytest.approx(0.6, abs=0.01)
    loud = np.abs(result.audio) > 0.01
    assert not loud[:int(0.5 * SR) - 1].any() and loud[int(0.5 * SR) + 5]  # silence, then cue 1 at 0.5 s
    assert not loud[int(1.11 * SR):int(2.99 * SR)].any()  # silence between cues
    assert result.duration_s == pytest.approx(6.0)  # to the last cue's end time (its speech ends sooner)
    assert [c.index for c in result.too_long] == [2] and [c.index for c in result.late] == [3]


def test_rendering_stops_when_cancelled():
    from indextts.errors import Cancelled

    engine = TimedFakeEngine()
    calls = iter([False, False, True])
    with pytest.raises(Cancelled):
        render(engine, [Cue(0, 1, "a"), Cue(1, 2, "b"), Cue(2, 3, "c")], TEMPLATE, cancelled=lambda: next(calls))


def test_limits_are_clear_errors():
    engine = TimedFakeEngine()
    with pytest.raises(InputError, match="at most 1000"):
        plan(engine, [Cue(i, i + 0.5, "a") for i in range(MAX_CUES + 1)], TEMPLATE)
    with pytest.raises(InputError, match="at most 1800 s"):
        plan(engine, [Cue(3600, 3601, "late")], TEMPLATE)
    with pytest.raises(InputError, match="unknown fit"):
        DubOptions(fit="stretch")


def test_a_cue_with_no_time_at_all_is_too_long_and_reported_without_a_factor():
    rows = plan(TimedFakeEngine(), [Cue(1.0, 1.0, "Now."), Cue(1.0, 2.0, "Then.")], TEMPLATE)
    assert rows[0].status == "too_long" and rows[0].too_long_summary()["needed_factor"] is None
    with pytest.raises(InputError, match="#1 1.000-1.000 s \\(no time at all"):
        plan(TimedFakeEngine(), [Cue(1.0, 1.0, "Now.")], TEMPLATE, DubOptions(on_overflow="error"))


# ---------------------------------------------------------------- the API in-process (FakeEngine)

SRT = "1\n00:00:00,500 --> 00:00:02,000\nHello there.\n\n2\n00:00:03,000 --> 00:00:04,500\nGood bye.\n"


@pytest.fixture
def client(make_app):
    from fastapi.testclient import TestClient
    from fake_engine import FakeEngine

    class Engine(FakeEngine):
        natural_length_s = TimedFakeEngine.natural_length_s

    app, _ = make_app(loader=lambda settings: Engine())
    with TestClient(app) as c:
        assert app.state.holder.wait(10)  # the fake engine loads in the background, as the real one does
        yield c


def test_the_plan_route_answers_the_cue_table(client):
    r = client.post("/v1/audio/dub/plan", json={"subtitles": SRT, "voice": "jm_kumo"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["format"] == "srt" and body["cue_count"] == 2 and body["too_long"] == 0
    rows = body["cues"]
    assert [c["text"] for c in rows] == ["Hello there.", "Good bye."]
    assert [(c["index"], c["start_s"], c["end_s"], c["status"]) for c in rows] == [
        (1, 0.5, 2.0, "fits"), (2, 3.0, 4.5, "fits")]
    assert rows[0]["natural_s"] == pytest.approx(1.2)


def test_a_file_upload_gets_audio_with_the_report_in_headers(client):
    files = {"file": ("subs.srt", SRT.encode("utf-8-sig"), "application/x-subrip")}
    r = client.post("/v1/audio/dub", files=files, data={"voice": "jm_kumo", "response_format": "wav"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/wav"
    assert r.headers["X-Dub-Cues"] == "2" and r.headers["X-Dub-Too-Long"] == "0"
    assert json.loads(r.headers["X-Dub-Report"]) == []
    assert r.headers["X-Output-Id"]
    j = client.post("/v1/audio/dub", json={"subtitles": SRT, "response": "json"}).json()
    assert j["cue_count"] == len(j["cues"]) == 2 and j["cues"][1]["rendered_start_s"] == 3.0
    assert base64.b64decode(j["audio"])[:4] == b"RIFF"


@pytest.mark.parametrize("body,status,fragment,param", [
    ({}, 400, "'subtitles'", "subtitles"),
    ({"subtitles": ""}, 400, "'subtitles'", "subtitles"),
    ({"subtitles": "just some words"}, 400, "line 1: not a subtitle file", "subtitles"),
    ({"subtitles": "1\n00:00:05,000 --> 00:00:04,000\nHi\n"}, 400, "line 2: the cue ends", "subtitles"),
    ({"subtitles": SRT, "fit": "stretch"}, 400, "unknown fit", "fit"),
    ({"subtitles": SRT, "response_format": "xyz"}, 400, "response_format", "response_format"),
    ({"subtitles": SRT, "voice": "nobody"}, 400, "nobody", "voice"),
    ({"subtitles": SRT, "stream": True}, 400, "stream", "stream"),
    ({"subtitles": "1\n00:00:00,000 --> 00:00:00,500\n" + "word " * 30 + "\n", "on_overflow": "error"}, 400,
     "too long for their slot even at 2x: #1", "on_overflow"),
], ids=["no subtitles", "empty", "not subtitles", "ends before start", "fit", "format", "voice", "stream",
        "overflow error"])
def test_bad_requests_are_400s_naming_the_problem(client, body, status, fragment, param):
    from http_checks import assert_openai_error

    assert_openai_error(client.post("/v1/audio/dub", json=body), status, fragment, param)


def test_a_multipart_request_without_a_file_is_refused(client):
    from http_checks import assert_openai_error

    assert_openai_error(client.post("/v1/audio/dub", data={"voice": "jm_kumo"}, files={"x": ("a", b"b")}), 400,
                        "'file'", "file")


def test_a_client_that_goes_away_stops_the_rendering(make_app):
    """Over a real socket: the client gives up after 1 s; the server stops at the next cue (of 20 slow ones)."""
    import time

    import httpx
    from conftest import serving, wait_until
    from fake_engine import FakeEngine

    class SlowEngine(FakeEngine):
        natural_length_s = TimedFakeEngine.natural_length_s

    engine = SlowEngine(delay_s=0.3)
    srt = "".join(f"{k + 1}\n00:00:{k:02d},000 --> 00:00:{k:02d},900\nCue {k}.\n\n" for k in range(20))
    app, _ = make_app(loader=lambda settings: engine)
    with serving(app) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/v1/audio/dub", json={"subtitles": srt}, timeout=1.0)
        assert wait_until(lambda: engine.rendered > 0, 5, 0.05)
        time.sleep(1.5)  # the disconnect is seen within 0.5 s; the cue under way finishes
        stopped_at = engine.rendered
        time.sleep(1.0)
        assert engine.rendered == stopped_at < 20


# ---------------------------------------------------------------- real speech (the model)

LIVE_SRT = ("1\n00:00:00,500 --> 00:00:02,500\nGood morning.\n\n"
            "2\n00:00:04,000 --> 00:00:06,000\nThe weather is fine.\n\n"
            "3\n00:00:07,500 --> 00:00:09,500\nSee you soon.\n")


def speech_runs(audio: np.ndarray, sr: int, gap_s: float = 0.6) -> list[tuple[float, float]]:
    """Where speech is heard: 10 ms frames above -40 dB of the peak, runs split at silences over ``gap_s``."""
    frame = sr // 100
    n = len(audio) // frame
    rms = np.sqrt(np.mean(audio[:n * frame].reshape(n, frame) ** 2, axis=1))
    loud = np.flatnonzero(rms > np.max(rms) * 0.01)
    runs, start, prev = [], loud[0], loud[0]
    for k in loud[1:]:
        if (k - prev) * 0.01 > gap_s:
            runs.append((start * 0.01, (prev + 1) * 0.01))
            start = k
        prev = k
    runs.append((start * 0.01, (prev + 1) * 0.01))
    return runs


def test_each_cue_is_heard_from_its_start_to_within_its_end(live_server):
    import httpx
    import soundfile as sf

    r = httpx.post(f"{live_server.url}/v1/audio/dub", files={"file": ("subs.srt", LIVE_SRT.encode())},
                   data={"voice": "af_heart", "response_format": "wav"}, timeout=300)
    assert r.status_code == 200, r.text
    audio, sr = sf.read(io.BytesIO(r.content), dtype="float32")
    assert r.headers["X-Dub-Cues"] == "3" and r.headers["X-Dub-Too-Long"] == "0"
    assert len(audio) / sr == pytest.approx(9.5, abs=0.05)  # the track runs to the last cue's end
    runs = speech_runs(audio, sr)
    assert len(runs) == 3, runs  # three cues, silence between them
    for (start, end), (cue_start, cue_end) in zip(runs, [(0.5, 2.5), (4.0, 6.0), (7.5, 9.5)]):
        assert cue_start - 0.02 <= start <= cue_start + 0.15, (start, cue_start)  # speech starts at its time
        assert end <= cue_end + 0.02, (end, cue_end)  # and is over by its end


def test_a_too_long_cue_is_reported_and_spoken_whole(live_server):
    import httpx
    import soundfile as sf

    long_text = "This sentence has far too many words to be spoken inside one short second of time."
    srt = f"1\n00:00:00,000 --> 00:00:01,000\n{long_text}\n\n2\n00:00:01,000 --> 00:00:02,000\nOkay.\n"
    r = httpx.post(f"{live_server.url}/v1/audio/dub", json={"subtitles": srt, "voice": "af_heart",
                                                             "response_format": "wav"}, timeout=300)
    assert r.status_code == 200, r.text
    assert r.headers["X-Dub-Too-Long"] == "1" and r.headers["X-Dub-Late"] == "1"
    report = json.loads(r.headers["X-Dub-Report"])
    assert report[0]["index"] == 1 and report[0]["needed_factor"] > 2
    natural = report[0]["natural_s"]
    audio, sr = sf.read(io.BytesIO(r.content), dtype="float32")
    runs = speech_runs(audio, sr, gap_s=0.08)
    # cue 1 at 2x lasts about half its natural length: heard well past its 1 s slot (not cut off there)
    assert runs[0][1] > 1.3 and runs[0][1] == pytest.approx(natural / 2, abs=0.25)
    assert runs[-1][0] > runs[0][1]  # cue 2 ("Okay.") waits for it, after a silence

    j = httpx.post(f"{live_server.url}/v1/audio/dub", json={"subtitles": srt, "voice": "af_heart"},
                   headers={"Accept": "application/json"}, timeout=300).json()
    first, second = j["cues"]
    assert j["too_long"] == 1 and first["status"] == "too_long" and first["overrun_s"] > 0.5
    assert second["delay_s"] > 0 and second["rendered_start_s"] >= first["rendered_end_s"]

    refused = httpx.post(f"{live_server.url}/v1/audio/dub/plan", json={"subtitles": srt, "on_overflow": "error"},
                         timeout=120)
    assert refused.status_code == 400 and "#1 0.000-1.000 s" in refused.json()["error"]["message"]


@pytest.mark.slow  # loads the model in a subprocess
def test_the_cli_writes_the_track_and_says_which_cues_overran(tmp_path):
    import soundfile as sf

    subs = tmp_path / "subs.vtt"
    subs.write_text("WEBVTT\n\n00:00.200 --> 00:02.000\nHello world.\n\n"
                    "00:02.000 --> 00:02.300\nThis one is much too long for its slot.\n", encoding="utf-8")
    out = tmp_path / "track.wav"
    run = subprocess.run([sys.executable, "-m", "indextts", "dub", str(subs), "-o", str(out), "--voice", "af_heart",
                          "--device", "cpu"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 3, run.stdout + run.stderr  # some cue overran: still written
    assert "too_long" in run.stdout and "Hello world." in run.stdout
    audio, sr = sf.read(out, dtype="float32")
    assert sr == SR and len(audio) / sr > 2.3
    bad = tmp_path / "bad.srt"
    bad.write_text("1\n00:00:02,000 --> 00:00:01,000\nHi\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "indextts", "dub", str(bad), "-o", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "line 2" in run.stderr
