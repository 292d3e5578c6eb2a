"""The model names (``/v1/models``, ``/v1/models/{id}``, ``/v1/audio/models``): every one is served by the
same Kokoro-82M engine; the OpenAI names exist so unmodified OpenAI clients work."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..error_boundary import APIError
from .common import MODEL_NAMES, RouteContext


def model_entry(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "indextts"}


def build(_context: RouteContext) -> APIRouter:
    router = APIRouter(tags=["openai"])

    @router.get("/v1/models")
    async def models() -> dict[str, Any]:
        """The accepted model names; every one is served by the same Kokoro-82M engine."""
        return {"object": "list",
                "data": [model_entry(name) for name in MODEL_NAMES]}

    @router.get("/v1/audio/models")
    async def audio_models() -> dict[str, Any]:
        """The speech models by name, as Kokoro-style servers list them."""
        return {"models": [model_entry(name) for name in MODEL_NAMES]}

    @router.get("/v1/models/{model_id}")
    async def model(model_id: str) -> dict[str, Any]:
        """One model, as OpenAI's retrieve-model call expects; 404 for a name this app does not serve."""
        if model_id not in MODEL_NAMES:
            raise APIError(404, f"no model {model_id!r}; the models are {', '.join(MODEL_NAMES)}",
                           param="model", code="model_not_found")
        return model_entry(model_id)

    return router
