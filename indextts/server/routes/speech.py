"""Speech: OpenAI's ``POST /v1/audio/speech`` (plus ``lang``, Kokoro-FastAPI's fields and the emotion
extension), whole or streamed.

Model calls are blocking CPU/GPU work: they run in worker threads, never on the event loop, behind the
admission gate. A generation is pulled one segment per worker-thread call, so between two segments it stops
when its client has gone or ``server.request_timeout_s`` has passed (504).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
import weakref
from dataclasses import replace
from typing import Any, AsyncIterator, Iterator, Literal, NoReturn
from urllib.parse import quote

import numpy as np
from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ...audio import limit_peak
from ...emotion import EMOTIONS, EmotionSpec, resolve_text, spec_from_request
from ...engine import Engine, SegmentResult, SynthesisResult
from ...errors import InputError
from ...request import LANGS, SPEED_RANGE, SynthesisRequest
from ...model import SAMPLE_RATE
from ...subtitles import subtitles
from ...text.coverage import find_unreadable
from ...timing import ClipTiming, synthesis_timing
from ...voices import OPENAI_VOICES
from ..audio_codec import PCM_MEDIA_TYPE, RESPONSE_FORMATS, STREAM_FORMATS, encode, wav_stream_header
from ..error_boundary import APIError, error_response
from .common import MODEL_ID, MODEL_NAMES, RouteContext, default_field, once, parse_body, read_json
from .presets import with_preset

log = logging.getLogger(__name__)

SPEECH_ROUTE = "/v1/audio/speech"
TIMED_ROUTE = "/v1/audio/speech/timed"  # the same speech as JSON, with word and segment times
DEFAULT_FORMAT = "mp3"  # OpenAI's default, so drop-in clients get what they expect
VOLUME_RANGE = (0.1, 4.0)
LANG_CODES = {"a": "en", "b": "en", "z": "zh"}  # Kokoro's language letters that this app reads


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
    duration_s: float | None = Field(None, description="the clip lasts this many seconds (+-10 ms; extension): "
                                                       "pauses and then speech retimed, within 0.5x-2x of the "
                                                       "text's natural length (a 400 names it); streams too")
    max_tokens: int | None = Field(None, description="segment length in phoneme tokens, 16-510 (extension; the "
                                                      "page's 'max tokens per segment'); default: the engine's")
    pause_s: float | None = Field(None, description="silence after a sentence in seconds, 0-5 (extension); "
                                                    "default: engine.segment_pause_s")
    preset: str | None = Field(None, description="a saved preset's name (GET /v1/presets): its settings fill the "
                                                  "fields this request does not set (extension)")


class TimedSpeechRequest(SpeechRequest):
    """``POST /v1/audio/speech/timed``: the speech body, plus the subtitles to send with the word times."""

    subtitles: Literal["srt", "vtt"] | None = Field(None, description="also send the words as subtitles: srt "
                                                                       "(SubRip) or vtt (WebVTT)")


# ---------------------------------------------------------------- the engine calls (one helper each)

def resolve_voice(engine: Engine, req: SpeechRequest) -> str:
    """The canonical name of the request's voice: a name, an OpenAI name or a mix (rounding a mix's weights,
    as the record keeps it); without one, the default voice of the text's language."""
    try:
        return engine.voices.resolve(req.voice or engine.default_voice(req.input, req.lang)).name
    except InputError as exc:
        raise InputError(f"{exc} (or the OpenAI names {', '.join(OPENAI_VOICES)}, or a mix such as "
                         f"af_bella+af_sky)", field="voice") from None


def synthesis_request(req: SpeechRequest, voice: str, emotion: EmotionSpec | None,
                      first_max_tokens: int | None = None) -> SynthesisRequest:
    """The HTTP body as the engine's request, built once and passed whole. The engine gets the voice as asked
    (``voice``: the canonical name, for a request that named none)."""
    return SynthesisRequest(req.input, voice=req.voice or voice, speed=req.speed, lang=req.lang, emotion=emotion,
                            first_max_tokens=first_max_tokens, duration_s=req.duration_s,
                            max_tokens=req.max_tokens, pause_s=req.pause_s)


def start_speech(engine: Engine, request: SynthesisRequest) -> Iterator[SegmentResult]:
    """The engine's segment iterator (the one place the API calls ``engine.stream``): everything is checked
    now, each segment is rendered as it is pulled."""
    return engine.stream(request)


