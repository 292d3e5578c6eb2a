"""What the route modules share: the server's parts (``RouteContext``), the admission gate, reading a
request body within its limit, and the time limit. Errors are raised, never answered, here: the error
boundary (``..error_boundary``) answers them."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import tomllib
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterator, NoReturn, Sequence, TypeVar, get_args

from anyio import to_thread
from fastapi import Request
from pydantic import BaseModel, ValidationError

from ...config import PROJECT_ROOT, Settings
from ...engine import Engine
from ...errors import Cancelled, InputError
from ..engine_holder import EngineHolder
from ..error_boundary import APIError, BodyTooLarge, QueueFull, describe_body_error
from ..metrics import Metrics
from ..outputs import OutputStore

MODEL_ID = "kokoro-82m"
# Every name is accepted and served by the same engine (one model per process);
# the OpenAI names exist so unmodified OpenAI clients work.
MODEL_NAMES = (MODEL_ID, "kokoro", "indextts", "tts-1", "tts-1-hd", "gpt-4o-mini-tts")
MAX_BODY_BYTES = 1024 * 1024  # a JSON request body; the text limit (engine.max_chars) is far below this
DISCONNECT_POLL_S = 0.5  # how often a running voice fit looks whether its client is still there

Body = TypeVar("Body", bound=BaseModel)
T = TypeVar("T")
log = logging.getLogger(__name__)


def project_version() -> str:
    try:
        with open(PROJECT_ROOT / "pyproject.toml", "rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


VERSION = project_version()


class Admission:
    """At most ``limit`` generations run at once and ``max_queue`` wait; more are turned away."""

    def __init__(self, limit: int, max_queue: int, metrics: Metrics) -> None:
        self.limit = limit
        self.max_queue = max_queue
        self.metrics = metrics
        self.running = 0
        self.waiting = 0
        self._semaphore: asyncio.Semaphore | None = None

    async def enter(self, timeout_s: float | None = None) -> None:
        """Wait for a slot (raises QueueFull when too many wait, TimeoutError after ``timeout_s``);
        pair with ``leave``."""
        if self._semaphore is None:  # created inside the server's event loop
            self._semaphore = asyncio.Semaphore(self.limit)
        if self.running >= self.limit and self.waiting >= self.max_queue:
            raise QueueFull(f"the queue is full ({self.max_queue} requests waiting); try again shortly")
        self.waiting += 1
        self.metrics.queue_depth.set(self.waiting)
        try:
            async with asyncio.timeout(timeout_s):
                await self._semaphore.acquire()
        finally:
            self.waiting -= 1
            self.metrics.queue_depth.set(self.waiting)
        self.running += 1
        self.metrics.in_progress.set(self.running)

    def leave(self) -> None:
        """Give the slot back (synchronous, so it also runs in a cancelled streaming response)."""
        self.running -= 1
        self.metrics.in_progress.set(self.running)
        self._semaphore.release()

    @asynccontextmanager
    async def slot(self, timeout_s: float | None = None) -> AsyncIterator[None]:
        await self.enter(timeout_s)
        try:
            yield
        finally:
            self.leave()


@dataclass
class RouteContext:
    """The server's parts every route module is built with (one per app)."""

    holder: EngineHolder
    settings: Settings
    store: OutputStore
    metrics: Metrics
    admission: Admission = field(init=False)

    def __post_init__(self) -> None:
        server = self.settings.server
        self.admission = Admission(server.concurrency_limit, server.max_queue, self.metrics)

    def engine(self) -> Engine:
        """The loaded engine (EngineNotReady while it loads or after a failed load: a 503)."""
        return self.holder.engine

    def time_left(self, started: float) -> float | None:
        """Seconds left of ``server.request_timeout_s`` for a request that arrived at ``started``;
        None: no limit."""
        limit = self.settings.server.request_timeout_s
        return limit - (time.monotonic() - started) if limit else None

    def out_of_time(self, started: float) -> bool:
        left = self.time_left(started)
        return left is not None and left <= 0

    async def keep_output(self, result: Any, record: dict[str, Any], route: str) -> Any:
        """Save a generation in the output store and count it; a storage failure (disk full, permissions) is
        logged and counted for ``route``, never the caller's problem: None then, else the saved output."""
        self.metrics.observe_generation(result.duration_s, result.rtf, "api")
        try:
            return await to_thread.run_sync(self.store.save, result, record)
        except OSError as exc:
            self.metrics.count_error(route, "storage")
            log.error("could not save output: %s", exc)
            return None

    async def run_cancellable(self, request: Request, started: float, work: Callable[[threading.Event], T],
                              what: str) -> T:
        """``work(cancel)`` in a worker thread behind the admission gate, for long jobs that look at ``cancel``
        between steps (a voice fit, a dubbing track): set when the client goes away or
        ``server.request_timeout_s`` (from ``started``) passes, answered 499 or 504 naming ``what``."""
        cancel = threading.Event()
        watcher = asyncio.create_task(cancel_when_abandoned(request, cancel, lambda: self.out_of_time(started)))
        try:
            async with self.admission.slot(timeout_s=self.time_left(started)):
                return await to_thread.run_sync(lambda: work(cancel))
        except TimeoutError:
            raise APIError(504, "no slot came free within server.request_timeout_s", code="timeout",
                           kind="timeout") from None
        except Cancelled:
            if not cancel.is_set():  # the engine is shutting down: the error boundary's 503
                raise
            if self.out_of_time(started):
                raise APIError(504, f"the {what} ran longer than server.request_timeout_s "
                                    f"({self.settings.server.request_timeout_s:g} s) and was stopped",
                               code="timeout", kind="timeout") from None
            log.info("%s stopped: the client closed the connection", what)
            raise APIError(499, f"the client closed the connection; the {what} was stopped",
                           code="client_closed", kind="cancelled") from None
        finally:
            cancel.set()  # ends the watcher
            watcher.cancel()


