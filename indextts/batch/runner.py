"""Running a batch's jobs in order into one folder: ``<id>.<format>`` per job and ``manifest.jsonl``.

The manifest has one JSON row per finished or failed job (what the file is, its duration, the options and
their hash, the error). A rerun on the same folder skips a job whose file exists and whose last row is a
success with the same options hash: an interrupted batch resumes where it stopped and a finished file is
never rewritten; a job whose text or options changed is rendered again. Every file is written to a temp
file and renamed into place, so a crash leaves the old file or the new one, never half of one.

A job is rendered as the speech API renders a request (the same helpers of ``server.routes.speech``), one
segment per pull, so a cancel stops it between two segments. Before each job the runner waits for one
ordinary (not urgent) turn on the model: segments already queued by interactive requests go first, so a
running batch delays an interactive request by at most the segment under way.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from ..atomic import atomic_path
from ..errors import InputError
from ..server.audio_codec import encode
from ..server.error_boundary import APIError
from ..server.routes.common import default_field
from ..server.routes.speech import emotion_spec, resolve_voice, scaled, start_speech, synthesis_request
from .jobs import Job

log = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"


class Cancelled(Exception):
    """The batch was cancelled while a job was being rendered (that job is left unwritten)."""


@dataclass(frozen=True)
class JobOutcome:
    """What became of one job: ``done`` (written now), ``skipped`` (written by an earlier run with the same
    options), ``failed`` (``error`` says why)."""

    job: Job
    status: str
    row: dict[str, Any]
    seconds: float = 0.0  # wall time spent on it in this run

    @property
    def error(self) -> str | None:
        return self.row.get("error")


@dataclass
class RunSummary:
    total: int
    done: int = 0
    skipped: int = 0
    failed: int = 0
    cancelled: bool = False
    audio_s: float = 0.0
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.cancelled


class Manifest:
    """``manifest.jsonl``: rows appended as jobs end; the last row of an id is its current state."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / MANIFEST
        self.rows: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            for number, raw in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    row = json.loads(raw)
                    self.rows[str(row["id"])] = row
                except (ValueError, KeyError, TypeError):  # a torn last line after a crash: that job reruns
                    log.warning("%s line %d is unreadable; its job will be rendered again", self.path, number)

    def finished(self, job: Job, folder: Path) -> bool:
        """Whether ``job``'s file was written by an earlier run with the same text and options."""
        row = self.rows.get(job.id)
        return (row is not None and row.get("status") == "done" and row.get("options_hash") == job.options_hash()
                and row.get("file") == job.file_name and (folder / job.file_name).is_file())

    def append(self, row: dict[str, Any]) -> None:
        self.rows[row["id"]] = row
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()

    def compact(self, order: Sequence[str]) -> None:
        """Rewrite with one row per id: the jobs' order first, then ids no longer in the file."""
        if not self.rows:
            return
        ids = [i for i in order if i in self.rows] + [i for i in self.rows if i not in set(order)]
        with atomic_path(self.path) as tmp:
            tmp.write_text("".join(json.dumps(self.rows[i], ensure_ascii=False) + "\n" for i in ids),
                           encoding="utf-8")


def run_jobs(jobs: Sequence[Job], folder: Path, engine: Any, cancel: threading.Event | None = None,
             on_job: Callable[[JobOutcome, int], None] | None = None,
             on_start: Callable[[Job, int], None] | None = None) -> RunSummary:
    """Render ``jobs`` in order into ``folder`` (see the module's docstring). ``on_start(job, index)`` and
    ``on_job(outcome, index)`` report progress; ``cancel`` stops the run between two segments (the job under
    way is left unwritten). A failed job is recorded and the run goes on."""
    folder.mkdir(parents=True, exist_ok=True)
    cancel = cancel or threading.Event()
    manifest = Manifest(folder)
    summary = RunSummary(total=len(jobs))
    began = time.perf_counter()
    try:
        for index, job in enumerate(jobs):
            if cancel.is_set():
                summary.cancelled = True
                break
            if manifest.finished(job, folder):
                outcome = JobOutcome(job, "skipped", manifest.rows[job.id])
            else:
                if on_start is not None:
                    on_start(job, index)
                started = time.perf_counter()
                try:
                    row = _render_job(job, folder, engine, cancel)
                except Cancelled:
                    summary.cancelled = True
                    break
                except (InputError, APIError) as exc:  # this line's request is wrong: say so, go on
                    row = _failed_row(job, str(exc) if isinstance(exc, InputError) else exc.message)
                except Exception as exc:  # an engine or disk fault on one job must not lose the others
                    log.exception("batch job %s (line %d) failed", job.id, job.line)
                    row = _failed_row(job, f"{type(exc).__name__}: {exc}")
                manifest.append(row)
                outcome = JobOutcome(job, row["status"], row, time.perf_counter() - started)
            if outcome.status == "failed":
                summary.failed += 1
                summary.errors.append(f"line {job.line} ({job.id}): {outcome.error}")
            else:
                setattr(summary, outcome.status, getattr(summary, outcome.status) + 1)
                summary.audio_s += float(outcome.row.get("duration_s") or 0.0)
            if on_job is not None:
                on_job(outcome, index)
    finally:
        manifest.compact([job.id for job in jobs])
        summary.elapsed_s = time.perf_counter() - began
    return summary


def _render_job(job: Job, folder: Path, engine: Any, cancel: threading.Event) -> dict[str, Any]:
    """One job as the speech API renders the same body, written atomically; its manifest row."""
    speech = job.speech
    with _ordinary_turn(engine):  # let interactive work already queued go first
        pass
    emotion = emotion_spec(speech)
    voice = resolve_voice(engine, speech)
    request = synthesis_request(speech, voice, emotion)
    with default_field("text"):
        made = list(_pull_until_cancelled(start_speech(engine, request), cancel))
    result = scaled(engine.join(made), speech.volume_multiplier)
    audio, _ = encode(result.audio, result.sample_rate, speech.response_format)
    with atomic_path(folder / job.file_name) as tmp:
        tmp.write_bytes(audio)
    return {"id": job.id, "line": job.line, "status": "done", "file": job.file_name, "format": job.format,
            "duration_s": round(result.duration_s, 3), "sample_rate": result.sample_rate, "bytes": len(audio),
            "voice_used": voice, "text": speech.input, "options": job.options(), "options_hash": job.options_hash(),
            "compute_s": round(result.compute_s, 3), "error": None, "finished_at": _now()}


def _pull_until_cancelled(segments: Iterator[Any], cancel: threading.Event) -> Iterator[Any]:
    try:
        for segment in segments:
            yield segment
            if cancel.is_set():
                raise Cancelled
    finally:
        close = getattr(segments, "close", None)
        if close is not None:  # the engine's request ends now: its remaining segments are never rendered
            close()


@contextlib.contextmanager
def _ordinary_turn(engine: Any) -> Iterator[None]:
    turn = getattr(engine, "model_turn", None)
    if turn is None:  # an engine without a shared model lock (a test double)
        yield
        return
    with turn(urgent=False):
        yield


def _failed_row(job: Job, error: str) -> dict[str, Any]:
    return {"id": job.id, "line": job.line, "status": "failed", "file": None, "format": job.format,
            "duration_s": None, "text": job.speech.input, "options": job.options(),
            "options_hash": job.options_hash(), "error": error, "finished_at": _now()}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