def clip_words(engine: Engine, request: SynthesisRequest, result: SynthesisResult) -> ClipTiming:
    """When each written word and each segment is heard in ``result`` (before any volume change)."""
    try:
        return synthesis_timing(engine, request, result)
    except ValueError:  # the text reads differently now: the glossary changed while the audio was made
        raise APIError(409, "the glossary changed while this request was rendered, so its words cannot be timed; "
                            "send it again", code="conflict", kind="conflict") from None


# ---------------------------------------------------------------- request checks

def check_request(req: SpeechRequest, max_chars: int) -> None:
    """Cheap checks before a request takes a queue slot (the engine repeats the text checks); fills ``lang``
    from ``lang_code``. InputError names the field in the engine's terms (``text`` is the API's ``input``)."""
    if req.model not in MODEL_NAMES:
        raise InputError(f"unknown model {req.model!r}; use one of {', '.join(MODEL_NAMES)} (all use the same "
                         f"engine)", field="model")
    if not req.input.strip():
        raise InputError("'input' is empty; give the text to speak", field="text")
    if len(req.input) > max_chars:
        raise InputError(f"'input' is {len(req.input)} characters; the limit is {max_chars} (engine.max_chars)",
                         field="text")
    if not SPEED_RANGE[0] <= req.speed <= SPEED_RANGE[1]:
        raise InputError(f"speed must be between {SPEED_RANGE[0]:g} and {SPEED_RANGE[1]:g}, got {req.speed:g}",
                         field="speed")
    if req.response_format not in RESPONSE_FORMATS:
        raise InputError(f"unsupported response_format {req.response_format!r}; use one of "
                         f"{', '.join(RESPONSE_FORMATS)}", field="response_format")
    if req.stream and req.response_format not in STREAM_FORMATS:
        raise InputError(f"stream=true sends {' or '.join(STREAM_FORMATS)} (got response_format "
                         f"{req.response_format!r}); for {req.response_format} leave stream off",
                         field="response_format")
    if req.lang not in LANGS:
        raise InputError(f"unknown lang {req.lang!r}; use one of {', '.join(LANGS)}", field="lang")
    if req.lang_code is not None:
        lang = LANG_CODES.get(req.lang_code.lower())
        if lang is None:
            raise InputError(f"lang_code {req.lang_code!r} is not read by this app: use a or b (English) or z "
                             f"(Mandarin)", field="lang_code")
        if req.lang not in ("auto", lang):
            raise InputError(f"lang {req.lang!r} and lang_code {req.lang_code!r} disagree; give one of them",
                             field="lang_code")
        req.lang = lang
    if not VOLUME_RANGE[0] <= req.volume_multiplier <= VOLUME_RANGE[1]:
        raise InputError(f"volume_multiplier must be between {VOLUME_RANGE[0]:g} and {VOLUME_RANGE[1]:g}, "
                         f"got {req.volume_multiplier:g}", field="volume_multiplier")


def emotion_spec(req: SpeechRequest) -> EmotionSpec | None:
    """The request's EmotionSpec (None: the voice's own prosody). A reference clip is decoded and measured
    here (blocking: run it in a worker thread); the emotion package's InputErrors name their field."""
    reference = None
    if req.emotion_reference is not None:
        try:
            reference = base64.b64decode(req.emotion_reference, validate=True)
        except (binascii.Error, ValueError):
            raise InputError("emotion_reference must be base64 of an audio file (WAV, FLAC, OGG or MP3)",
                             field="emotion_reference") from None
    text = req.emotion_text
    if text is None and req.emotion is None and reference is None and has_emotion_words(req.instructions):
        text = req.instructions  # OpenAI's "how to speak", read by the same lexicon as emotion_text
    return spec_from_request(vector=req.emotion, text=text, reference=reference,
                             weight=req.emotion_weight, random=req.emotion_random, seed=req.emotion_seed)


def has_emotion_words(instructions: str | None) -> bool:
    """Whether OpenAI-style ``instructions`` name an emotion the lexicon knows (other instructions, such as
    "speak clearly", change nothing rather than fail the request)."""
    if not instructions or not instructions.strip():
        return False
    try:
        resolve_text(instructions)
    except InputError:
        return False
    return True


# ---------------------------------------------------------------- the answer

_HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


def text_warning_headers(text: str, lang: str) -> dict[str, str]:
    """``X-Text-Warning`` when the text had characters the engine skips (kana, hangul...; the rest was
    spoken): the message with its non-ASCII percent-encoded, as header values must be ASCII."""
    unreadable = find_unreadable(text, lang)
    return {"X-Text-Warning": quote(unreadable.warning(), safe=_HEADER_SAFE)} if unreadable else {}


