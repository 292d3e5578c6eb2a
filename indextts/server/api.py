"""HTTP API: probes, metrics and an OpenAI-compatible speech endpoint.

Routes (all JSON errors use OpenAI's shape {"error": {"message", "type", "param", "code"}}):

- ``GET  /healthz``, ``/health``  the process is alive (always 200)
- ``GET  /readyz``           200 once the model is loaded and warm, else 503
- ``GET  /metrics``          Prometheus text
- ``POST /v1/audio/speech``  text -> audio (OpenAI's request body, plus ``lang`` and Kokoro-FastAPI's fields)
- ``GET  /v1/voices``        the voices, the default per language and the OpenAI voice-name table
- ``GET  /v1/audio/voices``  the voice list as Kokoro-style clients (Open WebUI) read it
- ``GET  /v1/models``, ``/v1/models/{id}``, ``/v1/audio/models``  the accepted model names (all one engine)
- ``GET  /v1/emotions``      the eight emotions, their prosody profiles and sources
- ``POST /v1/emotion/resolve``  an emotion description -> the 8-dim vector it is read as
- ``POST /v1/voices``, ``POST /v1/voices/blend``, ``DELETE /v1/voices/{name}``  the voice library

Model calls are blocking CPU/GPU work: they run in worker threads, never on the
event loop, behind an admission gate (``server.concurrency_limit`` running,
``server.max_queue`` waiting, beyond that 503 "queue is full"). A generation is
pulled one segment per worker-thread call, so between two segments it stops when
its client has gone or ``server.request_timeout_s`` has passed (504). Bodies are
limited while they are read: 413 before an oversized body is taken in.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import threading
import time
import tomllib
import weakref
from contextlib import asynccontextmanager
from dataclasses import asdict, replace
from typing import Any, AsyncIterator, Callable, Literal, NoReturn
from urllib.parse import quote

import numpy as np
from anyio import to_thread
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..config import PROJECT_ROOT, Settings
from ..audio import limit_peak
from ..engine import LANGS, SPEED_RANGE, SynthesisResult
from ..model import SAMPLE_RATE
from ..emotion import EMOTIONS, PROFILES, resolve_text, spec_from_request
from ..errors import Cancelled, InputError
from ..text.coverage import find_unreadable
from ..voice_library import check_name
from ..voices import OPENAI_VOICES
from .audio_codec import PCM_MEDIA_TYPE, RESPONSE_FORMATS, STREAM_FORMATS, encode, wav_stream_header
from .engine_holder import EngineHolder, EngineNotReady
from .metrics import Metrics
from .outputs import OutputStore

log = logging.getLogger(__name__)

MODEL_ID = "kokoro-82m"
# Every name is accepted and served by the same engine (one model per process);
# the OpenAI names exist so unmodified OpenAI clients work.
MODEL_NAMES = (MODEL_ID, "kokoro", "indextts", "tts-1", "tts-1-hd", "gpt-4o-mini-tts")
DEFAULT_FORMAT = "mp3"  # OpenAI's default, so drop-in clients get what they expect
RETRY_AFTER_S = 5
MAX_BODY_BYTES = 1024 * 1024  # a JSON request body; the text limit (engine.max_chars) is far below this
FORM_OVERHEAD_BYTES = 64 * 1024  # a voice upload's multipart framing and small fields, beyond the clip itself
DISCONNECT_POLL_S = 0.5  # how often a running voice fit looks whether its client is still there


def project_version() -> str:
    try:
        with open(PROJECT_ROOT / "pyproject.toml", "rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


VERSION = project_version()


class SpeechRequest(BaseModel):
    """OpenAI's /v1/audio/speech body, plus ``lang``. Unknown fields are rejected (typos fail loudly)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(MODEL_ID, description=f"one of {', '.join(MODEL_NAMES)}; all use the same engine")
    input: str = Field(..., description="the text to speak (at most engine.max_chars characters)")
    voice: str | None = Field(None, description="a voice id from /v1/audio/voices, an OpenAI voice name, or a mix "
                                                 "such as af_bella+af_sky or af_bella(2)+af_sky(1); default: the "
                                                 "default voice of the text's language")
    speed: float = Field(1.0, description=f"{SPEED_RANGE[0]}-{SPEED_RANGE[1]}, as OpenAI allows")
    response_format: str = Field(DEFAULT_FORMAT, description=f"one of {', '.join(RESPONSE_FORMATS)}")
    lang: str = Field("auto", description="auto (per sentence), en or zh")
    lang_code: str | None = Field(None, description="Kokoro's language letter, as Kokoro-FastAPI takes it: a or b "
                                                    "(English), z (Mandarin); the same as lang en/zh")
    volume_multiplier: float = Field(1.0, description="0.1-4: loudness factor applied to the audio (peaks limited)")
    instructions: str | None = Field(None, description="how to speak (OpenAI's field): emotion words in it drive "
                                                       "the emotion as emotion_text would, when no emotion field "
                                                       "is given; without emotion words it changes nothing")
    stream_format: Literal["audio"] | None = Field(None, description="only 'audio' (no SSE streaming)")
    stream: bool = Field(False, description="send the audio as it is made (chunked; response_format pcm or "
                                            "wav): the first sentence plays while the rest is synthesized")
    # Emotion (extension; README "Emotion"). At most one of emotion / emotion_text / emotion_reference;
    # none of them = the voice's own prosody.
    emotion: dict[str, float] | None = Field(None, description=f"emotion vector, values 0-1, names: "
                                                               f"{', '.join(EMOTIONS)}; missing names are 0")
    emotion_text: str | None = Field(None, description="an emotion description in English or Chinese, read by "
                                                       "a lexicon (see POST /v1/emotion/resolve)")
    emotion_reference: str | None = Field(None, description="base64 of a WAV/FLAC/OGG/MP3 clip (1-60 s) whose "
                                                            "prosody is transferred")
    emotion_weight: float = Field(1.0, description="0-1: how far from neutral (IndexTTS2's emo_alpha)")
    emotion_random: bool = Field(False, description="seeded random variation of the prosody")
    emotion_seed: int = Field(0, description="seed for emotion_random: the same seed gives the same audio")


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(..., description="an emotion description, e.g. '有点难过' or 'excited and a little scared'")


