"""Emotion: the eight emotions and their prosody profiles (``GET /v1/emotions``), and reading an emotion
description as the speech endpoint's ``emotion_text`` would (``POST /v1/emotion/resolve``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ...emotion import EMOTIONS, PROFILES, resolve_text
from .common import RouteContext, parse_body, read_json


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(..., description="an emotion description, e.g. '有点难过' or 'excited and a little scared'")


def build(_context: RouteContext) -> APIRouter:
    router = APIRouter(tags=["emotion"])

    @router.get("/v1/emotions")
    async def emotions() -> dict[str, Any]:
        """The eight emotions, the prosody each one asks for at weight 1, and the evidence behind it."""
        return {"object": "list", "emotions": list(EMOTIONS),
                "data": [{"id": p.name, "edit": asdict(p.edit), "evidence": p.evidence, "checked": list(p.checked)}
                         for p in PROFILES.values()]}

    @router.post("/v1/emotion/resolve")
    async def emotion_resolve(request: Request) -> dict[str, Any]:
        """Read an emotion description as the speech endpoint's ``emotion_text`` would: the vector and the
        words that made it (so a client can show it). 400 when no emotion word is found."""
        body = await read_json(request, expects="'text'")
        req = parse_body(ResolveRequest, body)
        return resolve_text(req.text).as_dict()

    return router
