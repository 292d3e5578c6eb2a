"""Loads the engine in a background thread so the servers answer while the model loads."""

from __future__ import annotations

import logging
import threading
from typing import Callable

from ..config import Settings
from ..engine import Engine
from ..errors import IndexTTSError

log = logging.getLogger(__name__)


class EngineNotReady(IndexTTSError):
    """The engine is still loading (or failed to load); the message says which. ``loading``: it is on its
    way, so a retry in a few seconds can succeed (after a failed load it cannot)."""

    def __init__(self, message: str, loading: bool = False) -> None:
        super().__init__(message)
        self.loading = loading


class EngineHolder:
    """One engine per process: ``start()`` once, then ``engine`` when ``ready``."""

    def __init__(self, settings: Settings, loader: Callable[[Settings], Engine] = Engine.load) -> None:
        self.settings = settings
        self._loader = loader
        self._engine: Engine | None = None
        self._error: str | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._load, name="engine-loader", daemon=True)
            self._thread.start()

    def _load(self) -> None:
        try:
            self._engine = self._loader(self.settings)
        except Exception as exc:  # any load failure must reach /readyz and the UI, not kill the server
            log.exception("engine failed to load")
            self._error = str(exc) if isinstance(exc, IndexTTSError) else f"{type(exc).__name__}: {exc}"
        finally:
            self._done.set()

    @property
    def state(self) -> str:
        """'loading', 'ready' or 'failed'."""
        if not self._done.is_set():
            return "loading"
        return "ready" if self._engine is not None else "failed"

    @property
    def error(self) -> str | None:
        return self._error

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading ends; True if the engine is ready."""
        self._done.wait(timeout)
        return self.state == "ready"

    def close(self) -> None:
        """Stop the engine's background work (if it loaded); the process can then exit cleanly."""
        close = getattr(self._engine, "close", None)
        if close is not None:
            close()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            if self.state == "failed":
                raise EngineNotReady(f"the model failed to load: {self._error}")
            raise EngineNotReady("the model is still loading; try again in a few seconds", loading=True)
        return self._engine
