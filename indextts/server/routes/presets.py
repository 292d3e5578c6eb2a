"""Presets: named speech settings (``indextts.presets``) over HTTP.

- ``GET    /v1/presets``                 ``{"presets": [{name, voice, speed, lang, emotion..., max_tokens, pause_s}]}``
- ``GET    /v1/presets/{name}``          one preset
- ``POST   /v1/presets``                 create or replace: ``{"name": ..., <fields>}``, checked as a speech request
                                         is (a bad voice, an out-of-range speed: 400 naming the field)
- ``POST   /v1/presets/{name}/rename``   ``{"new_name": ...}``
- ``DELETE /v1/presets/{name}``          remove it

A speech request names one with ``"preset": "name"`` (routes/speech.py calls ``with_preset``): the preset fills
the fields the request did not set. Names match without regard to case.
"""

from __future__ import annotations

from typing import Any, TypeVar

from anyio import to_thread
from fastapi import APIRouter, Request
from pydantic import BaseModel

from ...engine import Engine
from ...errors import InputError
from ...presets import Preset, PresetStore, apply_preset, open_store, preset_of
from ...voices import OPENAI_VOICES
from ..error_boundary import APIError
from .common import RouteContext, read_json

PRESETS_ROUTE = "/v1/presets"
Body = TypeVar("Body", bound=BaseModel)


def preset_store(context: RouteContext) -> PresetStore:
    """The app's preset folder (``paths.presets``)."""
    return open_store(context.settings.paths.presets)


def voice_known(engine: Engine, voice: str) -> bool:
    """Whether ``voice`` (a name, an OpenAI name or a mix) names voices that exist now."""
    try:
        engine.voices.resolve(voice)
    except InputError:
        return False
    return True


def with_preset(body: Body, context: RouteContext) -> Body:
    """``body`` with its ``preset`` (if any) filling the fields it did not set (``indextts.presets.apply_preset``);
    a preset whose voice is gone is a 400 naming ``preset``. The engine is asked only when the preset's voice
    is used (503 while it loads)."""
    return apply_preset(body, preset_store(context), lambda voice: voice_known(context.engine(), voice))


def build(context: RouteContext) -> APIRouter:
    router = APIRouter()

    def found(name: str) -> Preset:
        """The preset called ``name``, or a 404 in OpenAI's shape."""
        try:
            return preset_store(context).get(name)
        except InputError as exc:
            raise APIError(404, str(exc), param="name", code="not_found") from None

    @router.get(PRESETS_ROUTE, tags=["presets"])
    async def list_presets() -> dict[str, Any]:
        """Every saved preset, sorted by name."""
        presets = await to_thread.run_sync(preset_store(context).list)
        return {"presets": [preset.as_json() for preset in presets]}

    @router.get(PRESETS_ROUTE + "/{name}", tags=["presets"])
    async def get_preset(name: str) -> dict[str, Any]:
        """One preset: its name and settings."""
        return (await to_thread.run_sync(found, name)).as_json()

    @router.post(PRESETS_ROUTE, tags=["presets"], openapi_extra={"requestBody": {
        "required": True, "content": {"application/json": {"schema": Preset.model_json_schema()}}}})
    async def save_preset(request: Request) -> dict[str, Any]:
        """Create a preset, or replace the one of the same name (any case): ``{"preset", "replaced"}``.
        Checked as a speech request is; the voice must exist now."""
        preset = preset_of(await read_json(request, expects="'name' and the settings"))
        if preset.voice is not None and not voice_known(context.engine(), preset.voice):
            raise InputError(f"unknown voice {preset.voice!r}: use a voice from /v1/voices (or the OpenAI names "
                             f"{', '.join(OPENAI_VOICES)}, or a mix such as af_bella+af_sky)", field="voice")
        replaced = await to_thread.run_sync(preset_store(context).save, preset)
        return {"preset": preset.as_json(), "replaced": replaced}

    @router.post(PRESETS_ROUTE + "/{name}/rename", tags=["presets"])
    async def rename_preset(name: str, request: Request) -> dict[str, Any]:
        """Rename a preset: body ``{"new_name": ...}``; the renamed preset."""
        body = await read_json(request, expects="'new_name'")
        unknown = sorted(set(body) - {"new_name"})
        if unknown:
            raise InputError(f"unknown field {unknown[0]!r}; the body is {{\"new_name\": ...}}", field=unknown[0])
        await to_thread.run_sync(found, name)
        renamed = await to_thread.run_sync(preset_store(context).rename, name, body.get("new_name"))
        return {"preset": renamed.as_json()}

    @router.delete(PRESETS_ROUTE + "/{name}", tags=["presets"])
    async def delete_preset(name: str) -> dict[str, Any]:
        """Remove a preset; the removed one."""
        await to_thread.run_sync(found, name)
        removed = await to_thread.run_sync(preset_store(context).delete, name)
        return {"deleted": removed.as_json()}

    return router
