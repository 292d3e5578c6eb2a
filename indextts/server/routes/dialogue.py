"""Dialogue: ``POST /v1/audio/dialogue``, several speakers' turns -> one audio track (``indextts.dialogue``).

The body is either ``{"turns": [{"text", "voice", "speaker", "speed", "lang", emotion fields}, ...]}`` (each
turn's fields are the speech body's own, ``SpeechRequest``'s, checked as a speech request is) or
``{"script": "Alice: Hi.\\nBob (happy): Hello!", "speakers": {"Alice": "af_heart"}}``; plus ``gap_s``,
``response_format``, ``timestamps``. The answer is the audio with each turn's ``[start_s, end_s]`` in the
``X-Dialogue-Turns`` header (compact JSON, in turn order), or with ``"timestamps": true`` JSON: the audio in
base64 and every turn's index, speaker, voice, text, start_s, end_s.

The whole dialogue takes one admission slot; it is rendered one segment per worker-thread call, and between
two it stops when the client has gone (499) or ``server.request_timeout_s`` has passed (504), as speech does.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any, NoReturn

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, create_model

from ...dialogue import (DEFAULT_GAP_S, GAP_RANGE_S, MAX_TURNS, Dialogue, DialogueRender, DialogueResult,
                         TurnDraft, check_gap, plan_dialogue, script_dialogue)
from ...errors import InputError
from ..audio_codec import RESPONSE_FORMATS, encode
from ..error_boundary import APIError, error_response
from .common import RouteContext, parse_body, read_json
from .speech import SpeechRequest, check_request, emotion_spec, synthesis_request

log = logging.getLogger(__name__)

DIALOGUE_ROUTE = "/v1/audio/dialogue"
# A turn's own fields: the speech body's, reused (same names, checks and documentation), plus text and speaker.
TURN_SPEECH_FIELDS = ("voice", "speed", "lang", "emotion", "emotion_text", "emotion_reference", "emotion_weight",
                      "emotion_random", "emotion_seed")
EMOTION_FIELDS = tuple(name for name in TURN_SPEECH_FIELDS if name.startswith("emotion"))

DialogueTurn = create_model(
    "DialogueTurn",
    __config__=ConfigDict(extra="forbid"),
    __doc__="One turn: what is said, by whom, and how (the speech body's voice, speed, lang and emotion fields).",
    text=(str, Field(..., description="what this turn says")),
    speaker=(str | None, Field(None, description="who says it: turns without a voice take the speaker's voice from "
                                                 "'speakers', else a distinct default voice per speaker")),
    **{name: (SpeechRequest.model_fields[name].annotation, SpeechRequest.model_fields[name])
       for name in TURN_SPEECH_FIELDS},
)


class DialogueRequest(BaseModel):
    """The dialogue body: ``turns`` or ``script`` (one of them). Unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid")

    turns: list[DialogueTurn] | None = Field(None, description=f"the turns in order (at most {MAX_TURNS})")
    script: str | None = Field(None, description="the dialogue as a script: one 'Name: text' or "
                                                 "'Name (emotion): text' per line (README 'Dialogue')")
    speakers: dict[str, Any] | str | None = Field(None, description="speaker name -> voice, or -> {voice, emotion}; "
                                                                    "or 'Alice=af_heart,Bob=am_michael'")
    gap_s: float = Field(DEFAULT_GAP_S, description=f"silence between turns, {GAP_RANGE_S[0]:g}-{GAP_RANGE_S[1]:g} s")
    response_format: str = SpeechRequest.model_fields["response_format"]
    speed: float = Field(1.0, description="the script's speaking rate (a turn of 'turns' sets its own)")
    lang: str = Field("auto", description="the script's language: auto (per sentence), en or zh")
    timestamps: bool = Field(False, description="answer JSON: the audio (base64) and each turn's times")


def turn_drafts(req: DialogueRequest, max_chars: int) -> list[TurnDraft]:
    """Each JSON turn checked as a speech request is (its errors named ``turns[i].<field>``), as a draft; an
    emotion reference clip is decoded and measured here (blocking: run it in a worker thread)."""
    drafts = []
    for i, turn in enumerate(req.turns or ()):
        where = f"turns[{i}]"
        try:
            speech = SpeechRequest(input=turn.text, response_format=req.response_format,
                                   **turn.model_dump(include=set(TURN_SPEECH_FIELDS), exclude_unset=True))
            check_request(speech, max_chars)
            emotion = emotion_spec(speech)
            request = synthesis_request(speech, speech.voice, emotion)
        except InputError as exc:
            raise InputError(f"{where}: {exc}", field=f"{where}.{exc.field or 'text'}") from None
        has_emotion = any(name in turn.model_fields_set for name in EMOTION_FIELDS)
        drafts.append(TurnDraft(turn.speaker, request, where, where, has_emotion))
    return drafts


def plan(engine: Any, req: DialogueRequest, max_chars: int) -> Dialogue:
    """The body as a Dialogue (every check that needs no audio made); blocking: run it in a worker thread."""
    if (req.turns is None) == (req.script is None):
        raise InputError("give the dialogue as 'turns' (a list of {text, voice, ...}) or as 'script' "
                         "('Alice: Hi.\\nBob: Hello!'), one of them",
                         field="script" if req.script is not None else "turns")
    check_gap(req.gap_s)
    if req.script is not None:
        return script_dialogue(engine, req.script, req.speakers, req.gap_s, req.speed, req.lang, max_chars)
    return plan_dialogue(engine, turn_drafts(req, max_chars), req.speakers, req.gap_s, max_chars)


