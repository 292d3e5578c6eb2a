"""The HTTP API's error boundary: the one place where an error becomes an answer.

Routes raise; the handlers installed here answer in OpenAI's shape {"error": {"message", "type", "param",
"code"}} and count the failure in ``indextts_errors_total`` (by route template and kind):

==================================  ======  =================  =====================  ===============
raised                              status  code               param                  counted as
==================================  ======  =================  =====================  ===============
InputError                          400     invalid_value      API_PARAMS[its field]  invalid_request
BodyTooLarge                        413     request_too_large  its field              invalid_request
QueueFull (+ Retry-After)           503     queue_full         -                      queue_full
EngineNotReady (+ Retry-After       503     model_not_ready    -                      not_ready
while loading)
Cancelled (the engine is closing)   503     shutting_down      -                      not_ready
APIError (timeouts, 404s, 415...)   its     its                its                    its kind, if any
RequestValidationError              400     invalid_value      the field              -
HTTPException (no route, 405)       its     -                  -                      -
==================================  ======  =================  =====================  ===============

An InputError names its field in the engine's terms (``text``, ``emotion_weight``...); ``API_PARAMS``
turns that into the parameter the client sent, so no route converts errors and no message text is searched.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import Cancelled, InputError
from ..pydantic_errors import field_problems
from .engine_holder import EngineNotReady
from .metrics import Metrics

RETRY_AFTER_S = 5  # what a 503 asks a client to wait: a queue slot or the model load is seconds away

# InputError.field (the engine's name for a request field) -> the API's parameter name, per route template;
# "*" holds the names every route shares. A field named nowhere here is the API's own name (model, name...).
API_PARAMS: dict[str, dict[str, str]] = {
    "*": {"text": "input", "voice": "voice", "speed": "speed", "lang": "lang",
          "emotion": "emotion", "emotion_text": "emotion_text", "emotion_reference": "emotion_reference",
          "emotion_weight": "emotion_weight", "emotion_seed": "emotion_seed",
          "source": "file"},  # a voice clone's reference clip, uploaded as the form's file
    "/v1/emotion/resolve": {"emotion_text": "text"},  # its body's "text" is an emotion description
    # a glossary entry's fields are the body's own; an import's bad row is about the uploaded file
    "/v1/glossary": {"term": "term", "lang": "lang", "reading": "reading"},
    "/v1/glossary/import": {"term": "file", "lang": "file", "reading": "file"},
}


def api_param(route: str, field: str | None) -> str | None:
    """The API parameter an InputError about ``field`` is answered with on ``route`` (a route template)."""
    if field is None:
        return None
    return API_PARAMS.get(route, {}).get(field) or API_PARAMS["*"].get(field, field)


class APIError(Exception):
    """An answer only HTTP has words for (a timeout, a closed client, an unknown model, a body that is not
    JSON), in OpenAI's shape. ``kind``: how it is counted in the metrics; None: not counted."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None, kind: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}
        self.kind = kind


class QueueFull(Exception):
    """Too many requests already wait for a generation slot; the message says how many."""


class BodyTooLarge(Exception):
    """A request body is over its limit (declared, or found while it was read); ``field``: the part at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    kind = ("invalid_request_error" if status < 500 else "server_error")
    if status == 401:
        kind = "authentication_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(status: int, message: str, param: str | None = None, code: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, param, code), status_code=status, headers=headers)


def describe_body_error(errors: Iterable[dict[str, Any]], accepted: Iterable[str] = ()) -> tuple[str, str | None]:
    """The first pydantic error of a request as one readable sentence, and the field it is about;
    ``accepted``: the body's fields, named when an unknown one was sent."""
    problem = field_problems(errors, drop=("body",))[0]
    field = problem.field
    if problem.kind == "missing":
        return f"'{field}' is required", field
    if problem.kind == "extra_forbidden":
        return f"unknown field '{field}'; the accepted fields are {', '.join(accepted)}", field
    if problem.kind == "literal_error" and field == "stream_format":
        return "stream_format: only 'audio' is supported (no SSE streaming)", field
    return (f"'{field}': {problem.message} (got {problem.shown_value})" if field else problem.message), field


def route_of(request: Request) -> str:
    """The route template a request matched (``/v1/voices/{name}``), as metrics and API_PARAMS name it."""
    route = request.scope.get("route")
    return getattr(route, "path", None) or request.url.path


def install_error_handlers(app: FastAPI, metrics: Metrics | None = None) -> None:
    """Every error from the API's routes leaves in OpenAI's shape, counted in ``metrics`` (when given);
    pydantic's 422 becomes 400."""

    def answer(request: Request, kind: str | None, status: int, message: str, param: str | None = None,
               code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
        if kind is not None and metrics is not None:
            metrics.count_error(route_of(request), kind)
        return error_response(status, message, param, code, headers or None)

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> JSONResponse:
        return answer(request, "invalid_request", 400, str(exc), api_param(route_of(request), exc.field),
                      "invalid_value")

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return answer(request, "invalid_request", 413, str(exc), exc.field, "request_too_large")

    @app.exception_handler(QueueFull)
    async def _queue_full(request: Request, exc: QueueFull) -> JSONResponse:
        return answer(request, "queue_full", 503, str(exc), code="queue_full",
                      headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(EngineNotReady)
    async def _not_ready(request: Request, exc: EngineNotReady) -> JSONResponse:
        headers = {"Retry-After": str(RETRY_AFTER_S)} if exc.loading else None  # a failed load stays failed
        return answer(request, "not_ready", 503, str(exc), code="model_not_ready", headers=headers)

    @app.exception_handler(Cancelled)
    async def _shutting_down(request: Request, exc: Cancelled) -> JSONResponse:
        return answer(request, "not_ready", 503, str(exc), code="shutting_down")

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return answer(request, exc.kind, exc.status, exc.message, exc.param, exc.code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = describe_body_error(list(exc.errors()))
        return error_response(400, message, param, "invalid_value")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404:
            message = "not found; the API lives under /v1 (see /docs)"
        elif exc.status_code == 405:
            message = f"method not allowed: {message}"
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))