class APIError(Exception):
    """An error answered in OpenAI's shape."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    kind = ("invalid_request_error" if status < 500 else "server_error")
    if status == 401:
        kind = "authentication_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(status: int, message: str, param: str | None = None, code: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, param, code), status_code=status, headers=headers)


class QueueFull(Exception):
    pass


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
            raise QueueFull
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


class BodyTooLarge(Exception):
    """A request body went past its limit while it was being read."""


def limited_body(request: Request, limit: int) -> Request:
    """``request`` whose body, however it is read (``form()``, ``stream()``), stops with BodyTooLarge once
    more than ``limit`` bytes have come in: also a chunked body that declared no length."""
    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
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
        field = f"{where}.{key}" if where else str(key)
        found = lone_surrogate(key, field) if isinstance(key, str) else None
        found = found or lone_surrogate(item, field)
        if found:
            return found
    return None


class StreamCut(Exception):
    """Raised by a streaming body to end the response without its last chunk (the client sees an
    incomplete transfer, never a complete but shortened one)."""


class CuttableStreamingResponse(StreamingResponse):
    """A StreamingResponse that a ``StreamCut`` from its body ends at once, without the closing chunk;
    the server then closes the connection."""

    async def stream_response(self, send) -> None:
        try:
            await super().stream_response(send)
        except StreamCut:
            return


def _describe_validation(errors: list[dict[str, Any]]) -> tuple[str, str | None]:
    """The first pydantic error as one readable sentence, and the field it is about."""
    err = errors[0]
    loc = [str(p) for p in err.get("loc", ()) if p != "body"]
    field = ".".join(loc) or None
    if err.get("type") == "missing":
        return f"'{field}' is required", field
    if err.get("type") == "extra_forbidden":
        return (f"unknown field '{field}'; the accepted fields are "
                f"{', '.join(SpeechRequest.model_fields)}"), field
    if err.get("type") == "literal_error" and field == "stream_format":
        return "stream_format: only 'audio' is supported (no SSE streaming)", field
    message = err.get("msg", "invalid value")
    return (f"'{field}': {message} (got {err.get('input')!r})" if field else message), field


def install_error_handlers(app: FastAPI) -> None:
    """Every error from our routes leaves in OpenAI's shape; pydantic's 422 becomes 400."""

    @app.exception_handler(APIError)
    async def _api_error(_request: Request, exc: APIError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.param, exc.code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _describe_validation(list(exc.errors()))
        return error_response(400, message, param, "invalid_value")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404:
            message = "not found; the API lives under /v1 (see /docs)"
        elif exc.status_code == 405:
            message = f"method not allowed: {message}"
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))


def build_router(holder: EngineHolder, settings: Settings, store: OutputStore, metrics: Metrics) -> APIRouter:
    router = APIRouter()
    admission = Admission(settings.server.concurrency_limit, settings.server.max_queue, metrics)
    max_chars = settings.engine.max_chars

    def fail(kind: str, route: str = "/v1/audio/speech") -> None:
        metrics.count_error(route, kind)

    def engine_or_503():
        try:
            return holder.engine
        except EngineNotReady as exc:
            fail("not_ready")
            headers = {"Retry-After": str(RETRY_AFTER_S)} if holder.state == "loading" else {}
            raise APIError(503, str(exc), code="model_not_ready", headers=headers) from None

    @router.get("/healthz", tags=["probes"])
    async def healthz() -> dict[str, str]:
        """The process is alive (says nothing about the model: see /readyz)."""
        return {"status": "ok"}

    @router.get("/health", tags=["probes"])
    async def health() -> dict[str, str]:
        """/healthz under the name Kokoro-style servers use (the process is alive)."""
        return {"status": "healthy"}

    @router.get("/readyz", tags=["probes"])
    async def readyz() -> JSONResponse:
        """200 when the model is loaded and warmed up; 503 while loading or after a failed load."""
        state = holder.state
        ready = state == "ready"
        device = holder.engine.device if ready else settings.engine.device
        precision = holder.engine.precision if ready else settings.engine.decoder_precision
        body = {"status": state, "model": MODEL_ID, "device": device, "precision": precision, "version": VERSION,
                "error": holder.error}
        return JSONResponse(body, status_code=200 if state == "ready" else 503,
                            headers=None if state == "ready" else {"Retry-After": str(RETRY_AFTER_S)})

    @router.get("/metrics", tags=["probes"])
    async def prometheus() -> Response:
        """Prometheus text format."""
        body, content_type = metrics.render(holder.state)
        return Response(body, media_type=content_type)

    @router.get("/v1/models", tags=["openai"])
    async def models() -> dict[str, Any]:
        """The accepted model names; every one is served by the same Kokoro-82M engine."""
        return {"object": "list",
                "data": [_model_entry(name) for name in MODEL_NAMES]}

    @router.get("/v1/voices", tags=["openai"])
    async def voices() -> dict[str, Any]:
        """Every voice (stock with language and gender, unsaved clones, saved voices), the default voice per
        language, and the OpenAI voice names with the voice each one stands for."""
        engine = engine_or_503()
        return {"object": "list",
                "default": engine.default_voices,
                "voices": [_voice_entry(engine, name) for name in engine.voices.names],
                "aliases": [{"id": alias, "voice": engine.voices.alias_target(alias), "kind": "openai"}
                            for alias in OPENAI_VOICES]}

    @router.get("/v1/audio/voices", tags=["openai"])
    async def audio_voices(legacy: bool = False) -> dict[str, Any]:
        """The voice list as Kokoro-style servers give it (Open WebUI reads it): ``{"voices": [{"id", "name",
        ...}]}`` with the OpenAI names too; ``?legacy=true``: a plain list of names."""
        engine = engine_or_503()
        entries = [_voice_entry(engine, name) for name in engine.voices.names]
        entries += [{"id": alias, "name": alias, "kind": "openai", "voice": engine.voices.alias_target(alias)}
                    for alias in OPENAI_VOICES]
        return {"voices": [e["id"] for e in entries] if legacy else entries}

    @router.get("/v1/audio/models", tags=["openai"])
    async def audio_models() -> dict[str, Any]:
        """The speech models by name, as Kokoro-style servers list them."""
        return {"models": [_model_entry(name) for name in MODEL_NAMES]}

    @router.get("/v1/models/{model_id}", tags=["openai"])
    async def model(model_id: str) -> dict[str, Any]:
        """One model, as OpenAI's retrieve-model call expects; 404 for a name this app does not serve."""
        if model_id not in MODEL_NAMES:
            raise APIError(404, f"no model {model_id!r}; the models are {', '.join(MODEL_NAMES)}",
                           param="model", code="model_not_found")
        return _model_entry(model_id)

    @router.post("/v1/voices", tags=["voices"])
    async def create_voice(request: Request) -> dict[str, Any]:
        """Clone a voice: multipart form with ``file`` (a reference clip, 2-15 s of speech is used) and
        ``name`` (optional ``steps``, default the app's); fits (seconds; cached per clip), saves to the library,
        returns the voice. 400: bad clip/name; 413: the upload is over ``server.max_upload_mb`` (refused by
        its declared length before it is read, or as soon as an undeclared one passes the limit)."""
        route = "/v1/voices"
        started = time.monotonic()

        def bad(message: str, param: str | None, status: int = 400, code: str = "invalid_value") -> NoReturn:
            fail("invalid_request", route)
            raise APIError(status, message, param=param, code=code)

        engine = engine_or_503()
        limit_mb = settings.server.max_upload_mb
        too_large = f"the upload is larger than {limit_mb} MB (server.max_upload_mb)"
        if (declared_length(request) or 0) > limit_mb * 2**20 + FORM_OVERHEAD_BYTES:
            bad(too_large, "file", 413, "request_too_large")
        try:  # the file part is spooled to disk as it arrives; the body is cut off past the limit
            form = await limited_body(request, limit_mb * 2**20 + FORM_OVERHEAD_BYTES).form(max_files=1,
                                                                                           max_fields=8)
        except BodyTooLarge:
            bad(too_large, "file", 413, "request_too_large")
        except Exception as exc:  # malformed multipart bodies raise several parser errors
            bad(f"send multipart/form-data with 'file' and 'name' ({exc})", None)
        try:
            upload, name = form.get("file"), form.get("name")
            if upload is None or isinstance(upload, str):
                bad("'file' (the reference clip) is required", "file")
            if not isinstance(name, str) or not name.strip():
                bad("'name' is required", "name")
            steps = form.get("steps")
            if steps is not None and (not isinstance(steps, str) or not steps.isdigit()
                                      or not 1 <= int(steps) <= 200):
                bad(f"'steps' must be a whole number 1-200, got {steps!r}", "steps")
            try:  # the name first: a bad one is answered before the clip is read or fitted
                name = engine.voices.library.check_new_name(name)
            except InputError as exc:
                bad(str(exc), "name")
            if name in engine.voices.library:
                bad(f"a voice named {name!r} already exists; pick another name", "name")
            data = await upload.read()
        finally:
            await form.close()  # the spooled upload goes now, not whenever it is collected
        if len(data) > limit_mb * 2**20:
            bad(too_large, "file", 413, "request_too_large")
        cancel = threading.Event()  # set when the client goes away or the time is up: the fit stops
        watcher = asyncio.create_task(_cancel_when_abandoned(request, cancel, lambda: out_of_time(started)))
        try:
            async with admission.slot(timeout_s=time_left(started)):
                info = await to_thread.run_sync(lambda: engine.clone_voice(
                    data, name=name, save=True, steps=int(steps) if steps else None, cancel=cancel))
        except QueueFull:
            queue_full(route)
        except TimeoutError:
            fail("timeout", route)
            raise APIError(504, "no slot came free within server.request_timeout_s", code="timeout") from None
        except Cancelled as exc:
            if not cancel.is_set():  # the engine is shutting down
                fail("not_ready", route)
                raise APIError(503, str(exc), code="shutting_down") from None
            if out_of_time(started):
                fail("timeout", route)
                raise APIError(504, f"the voice fit ran longer than server.request_timeout_s "
                                    f"({settings.server.request_timeout_s:g} s) and was stopped",
                               code="timeout") from None
            fail("cancelled", route)
            log.info("voice fit stopped: the client closed the connection")
            raise APIError(499, "the client closed the connection; the voice fit was stopped",
                           code="client_closed") from None
        except InputError as exc:
            bad(str(exc), "file")
        finally:
            watcher.cancel()
        info.pop("voice_value", None)  # the engine's in-process value; the name is what clients use
        return {"id": info["voice"], "object": "voice", **info}

    @router.post("/v1/voices/blend", tags=["voices"])
    async def blend_voice(request: Request) -> dict[str, Any]:
        """JSON {"a", "b", "weight" (0-1, share of b; default 0.5), "name"}: saves the blend as a library
        voice. 400 names the field that is wrong."""
        route = "/v1/voices/blend"
        fields = ("a", "b", "weight", "name")

        def bad(message: str, param: str | None) -> NoReturn:
            fail("invalid_request", route)
            raise APIError(400, message, param=param, code="invalid_value")

        engine = engine_or_503()
        body = await _read_json(request, expects="'a', 'b', 'weight' and 'name'")
        unknown = [key for key in body if key not in fields]
        if unknown:
            bad(f"unknown field {unknown[0]!r}; the accepted fields are {', '.join(fields)}", unknown[0])
        for field in ("a", "b", "name"):
            if not isinstance(body.get(field), str) or not body[field].strip():
                bad(f"'{field}' is required: " + ("the new voice's name" if field == "name" else
                                                  "a voice name (GET /v1/voices) or a mix"), field)
        weight = body.get("weight", 0.5)
        number = None if isinstance(weight, bool) else _as_number(weight)
        if number is None or not 0.0 <= number <= 1.0:
            bad(f"'weight' must be a number 0-1 (the share of voice b), got {weight!r}", "weight")
        for field in ("a", "b"):
            try:
                engine.voices.resolve(body[field])
            except InputError as exc:
                bad(str(exc), field)
        try:
            name = engine.voices.library.check_new_name(body["name"])
        except InputError as exc:
            bad(str(exc), "name")
        if name in engine.voices.library:
            bad(f"a voice named {name!r} already exists; pick another name or delete it first", "name")
        try:
            meta = await to_thread.run_sync(lambda: engine.blend_voices(body["a"], body["b"], number, name))
        except InputError as exc:  # saved meanwhile under the same name
            bad(str(exc), "name")
        return {"id": meta["name"], "object": "voice", **meta}

    @router.delete("/v1/voices/{name}", tags=["voices"])
    async def delete_voice(name: str) -> dict[str, Any]:
        """Delete a saved voice. 400: not a valid voice name, or a stock voice; 404: no saved voice of that
        name."""
        route = "/v1/voices/{name}"
        engine = engine_or_503()
        try:
            check_name(name)
        except InputError as exc:
            fail("invalid_request", route)
            raise APIError(400, str(exc), param="name", code="invalid_value") from None
        if name in engine.voices.stock_names:
            fail("invalid_request", route)
            raise APIError(400, f"{name!r} is a stock voice and cannot be deleted", param="name",
                           code="invalid_value")
        try:
            await to_thread.run_sync(engine.voices.library.delete, name)
        except InputError as exc:
            fail("not_found", route)
            raise APIError(404, str(exc), param="name", code="not_found") from None
        return {"id": name, "object": "voice", "deleted": True}

    @router.post(
        "/v1/audio/speech",
        tags=["openai"],
        response_class=Response,
        responses={200: {"content": {"audio/mpeg": {}, "audio/wav": {}, "audio/flac": {}, "audio/ogg": {},
                                     "audio/pcm": {}},
                         "description": "the audio; headers X-Audio-Duration, X-RTF, X-Output-Id, and "
                                        "X-Text-Warning (percent-encoded) when characters were skipped"}},
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/json": {"schema": SpeechRequest.model_json_schema()}}}},
    )
    async def speech(request: Request) -> Response:
        """OpenAI-compatible text-to-speech. Errors: 400 bad request, 503 loading or queue full, 504 past
        ``server.request_timeout_s``."""
        started = time.monotonic()  # the time limit counts from here: queue wait included
        body = await _read_json(request)
        try:
            req = SpeechRequest.model_validate(body)
        except ValidationError as exc:
            fail("invalid_request")
            message, param = _describe_validation(exc.errors())
            raise APIError(400, message, param=param, code="invalid_value") from None
        _check_request(req, max_chars, fail)
        emotion = await to_thread.run_sync(_emotion_spec, req, fail)  # a reference clip is decoded and measured
        engine = engine_or_503()
        # a name, an OpenAI name or a mix (the engine gets it as asked: the canonical name, kept in the record,
        # rounds a mix's weights); the default follows the text's language
        try:
            voice = engine.voices.resolve(req.voice or engine.default_voice(req.input, req.lang)).name
        except InputError as exc:
            fail("invalid_request")
            raise APIError(400, f"{exc} (or the OpenAI names {', '.join(OPENAI_VOICES)}, or a mix such as "
                                f"af_bella+af_sky)", param="voice", code="invalid_value") from None
        if req.stream:
            return await stream_speech(req, engine, voice, emotion, started)
        try:
            async with admission.slot(timeout_s=time_left(started)):
                began = time.perf_counter()
                segments = await to_thread.run_sync(lambda: engine.stream(
                    req.input, voice=req.voice or voice, speed=req.speed, lang=req.lang, emotion=emotion))
                made = await render_while_wanted(request, segments, started)
                result = await to_thread.run_sync(lambda: engine.join(made, compute_s=time.perf_counter() - began))
        except QueueFull:
            queue_full()
        except TimeoutError:  # still waiting for a slot when the time was up
            timed_out(0)
        except InputError as exc:
            fail("invalid_request")
            raise APIError(400, str(exc), param="input", code="invalid_value") from None
        result = scaled(result, req.volume_multiplier)
        audio, media_type = await to_thread.run_sync(encode, result.audio, result.sample_rate, req.response_format)
        headers = {"X-Audio-Duration": f"{result.duration_s:.3f}", "X-RTF": f"{result.rtf:.4f}",
                   **text_warning_headers(req.input, req.lang)}
        saved = await finish(result, speech_record(req, voice, emotion))
        if saved is not None:
            headers["X-Output-Id"] = saved.id
        ext = {"opus": "ogg"}.get(req.response_format, req.response_format)
        headers["Content-Disposition"] = f'inline; filename="speech.{ext}"'
        return Response(audio, media_type=media_type, headers=headers)

    def time_left(started: float) -> float | None:
        """Seconds left of ``server.request_timeout_s`` for a request that arrived at ``started``;
        None: no limit."""
        limit = settings.server.request_timeout_s
        return limit - (time.monotonic() - started) if limit else None

    def out_of_time(started: float) -> bool:
        left = time_left(started)
        return left is not None and left <= 0

    def timed_out(done: int) -> NoReturn:
        fail("timeout")
        log.warning("speech request stopped after %d segment(s): past server.request_timeout_s", done)
        raise APIError(504, f"the request ran longer than server.request_timeout_s "
                            f"({settings.server.request_timeout_s:g} s) and was stopped after {done} segment(s); "
                            f"send a shorter text or raise the limit", code="timeout")

    async def render_while_wanted(request: Request, segments, started: float) -> list:
        """Pull the segments one worker-thread call at a time; between two, stop when the client has gone
        (nobody would get the audio) or the time limit has passed. The segment under way finishes."""
        made: list = []
        while True:
            if await request.is_disconnected():
                fail("cancelled")
                log.info("speech request stopped after %d segment(s): the client closed the connection",
                         len(made))
                raise APIError(499, "the client closed the connection; the generation was stopped",
                               code="client_closed")
            if out_of_time(started):
                timed_out(len(made))
            segment = await to_thread.run_sync(next, segments, None)
            if segment is None:
                return made
            made.append(segment)

    async def stream_speech(req: SpeechRequest, engine, voice: str, emotion, started: float) -> StreamingResponse:
        """Chunked audio, one piece per segment as the engine makes it (a long first sentence is cut at a
        clause break, ``engine.stream_first_tokens``: the one way it differs from the same request without
        streaming); the saved file holds the audio sent. A client that goes
        away stops the work at the next segment; past the time limit the stream is cut off."""
        received = time.perf_counter()
        try:
            await admission.enter(timeout_s=time_left(started))
        except QueueFull:
            queue_full()
        except TimeoutError:
            timed_out(0)
        release = _once(admission.leave)
        try:
            segments = await to_thread.run_sync(lambda: engine.stream(
                req.input, voice=req.voice or voice, speed=req.speed, lang=req.lang, emotion=emotion,
                first_max_tokens=settings.engine.stream_first_tokens or None))
        except InputError as exc:
            release()
            fail("invalid_request")
            raise APIError(400, str(exc), param="input", code="invalid_value") from None
        except BaseException:  # an engine fault or a cancellation: the slot must not leak
            release()
            raise
        made: list = []
        pieces = engine.stream_pieces(made.append(seg) or seg for seg in segments)

        async def body() -> AsyncIterator[bytes]:
            header = wav_stream_header(SAMPLE_RATE) if req.response_format == "wav" else b""
            try:
                while True:
                    if out_of_time(started):  # the headers are gone: cut the stream off (no clean end)
                        fail("timeout")
                        log.warning("streaming request cut off after %d segment(s): past "
                                    "server.request_timeout_s (%g s)", len(made), settings.server.request_timeout_s)
                        raise StreamCut
                    piece = await to_thread.run_sync(next, pieces, None)
                    if piece is None:
                        break
                    chunk = encode(louder(piece, req.volume_multiplier), SAMPLE_RATE, "pcm")[0]
                    if header is not None:  # the first piece
                        metrics.first_audio.observe(time.perf_counter() - received)
                        chunk, header = header + chunk, None
                    yield chunk
            except StreamCut:
                raise
            except (asyncio.CancelledError, GeneratorExit):  # the client went away (or the server stops)
                fail("cancelled")
                log.info("streaming request stopped after %d segment(s): the client closed the connection",
                         len(made))
                raise
            except Exception:  # the headers are gone: log, and drop the connection so the client sees it
                fail("internal")
                log.exception("streaming synthesis failed")
                raise
            finally:  # also on a client disconnect: the remaining segments are never rendered
                release()
            await finish(scaled(engine.join(made), req.volume_multiplier), speech_record(req, voice, emotion))

        stream = body()
        weakref.finalize(stream, release)  # a response dropped before it starts still frees its slot
        media_type = "audio/wav" if req.response_format == "wav" else PCM_MEDIA_TYPE
        return CuttableStreamingResponse(stream, media_type=media_type, headers={
            "X-Sample-Rate": str(SAMPLE_RATE), **text_warning_headers(req.input, req.lang)})

    def queue_full(route: str = "/v1/audio/speech") -> NoReturn:
        fail("queue_full", route)
        raise APIError(503, f"the queue is full ({settings.server.max_queue} requests waiting); "
                            f"try again shortly", code="queue_full",
                       headers={"Retry-After": str(RETRY_AFTER_S)}) from None

    async def finish(result, record: dict[str, Any]):
        """Keep the output (a storage failure is logged, never the caller's problem) and count it."""
        metrics.observe_generation(result.duration_s, result.rtf, "api")
        try:
            return await to_thread.run_sync(store.save, result, record)
        except OSError as exc:  # disk full, permissions: the caller still gets the audio
            fail("storage")
            log.error("could not save output: %s", exc)
            return None

    @router.get("/v1/emotions", tags=["emotion"])
    async def emotions() -> dict[str, Any]:
        """The eight emotions, the prosody each one asks for at weight 1, and the evidence behind it."""
        return {"object": "list", "emotions": list(EMOTIONS),
                "data": [{"id": p.name, "edit": asdict(p.edit), "evidence": p.evidence, "checked": list(p.checked)}
                         for p in PROFILES.values()]}

    @router.post("/v1/emotion/resolve", tags=["emotion"])
    async def emotion_resolve(request: Request) -> dict[str, Any]:
        """Read an emotion description as the speech endpoint's ``emotion_text`` would: the vector and the
        words that made it (so a client can show it). 400 when no emotion word is found."""
        body = await _read_json(request, expects="'text'")
        try:
            req = ResolveRequest.model_validate(body)
            return resolve_text(req.text).as_dict()
        except ValidationError as exc:
            fail("invalid_request", "/v1/emotion/resolve")
            message, param = _describe_validation(exc.errors())
            raise APIError(400, message, param=param, code="invalid_value") from None
        except InputError as exc:
            fail("invalid_request", "/v1/emotion/resolve")
            raise APIError(400, str(exc), param="text", code="invalid_value") from None

    @router.api_route("/v1/audio/speech", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def speech_wrong_method(request: Request) -> JSONResponse:
        return error_response(405, f"use POST for /v1/audio/speech, not {request.method}", code="method_not_allowed",
                              headers={"Allow": "POST"})

    @router.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def v1_unknown(rest: str) -> JSONResponse:
        return error_response(404, f"no such API route /v1/{rest}; see /v1/models, /v1/voices, "
                                   f"/v1/audio/speech (and /docs)", code="not_found")

    async def _read_json(request: Request, expects: str = "'input'") -> Any:
        """The body as a JSON object (``expects``: the fields the route takes, for the message), read
        no further than MAX_BODY_BYTES, with no lone surrogate in any string."""
        route = request.url.path

        def bad(status: int, message: str, code: str, param: str | None = None) -> NoReturn:
            fail("invalid_request", route)
            raise APIError(status, message, param=param, code=code)

        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            bad(415 if content_type else 400, f"send a JSON body with 'Content-Type: application/json' "
                                              f"(got {content_type or 'no content type'!r})", "unsupported_media_type")
        too_large = f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB"
        if (declared_length(request) or 0) > MAX_BODY_BYTES:
            bad(413, too_large, "request_too_large")
        try:
            raw = await limited_body(request, MAX_BODY_BYTES).body()
        except BodyTooLarge:
            bad(413, too_large, "request_too_large")
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
            field, position, code_point = found
            field = field.encode("utf-8", "backslashreplace").decode("utf-8")  # a key may hold it too
            bad(400, f"'{field}' holds an unpaired UTF-16 surrogate ({code_point}) at position {position}; "
                     f"send valid Unicode text (in JSON a character beyond U+FFFF is a pair of \\u escapes, "
                     f"never half of one)", "invalid_value", field)
        return body

    return router


def _emotion_spec(req: SpeechRequest, fail):
    """The request's EmotionSpec (None: the voice's own prosody); 400 with the field on bad input."""
    reference = None
    if req.emotion_reference is not None:
        try:
            reference = base64.b64decode(req.emotion_reference, validate=True)
        except (binascii.Error, ValueError):
            fail("invalid_request")
            raise APIError(400, "emotion_reference must be base64 of an audio file (WAV, FLAC, OGG or MP3)",
                           param="emotion_reference", code="invalid_value") from None
    param = ("emotion_reference" if reference is not None else "emotion_text" if req.emotion_text is not None
             else "emotion" if req.emotion is not None else "emotion_weight")
    text = req.emotion_text
    if text is None and req.emotion is None and reference is None and _has_emotion_words(req.instructions):
        text = req.instructions  # OpenAI's "how to speak", read by the same lexicon as emotion_text
    try:
        return spec_from_request(vector=req.emotion, text=text, reference=reference,
                                 weight=req.emotion_weight, random=req.emotion_random, seed=req.emotion_seed)
    except InputError as exc:
        fail("invalid_request")
        message = str(exc)
        if "seed" in message:
            param = "emotion_seed"
        elif "weight" in message:
            param = "emotion_weight"
        raise APIError(400, message, param=param, code="invalid_value") from None


def _has_emotion_words(instructions: str | None) -> bool:
    """Whether OpenAI-style ``instructions`` name an emotion the lexicon knows (other instructions, such as
    "speak clearly", change nothing rather than fail the request)."""
    if not instructions or not instructions.strip():
        return False
    try:
        resolve_text(instructions)
    except InputError:
        return False
    return True


def _as_number(value: Any) -> float | None:
    """A finite number from a JSON number or numeric string, else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


async def _cancel_when_abandoned(request: Request, cancel: threading.Event, out_of_time: Callable[[], bool]) -> None:
    """Set ``cancel`` once the client has gone or the time is up (runs beside a blocking call)."""
    while not cancel.is_set():
        if out_of_time() or await request.is_disconnected():
            cancel.set()
            return
        await asyncio.sleep(DISCONNECT_POLL_S)


def _once(action: Callable[[], None]) -> Callable[[], None]:
    """``action`` wrapped to run at most once, however many paths call it."""
    done = False

    def run() -> None:
        nonlocal done
        if not done:
            done = True
            action()
    return run


_HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


def text_warning_headers(text: str, lang: str) -> dict[str, str]:
    """``X-Text-Warning`` when the text had characters the engine skips (kana, hangul...; the rest was
    spoken): the message with its non-ASCII percent-encoded, as header values must be ASCII."""
    unreadable = find_unreadable(text, lang)
    return {"X-Text-Warning": quote(unreadable.warning(), safe=_HEADER_SAFE)} if unreadable else {}


def speech_record(req: SpeechRequest, voice: str, emotion) -> dict[str, Any]:
    """The request as kept in the output's sidecar."""
    return {"source": "api", "model": req.model, "input": req.input, "voice": req.voice, "voice_used": voice,
            "speed": req.speed, "lang": req.lang, "response_format": req.response_format, "stream": req.stream,
            "emotion": emotion.describe() if emotion is not None else None}


def _model_entry(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "indextts"}


VOLUME_RANGE = (0.1, 4.0)
LANG_CODES = {"a": "en", "b": "en", "z": "zh"}  # Kokoro's language letters that this app reads


def louder(audio: np.ndarray, factor: float) -> np.ndarray:
    """``volume_multiplier``: the audio times ``factor``, its peaks limited as every segment's are."""
    if factor == 1.0:
        return audio
    return limit_peak((np.asarray(audio, dtype=np.float32) * np.float32(factor)), SAMPLE_RATE)


def scaled(result: SynthesisResult, factor: float) -> SynthesisResult:
    return result if factor == 1.0 else replace(result, audio=louder(result.audio, factor))


def _voice_entry(engine, name: str) -> dict[str, Any]:
    """A voice as the voice lists show it: id, name, kind, language and gender (stock voices); what a cloned
    or blended voice was made from."""
    entry = engine.voices.info(name).to_json()
    if entry["kind"] in ("cloned", "blend") and engine.voices.library is not None:
        meta = engine.voices.library.meta(name)
        entry.update({k: meta[k] for k in ("base_voice", "similarity_fit", "reference_f0_hz", "created", "blend",
                                           "weight") if k in meta})
    return entry


def _check_request(req: SpeechRequest, max_chars: int, fail) -> None:
    """Cheap checks before a request takes a queue slot (the engine repeats the text checks)."""

    def bad(message: str, param: str) -> None:
        fail("invalid_request")
        raise APIError(400, message, param=param, code="invalid_value")

    if req.model not in MODEL_NAMES:
        bad(f"unknown model {req.model!r}; use one of {', '.join(MODEL_NAMES)} (all use the same engine)", "model")
    if not req.input.strip():
        bad("'input' is empty; give the text to speak", "input")
    if len(req.input) > max_chars:
        bad(f"'input' is {len(req.input)} characters; the limit is {max_chars} (engine.max_chars)", "input")
    if not SPEED_RANGE[0] <= req.speed <= SPEED_RANGE[1]:
        bad(f"speed must be between {SPEED_RANGE[0]:g} and {SPEED_RANGE[1]:g}, got {req.speed:g}", "speed")
    if req.response_format not in RESPONSE_FORMATS:
        bad(f"unsupported response_format {req.response_format!r}; use one of {', '.join(RESPONSE_FORMATS)}",
            "response_format")
    if req.stream and req.response_format not in STREAM_FORMATS:
        bad(f"stream=true sends {' or '.join(STREAM_FORMATS)} (got response_format {req.response_format!r}); "
            f"for {req.response_format} leave stream off", "response_format")
    if req.lang not in LANGS:
        bad(f"unknown lang {req.lang!r}; use one of {', '.join(LANGS)}", "lang")
    if req.lang_code is not None:
        lang = LANG_CODES.get(req.lang_code.lower())
        if lang is None:
            bad(f"lang_code {req.lang_code!r} is not read by this app: use a or b (English) or z (Mandarin)",
                "lang_code")
        if req.lang not in ("auto", lang):
            bad(f"lang {req.lang!r} and lang_code {req.lang_code!r} disagree; give one of them", "lang_code")
        req.lang = lang
    if not VOLUME_RANGE[0] <= req.volume_multiplier <= VOLUME_RANGE[1]:
        bad(f"volume_multiplier must be between {VOLUME_RANGE[0]:g} and {VOLUME_RANGE[1]:g}, "
            f"got {req.volume_multiplier:g}", "volume_multiplier")