def turn_times_header(result: DialogueResult) -> str:
    """``X-Dialogue-Turns``: each turn's [start_s, end_s] in order, compact JSON (ASCII, a few bytes a turn:
    a header never grows past what HTTP clients read, whatever the names and texts)."""
    return json.dumps([[round(t.start_s, 3), round(t.end_s, 3)] for t in result.turns], separators=(",", ":"))


def dialogue_record(req: DialogueRequest, result: DialogueResult) -> dict[str, Any]:
    """The request as kept in the output's sidecar."""
    return {"source": "api", "route": DIALOGUE_ROUTE, "gap_s": req.gap_s, "response_format": req.response_format,
            "turns": [t.as_json() for t in result.turns]}


def build(context: RouteContext) -> APIRouter:
    router = APIRouter()
    settings, admission = context.settings, context.admission
    max_chars = settings.engine.max_chars

    @router.post(
        DIALOGUE_ROUTE, tags=["dialogue"], response_class=Response,
        responses={200: {"content": {"audio/mpeg": {}, "audio/wav": {}, "application/json": {}},
                         "description": "the audio with X-Dialogue-Turns ([[start_s, end_s], ...]), or with "
                                        "timestamps=true JSON: audio (base64), sample_rate, duration_s, turns "
                                        "(index, speaker, voice, text, start_s, end_s), output_id"}},
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/json": {"schema": DialogueRequest.model_json_schema()}}}},
    )
    async def dialogue(request: Request) -> Response:
        """Several speakers' turns as one track. Errors: 400 bad request (naming the line or turn), 503 loading
        or queue full, 504 past ``server.request_timeout_s``."""
        started = time.monotonic()
        req = parse_body(DialogueRequest, await read_json(request, "'turns' or 'script'"))
        if req.response_format not in RESPONSE_FORMATS:  # before any work (a turn repeats it: its speech checks)
            raise InputError(f"unsupported response_format {req.response_format!r}; use one of "
                             f"{', '.join(RESPONSE_FORMATS)}", field="response_format")
        engine = context.engine()
        planned = await to_thread.run_sync(plan, engine, req, max_chars)
        render = DialogueRender(engine, planned)
        try:
            async with admission.slot(timeout_s=context.time_left(started)):
                await to_thread.run_sync(render.start)
                result = await render_while_wanted(request, render, started)
        except TimeoutError:
            timed_out(0)
        audio, media_type = await to_thread.run_sync(encode, result.clip.audio, result.clip.sample_rate,
                                                     req.response_format)
        saved = await finish(result, dialogue_record(req, result))
        headers = {"X-Audio-Duration": f"{result.duration_s:.3f}", "X-RTF": f"{result.clip.rtf:.4f}",
                   "X-Dialogue-Turns": turn_times_header(result)}
        if saved is not None:
            headers["X-Output-Id"] = saved.id
        if req.timestamps:
            return JSONResponse({
                "audio": base64.b64encode(audio).decode("ascii"), "response_format": req.response_format,
                "sample_rate": result.clip.sample_rate, "duration_s": round(result.duration_s, 3),
                "turns": [t.as_json() for t in result.turns], "output_id": saved.id if saved is not None else None,
            }, headers={k: v for k, v in headers.items() if k != "X-Dialogue-Turns"})
        ext = {"opus": "ogg"}.get(req.response_format, req.response_format)
        headers["Content-Disposition"] = f'inline; filename="dialogue.{ext}"'
        return Response(audio, media_type=media_type, headers=headers)

    def timed_out(done: int) -> NoReturn:
        log.warning("dialogue request stopped after %d segment(s): past server.request_timeout_s", done)
        raise APIError(504, f"the dialogue ran longer than server.request_timeout_s "
                            f"({settings.server.request_timeout_s:g} s) and was stopped after {done} segment(s); "
                            f"send fewer turns or raise the limit", code="timeout", kind="timeout")

    async def render_while_wanted(request: Request, render: DialogueRender, started: float) -> DialogueResult:
        """Pull the segments one worker-thread call at a time; between two, stop when the client has gone or
        the time is up (the segment under way finishes)."""
        steps, done = iter(render), 0
        while True:
            if await request.is_disconnected():
                log.info("dialogue request stopped after %d segment(s): the client closed the connection", done)
                raise APIError(499, "the client closed the connection; the dialogue was stopped",
                               code="client_closed", kind="cancelled")
            if context.out_of_time(started):
                timed_out(done)
            if await to_thread.run_sync(next, steps, None) is None:
                return await to_thread.run_sync(render.result)
            done += 1

    async def finish(result: DialogueResult, record: dict[str, Any]):
        return await context.keep_output(result.clip, record, DIALOGUE_ROUTE)

    @router.api_route(DIALOGUE_ROUTE, methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def dialogue_wrong_method(request: Request) -> JSONResponse:
        return error_response(405, f"use POST for {DIALOGUE_ROUTE}, not {request.method}", code="method_not_allowed",
                              headers={"Allow": "POST"})

    return router
