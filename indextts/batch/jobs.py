"""A batch file as jobs: JSONL (one JSON object a line) or plain text (one job per paragraph).

A JSONL line is ``{"id": ..., "text": ...}`` plus any option of the speech API's body (``SpeechRequest``:
voice, speed, lang, the emotion fields, duration_s, volume_multiplier ...); ``format`` is its
``response_format``. Each line is checked with the same model and the same checks as ``POST
/v1/audio/speech`` (no second list of options), so a batch line means what the same API body means.
A bad line becomes a ``BadLine`` naming its line number; the other lines stay jobs.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping

from pydantic import ValidationError

from ..errors import InputError
from ..server.audio_codec import RESPONSE_FORMATS
from ..server.error_boundary import APIError, describe_body_error
from ..server.routes.speech import SpeechRequest, check_request, emotion_spec

if TYPE_CHECKING:
    from ..presets import PresetStore

MAX_JOBS = 1000  # one batch; a longer list is cut into several batches
MAX_FILE_BYTES = 10 * 1024 * 1024  # a batch file (an emotion_reference clip travels as base64 inside a line)
DEFAULT_FORMAT = "wav"  # lossless, and every player reads it
JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")  # safe as a file name on every system: no / \ .. or :
BATCH_ONLY = ("id",)
ALIASES = {"text": "input", "format": "response_format"}  # a batch line's names for the API body's fields
# What a batch writes to a file: one whole clip each (no streaming)
NOT_IN_BATCH = ("stream", "stream_format")
FILE_EXTENSIONS = {"opus": "ogg"}  # Ogg/Opus; the other formats are their own extension
Kind = Literal["jsonl", "txt"]


@dataclass(frozen=True)
class Job:
    """One line's speech: its id (the output's file name), where it came from, and the checked API body."""

    id: str
    line: int
    speech: SpeechRequest

    @property
    def format(self) -> str:
        return self.speech.response_format

    @property
    def file_name(self) -> str:
        return f"{self.id}.{FILE_EXTENSIONS.get(self.format, self.format)}"

    def options(self) -> dict[str, Any]:
        """The options this line set or inherited (the text and the defaults left out), as the manifest shows
        them; an emotion reference clip is shown by its hash, not its megabytes of base64."""
        shown = self.speech.model_dump(exclude_defaults=True, exclude={"input"})
        shown["response_format"] = self.format
        if "emotion_reference" in shown:
            shown["emotion_reference"] = "sha256:" + hashlib.sha256(
                self.speech.emotion_reference.encode("ascii", "replace")).hexdigest()[:16]
        return shown

    def options_hash(self) -> str:
        """A fingerprint of everything that shapes the audio (text and every option, defaults included): a
        finished output is kept on a rerun only while this is unchanged."""
        canonical = json.dumps(self.speech.model_dump(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        """The job as a table row: id, line, the text's start, options."""
        text = " ".join(self.speech.input.split())
        return {"id": self.id, "line": self.line, "text": text if len(text) <= 60 else text[:57] + "...",
                "options": self.options()}


@dataclass(frozen=True)
class BadLine:
    """A line that is no job, and why (the line number counts from 1, as editors show it)."""

    line: int
    error: str
    param: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "error": self.error, "param": self.param}

    def __str__(self) -> str:
        return f"line {self.line}: {self.error}"


@dataclass(frozen=True)
class JobList:
    jobs: tuple[Job, ...]
    invalid: tuple[BadLine, ...]


def guess_kind(text: str, file_name: str | None = None) -> Kind:
    """JSONL or plain text: from the file's extension, else from its first non-blank character."""
    name = (file_name or "").lower()
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".txt", ".text", ".md")):
        return "txt"
    return "jsonl" if text.lstrip().startswith("{") else "txt"


def check_defaults(defaults: Mapping[str, Any], max_chars: int) -> None:
    """Raise InputError when the defaults for lines that set none (CLI flags, ``?format=``) are themselves
    wrong: better one error before the run than the same error on every line."""
    speech_request({"text": "defaults", **defaults}, {}, max_chars)


def parse_jobs(text: str, kind: Kind, defaults: Mapping[str, Any], max_chars: int,
               check_voice: Callable[[SpeechRequest], None] | None = None,
               presets: "PresetStore | None" = None, max_jobs: int | None = MAX_JOBS) -> JobList:
    """Every job of a batch file, and every line that is none (with its line number and why). ``defaults``:
    options (batch names or API names) for lines that set none; ``check_voice``: also refuse a line whose voice
    does not exist (needs the loaded engine; without it a bad voice fails when its job runs); ``presets``:
    where a line's ``preset`` is found (its settings fill what the line did not set, before the defaults);
    ``max_jobs``: lines past it are refused (None: no limit, as for the CLI)."""
    entries = _jsonl_entries(text) if kind == "jsonl" else _paragraph_entries(text)
    jobs: list[Job] = []
    invalid: list[BadLine] = []
    seen: dict[str, int] = {}
    for line, fields in entries:
        if isinstance(fields, BadLine):
            invalid.append(fields)
            continue
        if max_jobs is not None and len(jobs) >= max_jobs:
            invalid.append(BadLine(line, f"more than {max_jobs} jobs in one batch; split the file"))
            continue
        try:
            job_id = _job_id(fields.pop("id", None), line)
            if job_id.lower() in seen:  # case-insensitive: the two files would be one on macOS and Windows
                raise InputError(f"id {job_id!r} is used already on line {seen[job_id.lower()]}; ids must be "
                                 f"unique (they name the output files)", field="id")
            speech = speech_request(fields, defaults, max_chars, presets)
            if check_voice is not None:
                check_voice(speech)
        except InputError as exc:
            invalid.append(BadLine(line, str(exc), _api_name(exc.field)))
            continue
        except APIError as exc:
            invalid.append(BadLine(line, exc.message, exc.param))
            continue
        seen[job_id.lower()] = line
        jobs.append(Job(job_id, line, speech))
    return JobList(tuple(jobs), tuple(invalid))