@contextmanager
def default_field(name: str) -> Iterator[None]:
    """An InputError raised inside that names no field is about ``name`` (the engine's name for it): the
    field the call was given, when the error does not say which of its inputs is wrong."""
    try:
        yield
    except InputError as exc:
        if exc.field is None:
            exc.field = name
        raise


def limited_body(request: Request, limit: int, too_large: str, field: str | None = None) -> Request:
    """``request`` whose body, however it is read (``form()``, ``stream()``), stops with BodyTooLarge
    (``too_large``, about ``field``) once more than ``limit`` bytes have come in: refused at once when the
    declared Content-Length is over, and also a chunked body that declared no length."""
    if (declared_length(request) or 0) > limit:
        raise BodyTooLarge(too_large, field)
    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(too_large, field)
        return message

    return Request(request.scope, receive)


def declared_length(request: Request) -> int | None:
    """The Content-Length the client declared (None without one, or an unreadable one)."""
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def lone_surrogate(value: Any, where: str = "") -> tuple[str, int, str] | None:
    """The first string in a parsed JSON body (keys included) holding half a UTF-16 surrogate pair, which
    JSON's \\ud800 escapes can carry but no text can encode: (field, position, the code point), else None."""
    if isinstance(value, str):
        for position, char in enumerate(value):
            if "\ud800" <= char <= "\udfff":
                return where or "body", position, f"U+{ord(char):04X}"
        return None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        name = f"{where}.{key}" if where else str(key)
        found = lone_surrogate(key, name) if isinstance(key, str) else None
        found = found or lone_surrogate(item, name)
        if found:
            return found
    return None


async def read_json(request: Request, expects: str = "'input'") -> dict[str, Any]:
    """The body as a JSON object (``expects``: the fields the route takes, for the message), read
    no further than MAX_BODY_BYTES, with no lone surrogate in any string."""

    def bad(status: int, message: str, code: str, param: str | None = None) -> NoReturn:
        raise APIError(status, message, param=param, code=code, kind="invalid_request")

    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        bad(415 if content_type else 400, f"send a JSON body with 'Content-Type: application/json' "
                                          f"(got {content_type or 'no content type'!r})", "unsupported_media_type")
    raw = await limited_body(request, MAX_BODY_BYTES,
                             f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB").body()
    try:
        body = json.loads(raw)
        found = lone_surrogate(body)
    except (ValueError, UnicodeDecodeError) as exc:
        bad(400, f"the body is not valid JSON: {exc}", "invalid_json")
    except RecursionError:
        bad(400, "the JSON body is nested too deeply", "invalid_json")
    if not isinstance(body, dict):
        bad(400, f"the JSON body must be an object with {expects} (got {type(body).__name__})", "invalid_json")
    if found:  # it would fail only after the work, when the text is written as UTF-8
        name, position, code_point = found
        name = name.encode("utf-8", "backslashreplace").decode("utf-8")  # a key may hold it too
        bad(400, f"'{name}' holds an unpaired UTF-16 surrogate ({code_point}) at position {position}; "
                 f"send valid Unicode text (in JSON a character beyond U+FFFF is a pair of \\u escapes, "
                 f"never half of one)", "invalid_value", name)
    return body


def parse_body(model: type[Body], body: dict[str, Any]) -> Body:
    """``body`` as ``model``; a 400 naming the first field that is wrong (an unknown field's message lists
    the fields of the object it was sent in: a dialogue turn's, not the body's)."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors()
        accepted = tuple(fields_at(model, errors[0].get("loc", ())[:-1]).model_fields) if errors else ()
        message, param = describe_body_error(errors, accepted)
        raise APIError(400, message, param=param, code="invalid_value", kind="invalid_request") from None


def fields_at(model: type[BaseModel], location: Sequence[Any]) -> type[BaseModel]:
    """The model of the object at ``location`` inside ``model`` (("turns", 0) -> the turn model): list indexes
    and dict keys skipped, each field's annotation searched for a model; ``model`` where none is found."""
    current = model
    for part in location:
        info = current.model_fields.get(part) if isinstance(part, str) else None
        if info is None:
            continue
        pending, found = [info.annotation], None
        while pending and found is None:
            kind = pending.pop()
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                found = kind
            pending.extend(get_args(kind))
        if found is None:
            return current
        current = found
    return current


async def cancel_when_abandoned(request: Request, cancel: threading.Event, out_of_time: Callable[[], bool]) -> None:
    """Set ``cancel`` once the client has gone or the time is up (runs beside a blocking call)."""
    while not cancel.is_set():
        if out_of_time() or await request.is_disconnected():
            cancel.set()
            return
        await asyncio.sleep(DISCONNECT_POLL_S)


def once(action: Callable[[], None]) -> Callable[[], None]:
    """``action`` wrapped to run at most once, however many paths call it."""
    done = False

    def run() -> None:
        nonlocal done
        if not done:
            done = True
            action()
    return run
