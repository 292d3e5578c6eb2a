"""Is the app ready: a GET of /readyz, and the wait for it during a start."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

PROBE_TIMEOUT_S = 3.0
POLL_INTERVAL_S = 0.5
NOT_ANSWERING = 0  # the status code of a probe that got no HTTP answer

# The probe goes straight to the app on this machine, whatever proxy the environment names.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> tuple[int, bytes]:
    """(HTTP status, body) of a GET; (NOT_ANSWERING, b'') when nothing answers in time."""
    try:
        with _opener.open(url, timeout=timeout_s) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, ValueError):  # refused, reset, timed out, or not HTTP at all
        return NOT_ANSWERING, b""


def json_field(body: bytes, key: str) -> str:
    """A top-level field of a JSON object as text ('' when absent, null, or the body is no JSON object)."""
    try:
        value = json.loads(body).get(key)
    except (ValueError, AttributeError):
        return ""
    return "" if value is None else str(value)


def describe_state(url: str) -> str:
    """For --status: 'ready', the app's own word while it loads (/readyz 503 {"status": ...}), or
    'not answering'."""
    code, body = probe(url)
    if code == 200:
        return "ready"
    if code == 503:
        return json_field(body, "status") or "loading"
    return "not answering"


@dataclass(frozen=True)
class Outcome:
    """How a wait for readiness ended: ready, exited (the app's exit code), failed (the model did not load:
    /readyz said status "failed"; its error), or timeout (the last state seen)."""

    kind: str
    exit_code: int | None = None
    detail: str = ""


def wait_until_ready(url: str, port: int, exit_code: Callable[[], int | None], timeout_s: float,
                     interval_s: float = POLL_INTERVAL_S) -> Outcome:
    """Poll ``url`` until it answers 200, the app exits (``exit_code()`` is not None), it reports a failed
    model load, or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while True:
        code = exit_code()
        if code is not None:
            return Outcome("exited", exit_code=code)
        status, body = probe(url)
        if status == 200:
            return Outcome("ready")
        if status == 503:
            if json_field(body, "status") == "failed":
                return Outcome("failed", detail=json_field(body, "error"))
            last = "loading (/readyz 503)"
        elif status == NOT_ANSWERING:
            last = f"not answering on port {port}"
        else:
            last = f"/readyz answered HTTP {status}"
        if time.monotonic() >= deadline:
            return Outcome("timeout", detail=last)
        time.sleep(interval_s)
