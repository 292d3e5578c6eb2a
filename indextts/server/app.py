"""One ASGI app: the HTTP API routes first, then the Gradio UI mounted at "/".

The engine loads in a background thread started by the app's lifespan, so the
page and the probes answer while the model loads (/readyz says 503 until the
engine is loaded and warmed up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from ..batch.store import batches_folder
from ..config import Settings
from .api import VERSION, build_router, install_error_handlers
from .auth import BasicAuthMiddleware
from .engine_holder import EngineHolder
from .metrics import Metrics, MetricsMiddleware
from .outputs import OutputStore

log = logging.getLogger(__name__)

PAGE_CACHE_MAX_AGE_S = 86400.0  # Gradio's copies of uploads and served audio are kept a day
PAGE_CACHE_CHECK_S = 3600.0
# response headers a cross-origin browser app may read (CORS hides all but a few simple ones)
EXPOSED_HEADERS = ["X-Output-Id", "X-Audio-Duration", "X-RTF", "X-Sample-Rate", "X-Text-Warning", "Retry-After",
                   "Content-Disposition"]


def gradio_temp_dir(settings: Settings):
    """Gradio's uploads and cached outputs: inside the app's outputs folder, never the system temp."""
    return settings.paths.outputs / ".gradio"


def prune_page_cache(folder: Path, max_age_s: float = PAGE_CACHE_MAX_AGE_S) -> int:
    """Delete the page's temporary copies older than ``max_age_s`` and the folders this empties; returns
    how many files went. Gradio's own ``delete_cache`` tracks none of the copies this page makes
    (measured: 0 files tracked at shutdown), and the generations themselves live in the OutputStore."""
    cutoff = time.time() - max_age_s
    removed, touched = 0, set()
    for path in list(folder.rglob("*")):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
                touched.add(path.parent)
        except OSError:  # in use or already gone: the next pass gets it
            continue
    for parent in sorted(touched - {folder}, reverse=True):  # deepest first; never one Gradio just made
        with contextlib.suppress(OSError):  # not empty (a new copy arrived): kept
            parent.rmdir()
    return removed


async def _prune_page_cache_every(folder: Path, every_s: float) -> None:
    while True:
        removed = await asyncio.to_thread(prune_page_cache, folder)
        if removed:
            log.info("page cache: removed %d temporary file(s) older than a day", removed)
        await asyncio.sleep(every_s)


def create_app(settings: Settings, holder: EngineHolder | None = None) -> FastAPI:
    holder = holder or EngineHolder(settings)
    temp_dir = gradio_temp_dir(settings)
    temp_dir.mkdir(parents=True, exist_ok=True)
    # Read by Gradio when components are built (and, for a few routes, at import): set before both.
    os.environ["GRADIO_TEMP_DIR"] = str(temp_dir)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network calls from a local app

    import gradio as gr

    from .ui import build_ui

    store = OutputStore(settings)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        holder.start()
        pruner = asyncio.create_task(_prune_page_cache_every(temp_dir, PAGE_CACHE_CHECK_S))
        try:
            yield
        finally:
            pruner.cancel()
            await asyncio.to_thread(holder.close)  # background work ends between model turns, not mid-call

    app = FastAPI(title="IndexTTS WebUI API", version=VERSION, lifespan=lifespan,
                  description="Local text-to-speech (Kokoro-82M). OpenAI-compatible /v1/audio/speech.")
    install_api(app, settings, holder, store, metrics)  # before the mount: "/" catches all

    server = settings.server
    blocks = build_ui(holder, settings, store, metrics)
    gr.mount_gradio_app(
        app, blocks, path="/",
        server_name=server.bind_host, server_port=server.port,
        max_file_size=f"{server.max_upload_mb}mb",
        # the batches folder too: the Batch tab hands out its zip from there (outside outputs when configured so)
        allowed_paths=[str(settings.paths.outputs), str(settings.paths.voices), str(batches_folder(settings))],
        blocked_paths=[str(settings.paths.cache_hub), str(settings.paths.logs)],
        ssr_mode=False, enable_monitoring=False, mcp_server=False,
    )
    if server.listen and not (server.auth_user and server.auth_password):
        log.warning("listening on the LAN WITHOUT auth (--no-auth): anyone on the network can use this app")
    add_edge_middleware(app, settings, metrics)  # Gradio sees the CORS middleware and leaves CORS to it
    return app


def install_api(app: FastAPI, settings: Settings, holder: EngineHolder, store: OutputStore, metrics: Metrics,
                replica: bool = False) -> None:
    """The API on ``app``: its state (read by the routes), the error boundary and the routes (``replica``:
    as a Ray Serve replica serves them, see ``build_router``)."""
    app.state.settings = settings
    app.state.holder = holder
    app.state.store = store
    app.state.metrics = metrics
    install_error_handlers(app, metrics)  # app-level: the routes raise, the boundary answers and counts
    app.include_router(build_router(holder, settings, store, metrics, replica=replica))


def add_edge_middleware(app: FastAPI, settings: Settings, metrics: Metrics,
                        exposed_headers: Sequence[str] = EXPOSED_HEADERS) -> None:
    """Basic auth (when a user and password are set), CORS (when origins are) and the request metrics, in that
    order from the inside out: CORS outside auth (a browser's preflight carries no credentials, and a 401 must be
    readable too), metrics outermost (it counts 401s too)."""
    server = settings.server
    if server.auth_user and server.auth_password:
        app.add_middleware(BasicAuthMiddleware, user=server.auth_user,
                           password=server.auth_password.get_secret_value())
    if server.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(server.cors_origins), allow_methods=["*"],
                           allow_headers=["*"], expose_headers=list(exposed_headers),
                           allow_credentials="*" not in server.cors_origins)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
