"""Batches kept on disk for the API and the page, and the one worker thread that runs them.

One folder per batch under ``paths.batches`` (default ``<paths.outputs>/batches``)::

    <id>/input.jsonl | input.txt   the file as uploaded
    <id>/state.json                status, counts, times, the defaults, the bad lines, one row per job
    <id>/out/                      the outputs and manifest.jsonl (``runner.run_jobs``'s folder)

Status: queued -> running -> done (every job written) | failed (some jobs failed, or the model could not
load) | cancelled; ``interrupted``: the app stopped while the batch ran. On start, a batch found ``running``
is marked ``interrupted``, not resumed by itself: if the batch is what brought the app down (a job that
runs out of memory), resuming it at every start would bring it down again. ``resume`` (the API's ``POST
/v1/batches/{id}/resume``) queues it again, and the jobs already written are skipped. Queued batches
(never started) are run.

One batch runs at a time, in order of arrival, on one background thread; the page and the API share the
service of their app (``BatchService.of``), so a batch started on the page is listed at ``/v1/batches``.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import shutil
import threading
import time
import weakref
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from ..atomic import atomic_path
from ..config import Settings
from ..errors import InputError
from .jobs import MAX_FILE_BYTES, Job, JobList, Kind, check_defaults, guess_kind, parse_jobs
from .runner import MANIFEST, JobOutcome, run_jobs

log = logging.getLogger(__name__)

STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
FINISHED = ("done", "failed", "cancelled", "interrupted")
STATE = "state.json"
OUT = "out"


class BatchNotFound(InputError):
    """No batch with this id (a 404)."""


class BatchBusy(InputError):
    """The batch is queued or running, and the action needs it finished (a 409)."""


def batches_folder(settings: Settings) -> Path:
    """Where batches live: ``paths.batches``, else ``batches`` inside the outputs folder."""
    configured = getattr(settings.paths, "batches", None)
    return Path(configured) if configured else settings.paths.outputs / "batches"


def preset_store(settings: Settings) -> Any:
    """The app's presets (``paths.presets``), for lines that name one."""
    from ..presets import open_store

    return open_store(settings.paths.presets)


