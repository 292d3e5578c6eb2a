"""Dubbing: ``POST /v1/audio/dub`` (subtitles -> one timed audio track) and ``POST /v1/audio/dub/plan`` (the
cue table without rendering). See ``indextts.dubbing`` for the fit modes and what happens to too-long cues.

The body is multipart (``file``: an .srt/.vtt upload, the other fields as form fields; ``emotion`` as a JSON
object) or JSON with ``"subtitles": "<the file's text>"``. The speech options are the speech body's own
(``SpeechRequest``'s fields, checked by its checks), less those that make no sense for a track (input, stream,
duration_s). The whole job runs in a worker thread behind the admission gate and stops at the next cue when
the client goes away or ``server.request_timeout_s`` passes.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ConfigDict, Field, create_model

from ... import dubbing
from ...dubbing import DubOptions, DubResult
from ...engine import SynthesisResult
from ...errors import InputError
from ...subtitle_parse import Subtitles, parse_subtitles
from ..audio_codec import RESPONSE_FORMATS, encode
from ..error_boundary import BodyTooLarge
from .common import MAX_BODY_BYTES, RouteContext, default_field, limited_body, parse_body, read_json
from .presets import with_preset
from .speech import (SpeechRequest, check_request, emotion_spec, louder, resolve_voice, synthesis_request,
                     text_warning_headers)

log = logging.getLogger(__name__)

DUB_ROUTE = "/v1/audio/dub"
PLAN_ROUTE = "/v1/audio/dub/plan"
MAX_SUBTITLE_BYTES = MAX_BODY_BYTES  # 1 MiB: a 1000-cue file is ~80 KB
FORM_OVERHEAD_BYTES = 64 * 1024  # multipart framing and the small fields
REPORT_HEADER_CUES = 20  # X-Dub-Report lists at most this many too-long cues (the JSON answer lists all)
# The speech body's options that apply to every cue of a track; defined (and described) by SpeechRequest.
SPEECH_FIELDS = ("model", "voice", "speed", "lang", "lang_code", "volume_multiplier", "instructions", "emotion",
                 "emotion_text", "emotion_reference", "emotion_weight", "emotion_random", "emotion_seed",
                 "max_tokens", "pause_s", "preset")

DubRequest = create_model(
    "DubRequest",
    __config__=ConfigDict(extra="forbid"),
    __doc__="The dubbing body: the subtitles, the speech options every cue is spoken with, and how cues fit.",
    **{name: (SpeechRequest.model_fields[name].annotation, SpeechRequest.model_fields[name])
       for name in SPEECH_FIELDS},
    subtitles=(str | None, Field(None, description="the SRT or WebVTT text (JSON bodies; multipart: the 'file' "
                                                   "part)")),
    response_format=(str, Field("wav", description=f"one of {', '.join(RESPONSE_FORMATS)}")),
    fit=(str, Field("shrink", description="shrink: natural pace, sped up only when a cue is too long for its "
                                          "slot; fill: every cue stretched or compressed to its slot (0.5x-2x)")),
    on_overflow=(str, Field("report", description="a cue too long even at 2x: report (spoken at 2x past its "
                                                  "end, later cues wait; listed in X-Dub-Report) or error (400 "
                                                  "listing every such cue, nothing rendered)")),
    response=(Literal["audio", "json"] | None, Field(None, description="json: audio base64 + the cue table "
                                                                       "(also with Accept: application/json)")),
)


async def read_dub_body(request: Request) -> tuple[Any, Subtitles]:
    """The body as a DubRequest and its parsed subtitles, multipart or JSON."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        too_large = f"the subtitle upload is larger than {MAX_SUBTITLE_BYTES // 1024} KiB"
        body = limited_body(request, MAX_SUBTITLE_BYTES + FORM_OVERHEAD_BYTES, too_large, "file")
        try:
            form = await body.form(max_files=1, max_fields=len(SPEECH_FIELDS) + 8)
        except BodyTooLarge:
            raise
        except Exception as exc:  # malformed multipart bodies raise several parser errors
            raise InputError(f"send multipart/form-data with 'file' (an .srt or .vtt file) ({exc})",
                             field="file") from None
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise InputError("'file' (the .srt or .vtt subtitles) is required", field="file")
            fields: dict[str, Any] = {k: v for k, v in form.multi_items() if k != "file"}
            if "subtitles" in fields:
                raise InputError("give the subtitles once: the 'file' part or 'subtitles', not both",
                                 field="subtitles")
            if isinstance(fields.get("emotion"), str):
                try:
                    fields["emotion"] = json.loads(fields["emotion"])
                except ValueError:
                    raise InputError("'emotion' must be a JSON object such as {\"happy\": 0.8}",
                                     field="emotion") from None
            data = await upload.read()
        finally:
            await form.close()
        req = parse_body(DubRequest, fields)
        return req, parse_subtitles(data, field="file")
    body = await read_json(request, expects="'subtitles'")
    req = parse_body(DubRequest, body)
    if not req.subtitles:
        raise InputError("'subtitles' (the SRT or WebVTT text) is required; or upload the file as multipart "
                         "'file'", field="subtitles")
    return req, parse_subtitles(req.subtitles, field="subtitles")


def speech_options(req: Any, text: str) -> SpeechRequest:
    """The dubbing body's speech options as the speech body, saying ``text`` (for its checks and emotion)."""
    return SpeechRequest(input=text, response_format=req.response_format,
                         **{name: getattr(req, name) for name in SPEECH_FIELDS})


def wants_json(request: Request, req: Any) -> bool:
    if req.response is not None:
        return req.response == "json"
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "audio/" not in accept


def report_headers(result: DubResult) -> dict[str, str]:
    """The per-track report as headers: counts, and the too-long cues as short ASCII JSON."""
    counts = dubbing.summary(result)
    too_long = [c.too_long_summary() for c in result.too_long[:REPORT_HEADER_CUES]]
    return {"X-Dub-Cues": str(counts["cue_count"]), "X-Dub-Too-Long": str(counts["too_long"]),
            "X-Dub-Fitted": str(counts["fitted"]), "X-Dub-Late": str(counts["late"]),
            "X-Dub-Report": json.dumps(too_long, separators=(",", ":"))}


def build(context: RouteContext) -> APIRouter:
    router = APIRouter()
    settings = context.settings

    async def prepared(request: Request):
        """Read and check everything a dubbing job needs before it takes a queue slot."""
        req, subs = await read_dub_body(request)
        req = with_preset(req, context)  # a preset fills the speech options the body did not set
        dubbing.check_limits(subs.cues, field="file" if req.subtitles is None else "subtitles")
        longest = max((c.text for c in subs.cues), key=len)
        speech = speech_options(req, longest)
        check_request(speech, settings.engine.max_chars)  # options, and every cue's length (the longest)
        options = DubOptions(req.fit, req.on_overflow)
        emotion = await to_thread.run_sync(emotion_spec, speech)  # a reference clip is decoded and measured
        engine = context.engine()
        everything = " ".join(c.text for c in subs.cues)  # the default voice follows the whole file's language
        voice = resolve_voice(engine, speech.model_copy(update={"input": everything}))
        template = synthesis_request(speech, voice, emotion)
        return req, subs, speech, options, engine, voice, template

    async def in_slot(request: Request, started: float, work, what: str):
        """``work(cancelled)`` behind the gate; stopped at the next cue when the client goes or time is up."""
        def run(cancel):
            with default_field("text"):
                return work(cancel.is_set)
        return await context.run_cancellable(request, started, run, what)

    @router.post(DUB_ROUTE, tags=["speech"], response_class=Response, responses={200: {
        "content": {"audio/wav": {}, "audio/mpeg": {}, "audio/flac": {}, "application/json": {}},
        "description": "the track; headers X-Dub-Cues, X-Dub-Too-Long, X-Dub-Fitted, X-Dub-Late, X-Dub-Report "
                       "(JSON list of too-long cues: index, start_s, end_s, natural_s, needed_factor), "
                       "X-Audio-Duration, X-Output-Id. JSON form: audio (base64) and the cue table"}},
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/json": {"schema": DubRequest.model_json_schema()},
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary"}}}}}}})
    async def dub(request: Request) -> Response:
        """Subtitles -> one audio track: each cue spoken from its start time, fitted to end by its end time
        (``fit``), silence between cues. Cues too long even at 2x are reported, never clipped."""
        started = time.monotonic()
        req, subs, speech, options, engine, voice, template = await prepared(request)
        result: DubResult = await in_slot(
            request, started, lambda cancelled: dubbing.render(engine, subs.cues, template, options,
                                                               cancelled=cancelled), "dubbing")
        audio = louder(result.audio, req.volume_multiplier)
        encoded, media_type = await to_thread.run_sync(encode, audio, result.sample_rate, req.response_format)
        track = SynthesisResult(audio, result.sample_rate, [], result.compute_s)
        headers = {"X-Audio-Duration": f"{result.duration_s:.3f}", "X-RTF": f"{track.rtf:.4f}",
                   **report_headers(result), **text_warning_headers(" ".join(c.text for c in subs.cues), speech.lang)}
        record = {"source": "api", "route": DUB_ROUTE, "format": subs.format, "voice": req.voice,
                  "voice_used": voice, "speed": req.speed, "lang": speech.lang, "fit": options.fit,
                  "on_overflow": options.on_overflow, "response_format": req.response_format,
                  "emotion": template.emotion.describe() if template.emotion is not None else None,
                  "dub": dubbing.summary(result)}
        saved = await context.keep_output(track, record, DUB_ROUTE)
        if saved is not None:
            headers["X-Output-Id"] = saved.id
        if wants_json(request, req):
            return JSONResponse({
                "audio": base64.b64encode(encoded).decode("ascii"), "response_format": req.response_format,
                "sample_rate": result.sample_rate, "duration_s": round(result.duration_s, 3),
                "format": subs.format, "skipped_empty": subs.skipped_empty, **dubbing.summary(result),
                "cues": [c.as_json() for c in result.cues],
                "output_id": saved.id if saved is not None else None}, headers=headers)
        ext = {"opus": "ogg"}.get(req.response_format, req.response_format)
        headers["Content-Disposition"] = f'inline; filename="dub.{ext}"'
        return Response(encoded, media_type=media_type, headers=headers)

    @router.post(PLAN_ROUTE, tags=["speech"], response_class=JSONResponse)
    async def dub_plan(request: Request) -> JSONResponse:
        """The cue table of ``/v1/audio/dub`` without rendering (the model's duration plan only): each cue's
        index, start_s, end_s, slot_s, text, natural_s, target_s, factor and status (fits | fitted | too_long);
        the same body. ``on_overflow: error`` answers the same 400 as the render would."""
        started = time.monotonic()
        req, subs, speech, options, engine, voice, template = await prepared(request)
        rows = await in_slot(request, started,
                             lambda cancelled: dubbing.plan(engine, subs.cues, template, options, cancelled),
                             "dubbing plan")
        return JSONResponse({"format": subs.format, "skipped_empty": subs.skipped_empty, "voice_used": voice,
                             "fit": options.fit, **dubbing.summary(rows), "cues": [r.as_json() for r in rows]})

    return router