def speech_record(req: SpeechRequest, voice: str, emotion: EmotionSpec | None) -> dict[str, Any]:
    """The request as kept in the output's sidecar."""
    return {"source": "api", "model": req.model, "input": req.input, "voice": req.voice, "voice_used": voice,
            "speed": req.speed, "lang": req.lang, "response_format": req.response_format, "stream": req.stream,
            "emotion": emotion.describe() if emotion is not None else None, "duration_s": req.duration_s,
            "max_tokens": req.max_tokens, "pause_s": req.pause_s, "preset": req.preset}


def louder(audio: np.ndarray, factor: float) -> np.ndarray:
    """``volume_multiplier``: the audio times ``factor``, its peaks limited as every segment's are."""
    if factor == 1.0:
        return audio
    return limit_peak((np.asarray(audio, dtype=np.float32) * np.float32(factor)), SAMPLE_RATE)


def scaled(result: SynthesisResult, factor: float) -> SynthesisResult:
    return result if factor == 1.0 else replace(result, audio=louder(result.audio, factor))


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


def build(context: RouteContext) -> APIRouter:
    router = APIRouter()
    settings, metrics, admission = context.settings, context.metrics, context.admission
    max_chars = settings.engine.max_chars

    def failed(kind: str) -> None:
        """A failure after the answer's headers are gone (the error boundary can no longer answer it)."""
        metrics.count_error(SPEECH_ROUTE, kind)

    @router.post(
        SPEECH_ROUTE,
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
        req = with_preset(parse_body(SpeechRequest, await read_json(request)), context)
        check_request(req, max_chars)
        emotion = await to_thread.run_sync(emotion_spec, req)  # a reference clip is decoded and measured
        engine = context.engine()
        voice = resolve_voice(engine, req)
        if req.stream:
            return await stream_speech(req, engine, voice, emotion, started)
        speech = synthesis_request(req, voice, emotion)
        try:
            async with admission.slot(timeout_s=context.time_left(started)):
                began = time.perf_counter()
                with default_field("text"):  # what the engine refuses without naming a field is the text
                    segments = await to_thread.run_sync(lambda: start_speech(engine, speech))
                    made = await render_while_wanted(request, segments, started)
                    result = await to_thread.run_sync(
                        lambda: engine.join(made, speech.pause_s, compute_s=time.perf_counter() - began))
        except TimeoutError:  # still waiting for a slot when the time was up
            timed_out(0)
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

    @router.post(TIMED_ROUTE, tags=["speech"], response_class=JSONResponse, openapi_extra={"requestBody": {
        "required": True, "content": {"application/json": {"schema": TimedSpeechRequest.model_json_schema()}}}})
    async def timed_speech(request: Request) -> JSONResponse:
        """The speech of ``/v1/audio/speech`` as JSON with when each word and segment is heard: ``audio`` (base64
        in ``response_format``), ``sample_rate``, ``duration_s``, ``words`` and ``segments`` (``text``,
        ``start_s``, ``end_s``), ``subtitles`` (the SRT or WebVTT asked for, else null), ``output_id``."""
        started = time.monotonic()
        req = with_preset(parse_body(TimedSpeechRequest, await read_json(request)), context)
        check_request(req, max_chars)
        if req.stream:
            raise InputError("stream=true is not available here: the answer is one JSON document with the whole "
                             "clip; leave stream off (or stream from /v1/audio/speech)", field="stream")
        emotion = await to_thread.run_sync(emotion_spec, req)
        engine = context.engine()
        voice = resolve_voice(engine, req)
        speech = synthesis_request(req, voice, emotion)
        try:
            async with admission.slot(timeout_s=context.time_left(started)):
                began = time.perf_counter()
                with default_field("text"):
                    segments = await to_thread.run_sync(lambda: start_speech(engine, speech))
                    made = await render_while_wanted(request, segments, started)
                    result = await to_thread.run_sync(
                        lambda: engine.join(made, speech.pause_s, compute_s=time.perf_counter() - began))
        except TimeoutError:
            timed_out(0)
        timing = await to_thread.run_sync(clip_words, engine, speech, result)
        result = scaled(result, req.volume_multiplier)
        audio, _ = await to_thread.run_sync(encode, result.audio, result.sample_rate, req.response_format)
        saved = await finish(result, {**speech_record(req, voice, emotion), "route": TIMED_ROUTE})
        return JSONResponse({
            "audio": base64.b64encode(audio).decode("ascii"), "response_format": req.response_format,
            "sample_rate": result.sample_rate, "duration_s": round(result.duration_s, 3),
            "words": [w.as_json() for w in timing.words], "segments": [s.as_json() for s in timing.segments],
            "subtitles": subtitles(timing.words, req.subtitles) if req.subtitles else None,
            "output_id": saved.id if saved is not None else None,
        }, headers={"X-Audio-Duration": f"{result.duration_s:.3f}", "X-RTF": f"{result.rtf:.4f}",
                    **text_warning_headers(req.input, req.lang)})

    def timed_out(done: int) -> NoReturn:
        log.warning("speech request stopped after %d segment(s): past server.request_timeout_s", done)
        raise APIError(504, f"the request ran longer than server.request_timeout_s "
                            f"({settings.server.request_timeout_s:g} s) and was stopped after {done} segment(s); "
                            f"send a shorter text or raise the limit", code="timeout", kind="timeout")

    async def render_while_wanted(request: Request, segments: Iterator[SegmentResult],
                                  started: float) -> list[SegmentResult]:
        """Pull the segments one worker-thread call at a time; between two, stop when the client has gone
        (nobody would get the audio) or the time limit has passed. The segment under way finishes."""
        made: list = []
        while True:
            if await request.is_disconnected():
                log.info("speech request stopped after %d segment(s): the client closed the connection",
                         len(made))
                raise APIError(499, "the client closed the connection; the generation was stopped",
                               code="client_closed", kind="cancelled")
            if context.out_of_time(started):
                timed_out(len(made))
            segment = await to_thread.run_sync(next, segments, None)
            if segment is None:
                return made
            made.append(segment)

    async def stream_speech(req: SpeechRequest, engine: Engine, voice: str, emotion: EmotionSpec | None,
                            started: float) -> StreamingResponse:
        """Chunked audio, one piece per segment as the engine makes it (a long first sentence is cut at a
        clause break, ``engine.stream_first_tokens``: the one way it differs from the same request without
        streaming); the saved file holds the audio sent. A client that goes
        away stops the work at the next segment; past the time limit the stream is cut off."""
        received = time.perf_counter()
        try:
            await admission.enter(timeout_s=context.time_left(started))
        except TimeoutError:
            timed_out(0)
        release = once(admission.leave)
        try:
            with default_field("text"):
                speech = synthesis_request(req, voice, emotion, settings.engine.stream_first_tokens or None)
                segments = await to_thread.run_sync(lambda: start_speech(engine, speech))
        except BaseException:  # bad input, an engine fault or a cancellation: the slot must not leak
            release()
            raise
        made: list = []
        pieces = engine.stream_pieces((made.append(seg) or seg for seg in segments), speech.pause_s)

        async def body() -> AsyncIterator[bytes]:
            header = wav_stream_header(SAMPLE_RATE) if req.response_format == "wav" else b""
            try:
                while True:
                    if context.out_of_time(started):  # the headers are gone: cut the stream off (no clean end)
                        failed("timeout")
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
                failed("cancelled")
                log.info("streaming request stopped after %d segment(s): the client closed the connection",
                         len(made))
                raise
            except Exception:  # the headers are gone: log, and drop the connection so the client sees it
                failed("internal")
                log.exception("streaming synthesis failed")
                raise
            finally:  # also on a client disconnect: the remaining segments are never rendered
                release()
            await finish(scaled(engine.join(made, speech.pause_s), req.volume_multiplier),
                         speech_record(req, voice, emotion))

        stream = body()
        weakref.finalize(stream, release)  # a response dropped before it starts still frees its slot
        media_type = "audio/wav" if req.response_format == "wav" else PCM_MEDIA_TYPE
        return CuttableStreamingResponse(stream, media_type=media_type, headers={
            "X-Sample-Rate": str(SAMPLE_RATE), **text_warning_headers(req.input, req.lang)})

    async def finish(result: SynthesisResult, record: dict[str, Any]):
        return await context.keep_output(result, record, SPEECH_ROUTE)

    @router.api_route(SPEECH_ROUTE, methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def speech_wrong_method(request: Request) -> JSONResponse:
        return error_response(405, f"use POST for {SPEECH_ROUTE}, not {request.method}", code="method_not_allowed",
                              headers={"Allow": "POST"})

    return router
