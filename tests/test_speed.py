"""Speed through the API: per-request work outside the model stays small, and the int8 text reader (ALBERT)
keeps the float model's durations and audio."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone

import pytest
from test_api import make_app  # noqa: F401 (the in-process app fixture)


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
