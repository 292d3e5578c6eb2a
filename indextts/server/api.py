"""HTTP API: probes, metrics and an OpenAI-compatible speech endpoint, assembled from the route modules.

Routes (all JSON errors use OpenAI's shape {"error": {"message", "type", "param", "code"}}):

- ``GET  /healthz``, ``/health``  the process is alive (always 200)                         routes/probes.py
- ``GET  /readyz``           200 once the model is loaded and warm, else 503
- ``GET  /metrics``          Prometheus text
- ``GET  /v1/models``, ``/v1/models/{id}``, ``/v1/audio/models``  the accepted model names  routes/models.py
  (all one engine)
- ``GET  /v1/voices``        the voices, the default per language and the OpenAI voice-name table  routes/voices.py
- ``GET  /v1/audio/voices``  the voice list as Kokoro-style clients (Open WebUI) read it
- ``POST /v1/voices``, ``POST /v1/voices/blend``, ``DELETE /v1/voices/{name}``  the voice library
- ``POST /v1/audio/speech``  text -> audio (OpenAI's request body, plus ``lang`` and  routes/speech.py
  Kokoro-FastAPI's fields)
- ``POST /v1/audio/dub``  subtitles (SRT/WebVTT) -> one timed track; ``/v1/audio/dub/plan``  routes/dub.py
  the cue table (natural and target lengths) without rendering
- ``POST /v1/audio/dialogue``  several speakers' turns (JSON or a script) -> one track,  routes/dialogue.py
  the turn times in X-Dialogue-Turns (or JSON with ``timestamps``)
- ``GET  /v1/emotions``      the eight emotions, their prosody profiles and sources        routes/emotion.py
- ``POST /v1/emotion/resolve``  an emotion description -> the 8-dim vector it is read as
- ``POST /v1/text/phonemize``  text -> its segments and words as they will be read  routes/text.py
- ``GET  /v1/glossary`` (``?format=csv|yaml``: a file), ``POST /v1/glossary``, ``DELETE /v1/glossary/{term}``,
  ``POST /v1/glossary/import``  the readings the user sets, applied to every request
- ``POST /v1/batches`` (JSONL or text), ``GET /v1/batches``, ``GET /v1/batches/{id}``,    routes/batches.py
  ``GET /v1/batches/{id}/download`` (zip), ``POST /v1/batches/{id}/resume``, ``DELETE /v1/batches/{id}``:
  many speech jobs run in the background, kept on disk (``paths.batches``)
- ``GET  /v1/presets``, ``GET /v1/presets/{name}``, ``POST /v1/presets``,  routes/presets.py
  ``POST /v1/presets/{name}/rename``, ``DELETE /v1/presets/{name}``  named speech settings (``"preset"`` in a
  speech request fills the fields it did not set)

Model calls are blocking CPU/GPU work: they run in worker threads, never on the
event loop, behind an admission gate (``server.concurrency_limit`` running,
``server.max_queue`` waiting, beyond that 503 "queue is full"). Bodies are
limited while they are read: 413 before an oversized body is taken in. Routes raise;
``error_boundary`` answers and counts every error.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..config import Settings
from .engine_holder import EngineHolder
from .error_boundary import error_response, install_error_handlers
from .metrics import Metrics
from .outputs import OutputStore
from .routes import batches, dialogue, dub, emotion, models, presets, probes, speech, text, voices
from .routes.common import MODEL_ID, MODEL_NAMES, VERSION, RouteContext
from .routes.speech import SpeechRequest

__all__ = ["MODEL_ID", "MODEL_NAMES", "VERSION", "SpeechRequest", "build_router", "install_error_handlers"]

RESOURCES = (probes, models, voices, speech, dub, dialogue, emotion, text, presets, batches)
# Batches keep one queue and worker per process, with their state on disk: several replicas sharing the folder
# would each run (and on start, mark as interrupted) the others' batches. Replicas answer this instead.
SINGLE_PROCESS_ONLY = {batches: "/v1/batches"}


def build_router(holder: EngineHolder, settings: Settings, store: OutputStore, metrics: Metrics,
                 replica: bool = False) -> APIRouter:
    """Every API route, one module per resource; any other /v1 path is a 404 in OpenAI's shape (it comes
    last, so no resource's route is shadowed by it). ``replica``: the routes of one of several replicas
    (indextts/scale): the single-process-only resources answer 501 saying where they run."""
    context = RouteContext(holder, settings, store, metrics)
    router = APIRouter()
    for resource in RESOURCES:
        if replica and resource in SINGLE_PROCESS_ONLY:
            router.include_router(_single_process_only(SINGLE_PROCESS_ONLY[resource]))
            continue
        router.include_router(resource.build(context))

    @router.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def v1_unknown(rest: str) -> JSONResponse:
        return error_response(404, f"no such API route /v1/{rest}; see /v1/models, /v1/voices, "
                                   f"/v1/audio/speech (and /docs)", code="not_found")

    return router


def _single_process_only(prefix: str) -> APIRouter:
    router = APIRouter()

    @router.api_route(prefix, methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    @router.api_route(prefix + "/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                      include_in_schema=False)
    async def not_on_replicas(rest: str = "") -> JSONResponse:
        return error_response(501, f"{prefix} runs in the single-process app only (./start_app.sh without "
                                   f"--replicas): its queue and state are one process's", code="not_implemented")

    return router
