"""Voices: the lists (``GET /v1/voices``, ``GET /v1/audio/voices``) and the library (``POST /v1/voices`` to
clone, ``POST /v1/voices/blend``, ``DELETE /v1/voices/{name}``)."""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request

from ...engine import Engine
from ...errors import InputError
from ...voice_library import check_name
from ...voices import OPENAI_VOICES
from ..error_boundary import APIError, BodyTooLarge
from .common import RouteContext, default_field, limited_body, read_json

log = logging.getLogger(__name__)

FORM_OVERHEAD_BYTES = 64 * 1024  # a voice upload's multipart framing and small fields, beyond the clip itself
BLEND_FIELDS = ("a", "b", "weight", "name")


def voice_entry(engine: Engine, name: str) -> dict[str, Any]:
    """A voice as the voice lists show it: id, name, kind, language and gender (stock voices); what a cloned
    or blended voice was made from."""
    entry = engine.voices.info(name).to_json()
    if entry["kind"] in ("cloned", "blend"):
        meta = engine.studio.library.meta(name)
        entry.update({k: meta[k] for k in ("base_voice", "similarity_fit", "reference_f0_hz", "created", "blend",
                                           "weight") if k in meta})
    return entry


def fit_voice(engine: Engine, clip: bytes, name: str, steps: int | None, cancel: threading.Event) -> dict:
    """The voice studio's fit for an upload, saved to the library (the one place the API clones); an error
    about the clip itself names the upload."""
    with default_field("source"):
        return engine.studio.clone(clip, name=name, save=True, steps=steps, cancel=cancel)


def blend_into_library(engine: Engine, a: str, b: str, weight_b: float, name: str) -> dict:
    """The voice studio's blend of two voices, saved as ``name`` (the one place the API blends)."""
    with default_field("name"):  # the one thing that can change since the checks: the name got taken
        return engine.studio.blend(a, b, weight_b, name)