def speech_request(fields: Mapping[str, Any], defaults: Mapping[str, Any], max_chars: int,
                   presets: "PresetStore | None" = None) -> SpeechRequest:
    """One line's fields (over its preset's settings, over ``defaults``) as the API's speech body, checked as
    ``POST /v1/audio/speech`` checks it (InputError or APIError naming the field)."""
    line = _api_names(fields)
    if line.get("preset") is not None and presets is not None:
        from ..presets import apply_preset

        # the voice is checked when the job runs (the model may not be loaded yet)
        filled = apply_preset(_validated({"input": "", **line}), presets, lambda voice: True)
        line = {**filled.model_dump(exclude_unset=True, exclude={"input"}), **line}
    body = {**_api_names(defaults), **line}
    for name in NOT_IN_BATCH:
        if body.get(name):
            raise InputError(f"'{name}' has no meaning in a batch: each job is written whole to its file",
                             field=name)
    body.setdefault("response_format", DEFAULT_FORMAT)
    if body["response_format"] == "ogg":
        body["response_format"] = "opus"  # the file's name for it
    speech = _validated(body)
    if speech.response_format == "pcm":
        raise InputError("format 'pcm' is raw samples with no header, not a file players open; use "
                         f"{', '.join(f for f in RESPONSE_FORMATS if f != 'pcm')}", field="response_format")
    check_request(speech, max_chars)
    if speech.emotion_reference is None:  # a clip is decoded when its job runs; words and vectors are cheap
        emotion_spec(speech)
    return speech


def _validated(body: Mapping[str, Any]) -> SpeechRequest:
    """``body`` as the speech API's model; an APIError naming the first wrong field in the batch's names."""
    try:
        return SpeechRequest.model_validate(body)
    except ValidationError as exc:
        accepted = ("id", "text", "format", *(name for name in SpeechRequest.model_fields
                                              if name not in ("input", "response_format", *NOT_IN_BATCH)))
        message, param = describe_body_error(exc.errors(), accepted)
        raise APIError(400, message.replace("'input'", "'text'").replace("'response_format'", "'format'"),
                       param=_api_name(param), code="invalid_value", kind="invalid_request") from None


def _api_names(fields: Mapping[str, Any]) -> dict[str, Any]:
    body = dict(fields)
    for batch_name, api_name in ALIASES.items():
        if batch_name in body:
            if api_name in body:
                raise InputError(f"give '{batch_name}' or '{api_name}', not both", field=batch_name)
            body[api_name] = body.pop(batch_name)
    return body


def _api_name(field: str | None) -> str | None:
    """The batch file's name for a field (``text``, ``format``)."""
    reverse = {api: batch for batch, api in ALIASES.items()}
    return reverse.get(field, field) if field else field


def _job_id(given: Any, line: int) -> str:
    if given is None:
        return f"line-{line:04d}"
    if isinstance(given, bool) or not isinstance(given, (str, int)):
        raise InputError(f"id must be a string or a number, got {type(given).__name__}", field="id")
    job_id = str(given)
    if not JOB_ID.fullmatch(job_id):
        raise InputError(f"id {job_id!r} cannot name a file: use 1-80 letters, digits, '.', '_' or '-', starting "
                         f"with a letter or digit (no '/', '..' or spaces)", field="id")
    return job_id


def _jsonl_entries(text: str) -> list[tuple[int, dict[str, Any] | BadLine]]:
    entries: list[tuple[int, dict[str, Any] | BadLine]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except ValueError as exc:
            entries.append((number, BadLine(number, f"not valid JSON: {exc}")))
            continue
        if not isinstance(value, dict):
            entries.append((number, BadLine(number, f"a line must be a JSON object such as "
                                                    f'{{"id": "intro", "text": "Hello."}}, got {type(value).__name__}')))
            continue
        entries.append((number, value))
    return entries


def _paragraph_entries(text: str) -> list[tuple[int, dict[str, Any] | BadLine]]:
    """One job per paragraph (lines up to a blank line), its line breaks read as spaces; the line number is
    the paragraph's first."""
    entries: list[tuple[int, dict[str, Any] | BadLine]] = []
    lines: list[str] = []
    start = 0
    for number, raw in enumerate([*text.splitlines(), ""], 1):
        if raw.strip():
            start = start or number
            lines.append(raw.strip())
        elif lines:
            entries.append((start, {"text": " ".join(lines)}))
            lines, start = [], 0
    return entries