def new_batch_id() -> str:
    return datetime.now(timezone.utc).strftime("b%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def is_batch_id(text: str) -> bool:
    """Batch ids are ours (``new_batch_id``): anything else is refused before it can touch a path."""
    return (len(text) == 23 and text[0] == "b" and text[1:9].isdigit() and text[9] == "-"
            and text[10:16].isdigit() and text[16] == "-" and all(c in "0123456789abcdef" for c in text[17:]))


class BatchService:
    """Create, list, read, cancel, resume and delete batches; run them one at a time in a worker thread."""

    _services: "weakref.WeakKeyDictionary[Any, BatchService]" = weakref.WeakKeyDictionary()
    _services_lock = threading.Lock()

    def __init__(self, root: Path, holder: Any, max_chars: int, presets: Any = None) -> None:
        self.root = Path(root)
        self.presets = presets  # where a line's ``preset`` is looked up (a PresetStore), or None
        self.holder = holder
        self.max_chars = max_chars
        self._lock = threading.RLock()  # state.json writes and the running batch's in-memory progress
        self._queue: queue.Queue[str] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._running: str | None = None
        self._cancel = threading.Event()
        self._recover()

    @classmethod
    def of(cls, settings: Settings, holder: Any) -> "BatchService":
        """The app's one service (keyed by its engine holder: the API and the page get the same)."""
        with cls._services_lock:
            service = cls._services.get(holder)
            if service is None:
                service = cls(batches_folder(settings), holder, settings.engine.max_chars, preset_store(settings))
                cls._services[holder] = service
            return service

    # ------------------------------------------------------------ reading

    def preview(self, text: str, file_name: str | None = None, defaults: Mapping[str, Any] | None = None,
                kind: Kind | None = None) -> JobList:
        """The jobs and bad lines of a file, without creating a batch."""
        defaults = dict(defaults or {})
        check_defaults(defaults, self.max_chars)
        return parse_jobs(text, kind or guess_kind(text, file_name), defaults, self.max_chars, self._voice_check(),
                          self.presets)

    def list(self) -> list[dict[str, Any]]:
        """Every batch, newest first, without its job rows."""
        if not self.root.is_dir():
            return []
        found = []
        for folder in self.root.iterdir():
            if is_batch_id(folder.name) and (folder / STATE).is_file():
                state = self._read(folder.name)
                found.append({k: v for k, v in self._with_eta(state).items() if k not in ("jobs", "defaults")})
        return sorted(found, key=lambda s: s["id"], reverse=True)

    def get(self, batch_id: str) -> dict[str, Any]:
        return self._with_eta(self._read(batch_id))

    # ------------------------------------------------------------ changing

    def create(self, text: str, file_name: str | None = None, defaults: Mapping[str, Any] | None = None,
               kind: Kind | None = None) -> dict[str, Any]:
        """Check the file, keep it with its state, queue it; the new state (its bad lines under ``invalid``).
        A file with no valid job is an InputError listing the bad lines."""
        if len(text.encode("utf-8")) > MAX_FILE_BYTES:
            raise InputError(f"the batch file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; split it",
                             field="file")
        kind = kind or guess_kind(text, file_name)
        parsed = self.preview(text, file_name, defaults, kind)
        if not parsed.jobs:
            lines = "; ".join(str(bad) for bad in parsed.invalid[:10]) or "the file is empty"
            raise InputError(f"the batch has no valid job: {lines}", field="file")
        batch_id = new_batch_id()
        folder = self.root / batch_id
        (folder / OUT).mkdir(parents=True)
        with atomic_path(folder / f"input.{kind}") as tmp:
            tmp.write_text(text, encoding="utf-8")
        state = {"id": batch_id, "status": "queued", "kind": kind, "file_name": file_name,
                 "defaults": dict(defaults or {}), "created_at": _now(), "started_at": None, "finished_at": None,
                 "total": len(parsed.jobs), "done": 0, "failed": 0, "error": None,
                 "invalid": [bad.as_json() for bad in parsed.invalid],
                 "jobs": [{**job.describe(), "file": job.file_name, "status": "pending", "duration_s": None,
                           "error": None} for job in parsed.jobs]}
        self._write(state)
        self._enqueue(batch_id)
        return self.get(batch_id)

    def resume(self, batch_id: str) -> dict[str, Any]:
        """Queue a finished batch again: the jobs written are skipped, the failed and missing ones rendered."""
        with self._lock:
            state = self._read(batch_id)
            if state["status"] in ("queued", "running"):
                raise BatchBusy(f"batch {batch_id} is {state['status']} already", field="id")
            state.update(status="queued", finished_at=None, error=None)
            self._write(state)
        self._enqueue(batch_id)
        return self.get(batch_id)

    def cancel(self, batch_id: str) -> dict[str, Any]:
        """Stop a queued or running batch (a running job stops between two segments); the jobs written stay."""
        with self._lock:
            state = self._read(batch_id)
            if state["status"] == "running" and self._running == batch_id:
                self._cancel.set()  # the worker marks it cancelled when the job under way stops
            elif state["status"] in ("queued", "running"):
                state.update(status="cancelled", finished_at=_now())
                self._write(state)
        return self.get(batch_id)

    def delete(self, batch_id: str) -> None:
        """Remove a finished batch and its files."""
        with self._lock:
            state = self._read(batch_id)
            if state["status"] in ("queued", "running"):
                raise BatchBusy(f"batch {batch_id} is {state['status']}; cancel it first", field="id")
            shutil.rmtree(self.root / batch_id)

    def wait(self, batch_id: str, timeout_s: float) -> dict[str, Any]:
        """The batch's state once it has finished (or when ``timeout_s`` has passed)."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.get(batch_id)
            if state["status"] in FINISHED or time.monotonic() >= deadline:
                return state
            time.sleep(0.1)

    def zip_file(self, batch_id: str, partial: bool = False) -> Path:
        """A zip of the outputs written so far and manifest.jsonl (rebuilt when older than the manifest).
        BatchBusy while the batch is queued or running, unless ``partial``."""
        state = self._read(batch_id)
        if state["status"] in ("queued", "running") and not partial:
            raise BatchBusy(f"batch {batch_id} is {state['status']} ({state['done']}/{state['total']} done); "
                            f"download when it has finished, or ask for what is ready with ?partial=1", field="id")
        folder = self.root / batch_id
        out, target = folder / OUT, folder / f"{batch_id}.zip"
        manifest = out / MANIFEST
        if (target.exists() and state["status"] in FINISHED  # a finished batch's zip is kept until it changes
                and target.stat().st_mtime >= max(manifest.stat().st_mtime if manifest.exists() else 0,
                                                  (folder / STATE).stat().st_mtime)):
            return target
        files = [row["file"] for row in state["jobs"] if row["status"] == "done" and (out / row["file"]).is_file()]
        with atomic_path(target) as tmp:
            with zipfile.ZipFile(tmp, "w") as archive:
                for name in files:  # audio is compressed already (or PCM that deflate barely shrinks)
                    archive.write(out / name, name, compress_type=zipfile.ZIP_STORED)
                if manifest.exists():
                    archive.write(manifest, MANIFEST, compress_type=zipfile.ZIP_DEFLATED)
        return target

    # ------------------------------------------------------------ the worker

    def _enqueue(self, batch_id: str) -> None:
        self._queue.put(batch_id)
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="batch-worker", daemon=True)
                self._worker.start()

    def _work(self) -> None:
        while True:
            batch_id = self._queue.get()
            try:
                self._run(batch_id)
            except Exception:  # one batch's fault (its folder removed under it, a full disk) must not end the worker
                log.exception("batch %s failed", batch_id)
                self._finish(batch_id, "failed", "internal error; see the app's log")

    def _run(self, batch_id: str) -> None:
        with self._lock:
            try:
                state = self._read(batch_id)
            except BatchNotFound:  # deleted while queued
                return
            if state["status"] != "queued":  # cancelled while queued
                return
            self._running, self._cancel = batch_id, threading.Event()
            state.update(status="running", started_at=_now(), error=None)
            self._write(state)
        try:
            if not self.holder.wait():
                self._finish(batch_id, "failed", f"the model failed to load: {self.holder.error}")
                return
            parsed = self._jobs(state)
            rows = {row["id"]: row for row in state["jobs"]}
            # the jobs accepted when the batch was made (a line refused then, e.g. for an unknown voice, would
            # parse now: the voice is checked only while the model is loaded)
            jobs = [job for job in parsed.jobs if job.id in rows]
            started = time.monotonic()
            by_line = {row["line"]: row["id"] for row in state["jobs"]}
            for bad in parsed.invalid:  # valid when queued, not now (its preset was deleted since)
                if bad.line in by_line:
                    self._update(batch_id, by_line[bad.line], {"status": "failed", "error": bad.error})

            def on_start(job: Job, _index: int) -> None:
                self._update(batch_id, job.id, {"status": "running"})

            def on_job(outcome: JobOutcome, _index: int) -> None:
                status = "failed" if outcome.status == "failed" else "done"
                self._update(batch_id, outcome.job.id, {"status": status, "error": outcome.error,
                                                        "duration_s": outcome.row.get("duration_s"),
                                                        "seconds": round(outcome.seconds, 3)},
                             working_s=time.monotonic() - started if outcome.status != "skipped" else None)

            summary = run_jobs(jobs, self.root / batch_id / OUT, self.holder.engine, self._cancel, on_job, on_start)
            failed = self.get(batch_id)["failed"]
            if summary.cancelled:
                self._finish(batch_id, "cancelled", None)
            elif failed:
                self._finish(batch_id, "failed", f"{failed} of {len(rows)} jobs failed; see their rows")
            else:
                self._finish(batch_id, "done", None)
        finally:
            with self._lock:
                self._running = None

    def _jobs(self, state: dict[str, Any]) -> JobList:
        """The batch's jobs, read again from its input file with its defaults (ids from line numbers are
        the same every time)."""
        folder = self.root / state["id"]
        text = (folder / f"input.{state['kind']}").read_text(encoding="utf-8")
        return parse_jobs(text, state["kind"], state["defaults"], self.max_chars, presets=self.presets)

    def _update(self, batch_id: str, job_id: str, changes: dict[str, Any], working_s: float | None = None) -> None:
        with self._lock:
            state = self._read(batch_id)
            for row in state["jobs"]:
                if row["id"] == job_id:
                    row.update(changes)
            state["done"] = sum(row["status"] == "done" for row in state["jobs"])
            state["failed"] = sum(row["status"] == "failed" for row in state["jobs"])
            if working_s is not None:
                state["rendered_this_run"] = state.get("rendered_this_run", 0) + 1
                state["working_s"] = round(working_s, 3)
            self._write(state)

    def _finish(self, batch_id: str, status: str, error: str | None) -> None:
        with self._lock:
            try:
                state = self._read(batch_id)
            except BatchNotFound:
                return
            for row in state["jobs"]:
                if row["status"] == "running":
                    row["status"] = "pending"
            state.update(status=status, error=error, finished_at=_now())
            state.pop("rendered_this_run", None)
            state.pop("working_s", None)
            self._write(state)

    def _recover(self) -> None:
        """On start: a batch left ``running`` by a stopped app is ``interrupted``; queued ones are run."""
        if not self.root.is_dir():
            return
        queued = []
        for folder in sorted(self.root.iterdir()):
            if not (is_batch_id(folder.name) and (folder / STATE).is_file()):
                continue
            try:
                state = self._read(folder.name)
            except (OSError, ValueError) as exc:
                log.warning("batch %s: unreadable state (%s); left as it is", folder.name, exc)
                continue
            if state["status"] == "running":
                log.warning("batch %s was running when the app stopped: marked interrupted (%d/%d done); "
                            "POST /v1/batches/%s/resume finishes it", state["id"], state["done"], state["total"],
                            state["id"])
                self._finish(state["id"], "interrupted", "the app stopped while this batch ran; resume it to "
                                                         "render the rest (the files written are kept)")
            elif state["status"] == "queued":
                queued.append(state["id"])
        for batch_id in queued:
            self._enqueue(batch_id)

    def _voice_check(self):
        """Refuse unknown voices when the file is read, once the model is loaded (else they fail when run)."""
        if getattr(self.holder, "state", None) != "ready":
            return None
        from ..server.routes.speech import resolve_voice

        engine = self.holder.engine
        return lambda speech: resolve_voice(engine, speech) if speech.voice else None

    # ------------------------------------------------------------ files

    def _read(self, batch_id: str) -> dict[str, Any]:
        if not is_batch_id(batch_id):
            raise BatchNotFound(f"no batch {batch_id!r} (batch ids look like b20260101-120000-abc123)", field="id")
        try:
            return json.loads((self.root / batch_id / STATE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BatchNotFound(f"no batch {batch_id!r}; see GET /v1/batches", field="id") from None

    def _write(self, state: dict[str, Any]) -> None:
        with atomic_path(self.root / state["id"] / STATE) as tmp:
            tmp.write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")

    def _with_eta(self, state: dict[str, Any]) -> dict[str, Any]:
        """``state`` with ``eta_s``: the jobs left times the mean time of the jobs rendered in this run."""
        eta = None
        rendered = state.get("rendered_this_run", 0)
        if state["status"] == "running" and rendered:
            left = sum(row["status"] in ("pending", "running") for row in state["jobs"])
            eta = round(state["working_s"] / rendered * left, 1)
        elif state["status"] in FINISHED:
            eta = 0.0
        return {**state, "eta_s": eta}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
