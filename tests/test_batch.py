"""Batch jobs: the file format (JSONL and paragraphs), the resumable runner and its manifest, the
``/v1/batches`` API through real HTTP (in-process app with FakeEngine), and, with the real model, the API of
``python app.py`` and the CLI writing real audio."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT, serving, wait_until
from fake_engine import FakeEngine
from indextts.batch.jobs import MAX_JOBS, check_defaults, guess_kind, parse_jobs
from indextts.batch.runner import MANIFEST, run_jobs
from indextts.batch.store import BatchService
from indextts.errors import InputError

MAX_CHARS = 5000


def jsonl(*lines: object) -> str:
    return "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"


def manifest_rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / MANIFEST).read_text().splitlines()]


# ---------------------------------------------------------------- the file

def test_jsonl_lines_become_jobs_and_bad_lines_are_reported_with_their_numbers():
    text = jsonl({"id": "intro", "text": "Hello there.", "voice": "af_heart", "speed": 1.2},
                 "",
                 "{not json",
                 {"id": "../escape", "text": "Nope."},
                 {"id": "intro", "text": "Duplicate id."},
                 {"text": "No id: named by its line.", "format": "mp3"},
                 {"id": "typo", "text": "Hi.", "sped": 2},
                 {"id": "slow", "text": "Hi.", "speed": 9},
                 {"id": "empty", "text": "   "},
                 [1, 2],
                 {"id": "pcm", "text": "Hi.", "format": "pcm"},
                 {"id": "stream", "text": "Hi.", "stream": True},
                 {"id": "INTRO", "text": "Differs only in case."})
    parsed = parse_jobs(text, "jsonl", {}, MAX_CHARS)
    assert [(job.id, job.line, job.format) for job in parsed.jobs] == [("intro", 1, "wav"), ("line-0006", 6, "mp3")]
    assert parsed.jobs[0].speech.voice == "af_heart" and parsed.jobs[0].speech.speed == 1.2
    errors = {bad.line: bad.error for bad in parsed.invalid}
    assert sorted(errors) == [3, 4, 5, 7, 8, 9, 10, 11, 12, 13]
    assert "not valid JSON" in errors[3]
    assert "cannot name a file" in errors[4]
    assert "used already on line 1" in errors[5] and "used already on line 1" in errors[13]
    assert "unknown field 'sped'" in errors[7] and "id, text, format" in errors[7]
    assert "speed" in errors[8]
    assert "empty" in errors[9]
    assert "JSON object" in errors[10]
    assert "pcm" in errors[11]
    assert "stream" in errors[12]
    assert {bad.line: bad.param for bad in parsed.invalid}[4] == "id"


def test_text_file_is_one_job_per_paragraph_with_the_defaults():
    text = "First paragraph,\nstill the first.\n\n\nSecond one.\n  \nThird.\n"
    assert guess_kind(text, "book.txt") == "txt" and guess_kind(text) == "txt"
    assert guess_kind('{"text": "x"}\n') == "jsonl"
    parsed = parse_jobs(text, "txt", {"voice": "am_michael", "format": "flac"}, MAX_CHARS)
    assert [(job.id, job.line, job.speech.input) for job in parsed.jobs] == [
        ("line-0001", 1, "First paragraph, still the first."), ("line-0005", 5, "Second one."),
        ("line-0007", 7, "Third.")]
    assert all(job.speech.voice == "am_michael" and job.file_name.endswith(".flac") for job in parsed.jobs)


def test_a_line_overrides_the_defaults_and_bad_defaults_are_refused_up_front():
    parsed = parse_jobs(jsonl({"id": "a", "text": "Hi.", "voice": "af_bella"}), "jsonl", {"voice": "am_adam"},
                        MAX_CHARS)
    assert parsed.jobs[0].speech.voice == "af_bella"
    with pytest.raises(Exception, match="speed"):
        check_defaults({"speed": 10.0}, MAX_CHARS)
    with pytest.raises(Exception, match="format"):
        check_defaults({"format": "midi"}, MAX_CHARS)


def test_more_jobs_than_the_limit_are_reported_not_dropped():
    text = jsonl(*({"text": f"Line {i}."} for i in range(MAX_JOBS + 2)))
    parsed = parse_jobs(text, "jsonl", {}, MAX_CHARS)
    assert len(parsed.jobs) == MAX_JOBS
    assert [bad.line for bad in parsed.invalid] == [MAX_JOBS + 1, MAX_JOBS + 2]
    assert "more than" in parsed.invalid[0].error
    assert len(parse_jobs(text, "jsonl", {}, MAX_CHARS, max_jobs=None).jobs) == MAX_JOBS + 2


# ---------------------------------------------------------------- the runner

def test_runner_writes_files_and_manifest_and_a_rerun_skips_what_is_finished(tmp_path):
    jobs = parse_jobs(jsonl({"id": "a", "text": "One."}, {"id": "b", "text": "Two. Three.", "format": "flac"},
                            {"id": "c", "text": "forbidden words"}), "jsonl", {}, MAX_CHARS).jobs
    engine = FakeEngine()
    summary = run_jobs(jobs, tmp_path, engine)
    assert (summary.done, summary.skipped, summary.failed) == (2, 0, 1) and not summary.ok
    assert sf.info(tmp_path / "a.wav").duration == pytest.approx(0.5)
    assert sf.info(tmp_path / "b.flac").duration == pytest.approx(1.0)
    assert not (tmp_path / "c.wav").exists()
    rows = {row["id"]: row for row in manifest_rows(tmp_path)}
    assert rows["a"]["status"] == "done" and rows["a"]["duration_s"] == pytest.approx(0.5)
    assert rows["b"]["file"] == "b.flac" and rows["b"]["options"]["response_format"] == "flac"
    assert rows["c"]["status"] == "failed" and "refused" in rows["c"]["error"] and rows["c"]["line"] == 3
    written = {name: (tmp_path / name).stat().st_mtime_ns for name in ("a.wav", "b.flac")}

    rendered = engine.rendered
    again = run_jobs(jobs, tmp_path, engine)
    assert (again.done, again.skipped, again.failed) == (0, 2, 1)
    assert engine.rendered == rendered  # the finished files were not rendered again, nor rewritten
    assert {name: (tmp_path / name).stat().st_mtime_ns for name in written} == written
    assert [row["id"] for row in manifest_rows(tmp_path)] == ["a", "b", "c"]  # one row per job


def test_changed_options_render_the_job_again_and_a_deleted_file_is_rewritten(tmp_path):
    first = parse_jobs(jsonl({"id": "a", "text": "One."}, {"id": "b", "text": "Two."}), "jsonl", {},
                       MAX_CHARS).jobs
    engine = FakeEngine()
    run_jobs(first, tmp_path, engine)
    changed = parse_jobs(jsonl({"id": "a", "text": "One.", "speed": 1.5}, {"id": "b", "text": "Two."}), "jsonl",
                         {}, MAX_CHARS).jobs
    assert changed[0].options_hash() != first[0].options_hash()
    (tmp_path / "b.wav").unlink()
    summary = run_jobs(changed, tmp_path, engine)
    assert (summary.done, summary.skipped) == (2, 0)
    rows = {row["id"]: row for row in manifest_rows(tmp_path)}
    assert rows["a"]["options"]["speed"] == 1.5 and rows["a"]["options_hash"] == changed[0].options_hash()


def test_cancel_stops_between_segments_and_leaves_no_half_file(tmp_path):
    jobs = parse_jobs(jsonl({"id": "long", "text": "One. Two. Three. Four. Five. Six."}, {"id": "next", "text": "x."}),
                      "jsonl", {}, MAX_CHARS).jobs
    engine = FakeEngine(delay_s=0.05)
    cancel = threading.Event()
    timer = threading.Timer(0.12, cancel.set)
    timer.start()
    summary = run_jobs(jobs, tmp_path, engine, cancel)
    assert summary.cancelled and summary.done == 0
    assert engine.rendered < 6
    assert not list(tmp_path.glob("*.wav")) and not list(tmp_path.glob(".*tmp"))


# ---------------------------------------------------------------- the API (in-process app, real HTTP)

def wait_finished(client: httpx.Client, batch_id: str, timeout_s: float = 20.0) -> dict:
    state: dict = {}

    def finished() -> bool:
        nonlocal state
        state = client.get(f"/v1/batches/{batch_id}").json()
        return state["status"] in ("done", "failed", "cancelled", "interrupted")

    assert wait_until(finished, timeout_s, 0.05), state
    return state


def test_api_create_poll_download_zip(make_app):
    app, settings = make_app()
    body = jsonl({"id": "hello", "text": "Hello."}, {"id": "two", "text": "One. Two.", "format": "mp3"},
                 {"id": "bad/id", "text": "x"}, {"id": "fails", "text": "forbidden"},
                 {"id": "ghost", "text": "Hi.", "voice": "no_such_voice"})
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        created = client.post("/v1/batches", content=body, headers={"Content-Type": "application/x-ndjson"})
        assert created.status_code == 202, created.text
        batch = created.json()
        assert batch["jobs"] == 3 and [bad["line"] for bad in batch["invalid"]] == [3, 5]
        assert "cannot name a file" in batch["invalid"][0]["error"] and batch["invalid"][1]["param"] == "voice"
        state = wait_finished(client, batch["id"])
        assert state["status"] == "failed" and (state["done"], state["failed"], state["total"]) == (2, 1, 3)
        rows = {row["id"]: row for row in state["jobs"]}
        assert rows["hello"]["status"] == "done" and rows["hello"]["duration_s"] == pytest.approx(0.5)
        assert rows["fails"]["status"] == "failed" and "refused" in rows["fails"]["error"]
        assert state["eta_s"] == 0
        listed = client.get("/v1/batches").json()["data"]
        assert [b["id"] for b in listed] == [batch["id"]] and "jobs" not in listed[0]
        download = client.get(f"/v1/batches/{batch['id']}/download")
        assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(download.content))
        assert sorted(archive.namelist()) == ["hello.wav", "manifest.jsonl", "two.mp3"]
        audio, rate = sf.read(io.BytesIO(archive.read("hello.wav")))
        assert rate == 24000 and len(audio) == 12000
        manifest = [json.loads(line) for line in archive.read("manifest.jsonl").decode().splitlines()]
        assert [(r["id"], r["status"]) for r in manifest] == [("hello", "done"), ("two", "done"), ("fails", "failed")]
    assert (settings.paths.outputs / "batches" / batch["id"] / "state.json").is_file()


def test_api_multipart_text_file_and_format_default(make_app):
    app, _ = make_app()
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        created = client.post("/v1/batches?format=flac", files={"file": ("story.txt", b"Para one.\n\nPara two.\n")})
        assert created.status_code == 202, created.text
        state = wait_finished(client, created.json()["id"])
        assert state["status"] == "done"
        assert [row["file"] for row in state["jobs"]] == ["line-0001.flac", "line-0003.flac"]


@pytest.mark.parametrize("body, content_type, status, message", [
    ("{bad\n[1]\n", "application/x-ndjson", 400, "line 1"),
    ("", "text/plain", 400, "no valid job"),
    ("Hello.", "application/xml", 415, "x-ndjson"),
    (json.dumps({"text": "Hi.", "speed": 99}), "application/x-ndjson", 400, "speed"),
])
def test_api_refuses_a_file_with_no_valid_job_naming_the_lines(make_app, body, content_type, status, message):
    app, _ = make_app()
    with serving(app) as url:
        answer = httpx.post(f"{url}/v1/batches", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert message in error["message"] and error["type"] == "invalid_request_error"


def test_api_refuses_an_oversized_upload_and_unknown_ids(make_app):
    from indextts.batch.jobs import MAX_FILE_BYTES

    app, _ = make_app()
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        big = client.post("/v1/batches", content=b"x" * (MAX_FILE_BYTES + 1),
                          headers={"Content-Type": "text/plain"})
        assert big.status_code == 413
        for path in ("/v1/batches/b20260101-000000-abcdef", "/v1/batches/..%2F..%2Fetc",
                     "/v1/batches/b20260101-000000-abcdef/download"):
            answer = client.get(path)
            assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found", path


def test_api_cancel_a_running_batch_then_partial_download_and_delete(make_app):
    app, settings = make_app(loader=lambda settings: FakeEngine(delay_s=0.1))
    body = jsonl(*({"id": f"j{i}", "text": "One. Two."} for i in range(30)))
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        batch_id = client.post("/v1/batches", content=body, headers={"Content-Type": "application/x-ndjson"}).json()["id"]
        assert wait_until(lambda: client.get(f"/v1/batches/{batch_id}").json()["done"] >= 2, 15, 0.05)
        running = client.get(f"/v1/batches/{batch_id}").json()
        assert running["status"] == "running" and running["eta_s"] > 0
        assert client.get(f"/v1/batches/{batch_id}/download").status_code == 409
        partial = client.get(f"/v1/batches/{batch_id}/download", params={"partial": 1})
        assert partial.status_code == 200 and "manifest.jsonl" in zipfile.ZipFile(io.BytesIO(partial.content)).namelist()
        assert client.delete(f"/v1/batches/{batch_id}").status_code == 200
        state = wait_finished(client, batch_id)
        assert state["status"] == "cancelled" and 2 <= state["done"] < 30
        # resuming renders only the rest
        done_before = state["done"]
        assert client.post(f"/v1/batches/{batch_id}/resume").status_code == 202
        state = wait_finished(client, batch_id, 30)
        assert state["status"] == "done" and state["done"] == 30
        rows = manifest_rows(settings.paths.outputs / "batches" / batch_id / "out")
        assert len(rows) == 30 and done_before >= 2
        assert client.delete(f"/v1/batches/{batch_id}").json()["status"] == "deleted"
        assert client.get(f"/v1/batches/{batch_id}").status_code == 404


def test_a_batch_left_running_is_interrupted_after_a_restart_and_can_resume(make_app):
    app, settings = make_app(loader=lambda settings: FakeEngine(delay_s=0.05))
    body = jsonl(*({"id": f"j{i}", "text": "One."} for i in range(5)))
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        batch_id = client.post("/v1/batches", content=body, headers={"Content-Type": "application/x-ndjson"}).json()["id"]
        wait_finished(client, batch_id)
    state_file = settings.paths.outputs / "batches" / batch_id / "state.json"
    state = json.loads(state_file.read_text())  # as a killed app leaves it: running, two jobs written
    state["status"] = "running"
    for row in state["jobs"][2:]:
        row["status"] = "pending"
    (settings.paths.outputs / "batches" / batch_id / "out" / "j4.wav").unlink()
    state_file.write_text(json.dumps(state))

    restarted, _ = make_app()  # a new app on the same folders
    with serving(restarted) as url, httpx.Client(base_url=url, timeout=30) as client:
        seen = client.get(f"/v1/batches/{batch_id}").json()
        assert seen["status"] == "interrupted" and "stopped" in seen["error"]
        assert client.post(f"/v1/batches/{batch_id}/resume").status_code == 202
        state = wait_finished(client, batch_id)
        assert state["status"] == "done" and state["done"] == 5
    assert (settings.paths.outputs / "batches" / batch_id / "out" / "j4.wav").is_file()


def test_speech_requests_answer_while_a_batch_runs(make_app):
    app, _ = make_app(loader=lambda settings: FakeEngine(delay_s=0.05))
    body = jsonl(*({"text": "One. Two. Three."} for _ in range(40)))
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        batch_id = client.post("/v1/batches", content=body, headers={"Content-Type": "application/x-ndjson"}).json()["id"]
        assert wait_until(lambda: client.get(f"/v1/batches/{batch_id}").json()["done"] >= 1, 10, 0.05)
        began = time.monotonic()
        speech = client.post("/v1/audio/speech", json={"input": "Hello.", "response_format": "wav"})
        assert speech.status_code == 200 and time.monotonic() - began < 2.0
        assert client.get(f"/v1/batches/{batch_id}").json()["status"] == "running"
        client.delete(f"/v1/batches/{batch_id}")


def test_service_is_shared_by_the_page_and_the_api(make_app):
    app, settings = make_app()
    holder = app.state.holder
    assert BatchService.of(settings, holder) is BatchService.of(settings, holder)


# ---------------------------------------------------------------- the real model

def test_live_server_batch_end_to_end(live_server):
    body = jsonl({"id": "en", "text": "The batch job speaks English.", "voice": "af_heart"},
                 {"id": "zh", "text": "批量任务也能说中文。", "format": "mp3"},
                 {"id": "bad", "text": "Hi.", "voice": "no_such_voice"})
    with httpx.Client(base_url=live_server.url, timeout=120) as client:
        created = client.post("/v1/batches", content=body, headers={"Content-Type": "application/x-ndjson"})
        assert created.status_code == 202, created.text
        batch = created.json()
        assert batch["jobs"] == 2 and batch["invalid"][0]["line"] == 3 and batch["invalid"][0]["param"] == "voice"
        state = wait_finished(client, batch["id"], 300)
        assert state["status"] == "done", state["error"] or state["jobs"]
        archive = zipfile.ZipFile(io.BytesIO(client.get(f"/v1/batches/{batch['id']}/download").content))
        assert sorted(archive.namelist()) == ["en.wav", "manifest.jsonl", "zh.mp3"]
        audio, rate = sf.read(io.BytesIO(archive.read("en.wav")))
        assert rate == 24000 and 1.0 < len(audio) / rate < 6.0 and np.abs(audio).max() > 0.05


@pytest.mark.slow
def test_cli_batch_writes_real_audio_and_resumes(tmp_path):
    source = tmp_path / "jobs.jsonl"
    source.write_text(jsonl({"id": "hello", "text": "Hello from the batch command.", "voice": "am_michael"},
                            {"id": "../bad", "text": "x"},
                            {"id": "second", "text": "A second short line.", "format": "flac"}))
    out = tmp_path / "out"
    env = {**os.environ, "INDEXTTS_ENGINE__DEVICE": "cpu", "INDEXTTS_ENGINE__THREADS": "2",
           "INDEXTTS_PATHS__PRESETS": str(tmp_path / "presets")}
    command = [sys.executable, "-m", "indextts", "batch", str(source), "--out", str(out)]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 1, first.stderr  # one bad line: the rest written, the exit code says so
    assert f"{source}:2:" in first.stderr and "cannot name a file" in first.stderr
    assert "2 written" in first.stdout
    audio, rate = sf.read(out / "hello.wav")
    assert rate == 24000 and len(audio) / rate > 1.0 and np.abs(audio).max() > 0.05
    assert sf.info(out / "second.flac").format == "FLAC"
    stamp = (out / "hello.wav").stat().st_mtime_ns

    source.write_text(jsonl({"id": "hello", "text": "Hello from the batch command.", "voice": "am_michael"},
                            {"id": "second", "text": "A second short line.", "format": "flac"}))
    second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert second.returncode == 0, second.stderr
    assert "0 written, 2 already done" in second.stdout
    assert (out / "hello.wav").stat().st_mtime_ns == stamp
    rows = manifest_rows(out)
    assert [(r["id"], r["status"]) for r in rows] == [("hello", "done"), ("second", "done")]


def test_cli_bad_file_exits_2(tmp_path):
    source = tmp_path / "jobs.jsonl"
    source.write_text("{nope\n")
    proc = subprocess.run([sys.executable, "-m", "indextts", "batch", str(source), "--out", str(tmp_path / "o")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no valid job" in proc.stderr and ":1:" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "indextts", "batch", str(source), "--out", str(tmp_path / "o"),
                           "--speed", "9"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "speed" in proc.stderr


def test_gradio_client_batch_with_the_fake_engine(make_app, tmp_path):
    from gradio_client import Client, handle_file

    source = tmp_path / "jobs.jsonl"
    source.write_text(jsonl({"id": "a", "text": "One."}, {"id": "b", "text": "Two. Three.", "format": "mp3"},
                            {"id": "bad id", "text": "x"}))
    app, _ = make_app()
    with serving(app) as url:
        client = Client(url, verbose=False)
        batch_id, status, table, archive = client.predict(handle_file(str(source)), "flac", "en", api_name="/batch")
        assert "done" in status and "1 bad line" in status
        assert [row[0] for row in table["data"]] == ["a", "b", ""] and "bad line" in table["data"][2][4]
        with zipfile.ZipFile(archive) as opened:
            assert sorted(opened.namelist()) == ["a.flac", "b.mp3", "manifest.jsonl"]
        listed = httpx.get(f"{url}/v1/batches").json()["data"]  # the page's batch is the API's too
        assert [b["id"] for b in listed] == [batch_id] and listed[0]["status"] == "done"


def test_the_page_serves_batch_zips_from_a_batches_folder_outside_the_outputs(make_app, tmp_path):
    batches = tmp_path / "elsewhere" / "batches"
    archive = batches / "b1" / "b1.zip"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip
    paths = {"outputs": str(tmp_path / "outputs"), "voices": str(tmp_path / "voices"), "logs": str(tmp_path / "logs"),
             "glossary": str(tmp_path / "glossary.yaml"), "presets": str(tmp_path / "presets"),
             "batches": str(batches)}
    app, _ = make_app(paths=paths)
    with serving(app) as url:
        served = httpx.get(f"{url}/gradio_api/file={archive}", timeout=30)
        assert served.status_code == 200 and served.content.startswith(b"PK"), served.status_code
        refused = httpx.get(f"{url}/gradio_api/file={tmp_path / 'elsewhere'}/other.txt", timeout=30)
        assert refused.status_code in (403, 404)