def _as_number(value: Any) -> float | None:
    """A finite number from a JSON number or numeric string, else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def build(context: RouteContext) -> APIRouter:
    router = APIRouter()
    settings = context.settings

    @router.get("/v1/voices", tags=["openai"])
    async def voices() -> dict[str, Any]:
        """Every voice (stock with language and gender, unsaved clones, saved voices), the default voice per
        language, and the OpenAI voice names with the voice each one stands for."""
        engine = context.engine()
        return {"object": "list",
                "default": engine.default_voices,
                "voices": [voice_entry(engine, name) for name in engine.voices.names],
                "aliases": [{"id": alias, "voice": engine.voices.alias_target(alias), "kind": "openai"}
                            for alias in OPENAI_VOICES]}

    @router.get("/v1/audio/voices", tags=["openai"])
    async def audio_voices(legacy: bool = False) -> dict[str, Any]:
        """The voice list as Kokoro-style servers give it (Open WebUI reads it): ``{"voices": [{"id", "name",
        ...}]}`` with the OpenAI names too; ``?legacy=true``: a plain list of names."""
        engine = context.engine()
        entries = [voice_entry(engine, name) for name in engine.voices.names]
        entries += [{"id": alias, "name": alias, "kind": "openai", "voice": engine.voices.alias_target(alias)}
                    for alias in OPENAI_VOICES]
        return {"voices": [e["id"] for e in entries] if legacy else entries}

    @router.post("/v1/voices", tags=["voices"])
    async def create_voice(request: Request) -> dict[str, Any]:
        """Clone a voice: multipart form with ``file`` (a reference clip, 2-15 s of speech is used) and
        ``name`` (optional ``steps``, default the app's); fits (seconds; cached per clip), saves to the library,
        returns the voice. 400: bad clip/name; 413: the upload is over ``server.max_upload_mb`` (refused by
        its declared length before it is read, or as soon as an undeclared one passes the limit)."""
        started = time.monotonic()
        engine = context.engine()
        limit_mb = settings.server.max_upload_mb
        too_large = f"the upload is larger than {limit_mb} MB (server.max_upload_mb)"
        body = limited_body(request, limit_mb * 2**20 + FORM_OVERHEAD_BYTES, too_large, "file")
        try:  # the file part is spooled to disk as it arrives; the body is cut off past the limit
            form = await body.form(max_files=1, max_fields=8)
        except BodyTooLarge:
            raise
        except Exception as exc:  # malformed multipart bodies raise several parser errors
            raise InputError(f"send multipart/form-data with 'file' and 'name' ({exc})") from None
        try:
            upload, name = form.get("file"), form.get("name")
            if upload is None or isinstance(upload, str):
                raise InputError("'file' (the reference clip) is required", field="file")
            if not isinstance(name, str) or not name.strip():
                raise InputError("'name' is required", field="name")
            steps = form.get("steps")
            if steps is not None and (not isinstance(steps, str) or not steps.isdigit()
                                      or not 1 <= int(steps) <= 200):
                raise InputError(f"'steps' must be a whole number 1-200, got {steps!r}", field="steps")
            # the name first: a bad one is answered before the clip is read or fitted
            name = _new_voice_name(engine, name, "pick another name")
            data = await upload.read()
        finally:
            await form.close()  # the spooled upload goes now, not whenever it is collected
        if len(data) > limit_mb * 2**20:
            raise BodyTooLarge(too_large, "file")
        # the fit stops at its next step when the client goes away or the time is up
        info = await context.run_cancellable(
            request, started, lambda cancel: fit_voice(engine, data, name, int(steps) if steps else None, cancel),
            "voice fit")
        info.pop("voice_value", None)  # the engine's in-process value; the name is what clients use
        return {"id": info["voice"], "object": "voice", **info}

    @router.post("/v1/voices/blend", tags=["voices"])
    async def blend_voice(request: Request) -> dict[str, Any]:
        """JSON {"a", "b", "weight" (0-1, share of b; default 0.5), "name"}: saves the blend as a library
        voice. 400 names the field that is wrong."""
        engine = context.engine()
        body = await read_json(request, expects="'a', 'b', 'weight' and 'name'")
        unknown = [key for key in body if key not in BLEND_FIELDS]
        if unknown:
            raise InputError(f"unknown field {unknown[0]!r}; the accepted fields are {', '.join(BLEND_FIELDS)}",
                             field=unknown[0])
        for field in ("a", "b", "name"):
            if not isinstance(body.get(field), str) or not body[field].strip():
                raise InputError(f"'{field}' is required: " + ("the new voice's name" if field == "name" else
                                                               "a voice name (GET /v1/voices) or a mix"),
                                 field=field)
        weight = body.get("weight", 0.5)
        number = None if isinstance(weight, bool) else _as_number(weight)
        if number is None or not 0.0 <= number <= 1.0:
            raise InputError(f"'weight' must be a number 0-1 (the share of voice b), got {weight!r}", field="weight")
        for field in ("a", "b"):
            try:
                engine.voices.resolve(body[field])
            except InputError as exc:  # whichever of its parts the bank blames, the field sent is a or b
                raise InputError(str(exc), field=field) from None
        name = _new_voice_name(engine, body["name"], "pick another name or delete it first")
        meta = await to_thread.run_sync(lambda: blend_into_library(engine, body["a"], body["b"], number, name))
        return {"id": meta["name"], "object": "voice", **meta}

    @router.delete("/v1/voices/{name}", tags=["voices"])
    async def delete_voice(name: str) -> dict[str, Any]:
        """Delete a saved voice. 400: not a valid voice name, or a stock voice; 404: no saved voice of that
        name."""
        engine = context.engine()
        with default_field("name"):
            check_name(name)
        if name in engine.voices.stock_names:
            raise InputError(f"{name!r} is a stock voice and cannot be deleted", field="name")
        try:
            await to_thread.run_sync(engine.studio.delete, name)
        except InputError as exc:
            raise APIError(404, str(exc), param="name", code="not_found", kind="not_found") from None
        return {"id": name, "object": "voice", "deleted": True}

    return router


def _new_voice_name(engine: Engine, name: str, if_taken: str) -> str:
    """``name`` checked as a new library voice's (InputError about ``name`` when it is not one or is taken)."""
    try:
        name = engine.studio.library.check_new_name(name)
    except InputError as exc:
        raise InputError(str(exc), field="name") from None
    if name in engine.studio.library:
        raise InputError(f"a voice named {name!r} already exists; {if_taken}", field="name")
    return name
