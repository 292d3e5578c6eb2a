"""Batches: many speech jobs from one JSONL (or plain-text) file, run in the background, kept on disk.

- ``POST /v1/batches``  the file as the raw body (``application/x-ndjson``, ``application/jsonl`` or
  ``text/plain``) or a multipart ``file``; ``?format=`` the format of lines that set none (default wav),
  ``?voice=`` the voice of lines that set none. 202 ``{"id", "status", "jobs", "invalid": [{"line",
  "error", "param"}], ...}``; a file with no valid job is a 400 listing its bad lines.
- ``GET /v1/batches``  every batch (newest first); ``GET /v1/batches/{id}``  status, done/failed/total,
  ``eta_s`` and one row per job.
- ``GET /v1/batches/{id}/download``  a zip of the outputs and manifest.jsonl; 409 while the batch is queued
  or running, unless ``?partial=1`` (what is written so far).
- ``POST /v1/batches/{id}/resume``  queue a finished, cancelled or interrupted batch again (written jobs are
  skipped). ``DELETE /v1/batches/{id}``  cancel a queued or running batch; a finished one is removed.

Limits: ``batch.jobs.MAX_JOBS`` jobs and ``MAX_FILE_BYTES`` per file (413 past it), each text within
``engine.max_chars``. One batch runs at a time (``batch.store.BatchService``); its jobs take ordinary
model turns, so interactive speech requests stay responsive while it runs.
"""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse

from ...batch.jobs import MAX_FILE_BYTES, Kind
from ...batch.store import BatchBusy, BatchNotFound, BatchService
from ...errors import InputError
from ..error_boundary import APIError, BodyTooLarge
from .common import RouteContext, limited_body

ROUTE = "/v1/batches"
JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/json")
FORM_TYPES = ("multipart/form-data",)
FORM_OVERHEAD_BYTES = 64 * 1024


def build(context: RouteContext) -> APIRouter:
    router = APIRouter()
    service = BatchService.of(context.settings, context.holder)
    too_large = f"the batch file is larger than {MAX_FILE_BYTES // 2**20} MiB; split it into several batches"

    def found(action, *args: Any) -> Any:
        """``action(*args)`` with a missing batch as a 404 and a busy one as a 409."""
        try:
            return action(*args)
        except BatchNotFound as exc:
            raise APIError(404, str(exc), param="id", code="not_found", kind="not_found") from None
        except BatchBusy as exc:
            raise APIError(409, str(exc), param="id", code="conflict", kind="conflict") from None

    @router.post(ROUTE, tags=["batches"], status_code=202, openapi_extra={"requestBody": {"content": {
        "application/x-ndjson": {"schema": {"type": "string"}}, "text/plain": {"schema": {"type": "string"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {
            "type": "string", "format": "binary"}}}}}}})
    async def create_batch(request: Request, format: str | None = None, voice: str | None = None) -> JSONResponse:
        """Queue a batch: one job per JSONL line ``{"id", "text", ...speech options}`` or per paragraph of
        plain text. Answers 202 with the batch id and the lines that are not jobs (with their numbers)."""
        text, file_name, kind = await read_batch_file(request, too_large)
        defaults = {k: v for k, v in (("format", format), ("voice", voice)) if v is not None}
        state = await to_thread.run_sync(lambda: service.create(text, file_name, defaults, kind))
        return JSONResponse(summary(state), status_code=202, headers={"Location": f"{ROUTE}/{state['id']}"})

    @router.get(ROUTE, tags=["batches"])
    async def list_batches() -> dict[str, Any]:
        """Every batch, newest first: id, status, counts, times (no job rows)."""
        return {"object": "list", "data": await to_thread.run_sync(service.list)}

    @router.get(ROUTE + "/{batch_id}", tags=["batches"])
    async def get_batch(batch_id: str) -> dict[str, Any]:
        """The batch's status (queued, running, done, failed, cancelled, interrupted), counts, ``eta_s`` and
        one row per job (id, line, text start, options, status, duration_s, error)."""
        return found(service.get, batch_id)

    @router.get(ROUTE + "/{batch_id}/download", tags=["batches"], response_class=FileResponse)
    async def download_batch(batch_id: str, partial: bool = False) -> FileResponse:
        """A zip of the outputs and manifest.jsonl. 409 while the batch runs, unless ``?partial=1``."""
        path = await to_thread.run_sync(lambda: found(service.zip_file, batch_id, partial))
        return FileResponse(path, media_type="application/zip", filename=f"{batch_id}.zip")

    @router.post(ROUTE + "/{batch_id}/resume", tags=["batches"], status_code=202)
    async def resume_batch(batch_id: str) -> dict[str, Any]:
        """Queue the batch again: jobs already written (same options) are skipped, the rest rendered."""
        return summary(found(service.resume, batch_id))

    @router.delete(ROUTE + "/{batch_id}", tags=["batches"])
    async def delete_batch(batch_id: str) -> dict[str, Any]:
        """Cancel a queued or running batch (its status becomes cancelled; the files written stay), or remove
        a finished one with its files."""
        state = found(service.get, batch_id)
        if state["status"] in ("queued", "running"):
            return summary(found(service.cancel, batch_id))
        await to_thread.run_sync(lambda: found(service.delete, batch_id))
        return {"id": batch_id, "status": "deleted"}

    return router


def summary(state: dict[str, Any]) -> dict[str, Any]:
    """A batch's answer to create/resume/cancel: the state, with ``jobs`` the count (the rows are at GET)."""
    return {**{k: v for k, v in state.items() if k not in ("jobs", "defaults")}, "jobs": state["total"]}


async def read_batch_file(request: Request, too_large: str) -> tuple[str, str | None, Kind | None]:
    """The uploaded file's text, its name (multipart) and its kind when the content type says it."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in FORM_TYPES:
        body = limited_body(request, MAX_FILE_BYTES + FORM_OVERHEAD_BYTES, too_large, "file")
        try:
            form = await body.form(max_files=1, max_fields=4)
        except BodyTooLarge:
            raise
        except Exception as exc:  # malformed multipart bodies raise several parser errors
            raise InputError(f"send multipart/form-data with the batch as 'file' ({exc})", field="file") from None
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise InputError("'file' (the .jsonl or .txt batch file) is required", field="file")
            data, file_name = await upload.read(), upload.filename
        finally:
            await form.close()
        kind = None
    elif content_type in (*JSONL_TYPES, "text/plain"):
        data = await limited_body(request, MAX_FILE_BYTES, too_large, "file").body()
        file_name = None
        kind = "jsonl" if content_type in JSONL_TYPES else None  # text/plain: JSONL if it starts with {
    else:
        raise APIError(415 if content_type else 400,
                       f"send the batch file as application/x-ndjson or text/plain (or multipart 'file'); got "
                       f"{content_type or 'no content type'!r}", code="unsupported_media_type",
                       kind="invalid_request")
    try:
        return data.decode("utf-8-sig"), file_name, kind
    except UnicodeDecodeError as exc:
        raise InputError(f"the batch file is not UTF-8 text ({exc})", field="file") from None
