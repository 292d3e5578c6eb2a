"""Text: how the engine reads a text (``POST /v1/text/phonemize``) and the glossary of readings the user sets
(``GET /v1/glossary``, ``POST /v1/glossary``, ``DELETE /v1/glossary/{term}``, ``POST /v1/glossary/import``).

The glossary is the engine's (``engine.glossary``, a ``GlossaryStore``): what is stored here is what every
request speaks with, the page's and the CLI's included."""

from __future__ import annotations

from typing import Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from ...errors import InputError
from ...glossary_store import FORMATS, GlossaryFileError, checked, entry_dict
from ...request import SynthesisRequest
from ..error_boundary import APIError
from .common import MAX_BODY_BYTES, RouteContext, limited_body, parse_body, read_json

# the Content-Type of an export, and the ones an import's body may be sent with (else ?format= says)
EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "yaml": "application/yaml; charset=utf-8"}
IMPORT_TYPES = {"text/csv": "csv", "application/csv": "csv", "application/yaml": "yaml", "application/x-yaml": "yaml",
                "text/yaml": "yaml", "text/x-yaml": "yaml"}


class PhonemizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: str = Field(..., description="the text, as /v1/audio/speech takes it (inline [text](reading) too)")
    lang: Literal["auto", "en", "zh"] = Field("auto", description="auto detects each run of text")


class GlossaryEntryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    term: str = Field(..., description="the text to read differently, e.g. 行长 or Kokoro")
    lang: str = Field(..., description="the term's language: en or zh")
    reading: str = Field(..., description="zh: TONE3 pinyin, one syllable per character (hang2 zhang3); "
                                          "en: /Kokoro phonemes/ or a respelling (KOH-ko-ro)")


def phonemized(engine: Any, text: str, lang: str) -> dict[str, Any]:
    """What ``/v1/text/phonemize`` answers: the segments the engine would speak and the words in reading order
    (glossary and inline readings applied to both)."""
    segments = engine.segments(SynthesisRequest(text, lang=lang))
    words = engine.words(text, lang)
    return {"segments": [{"text": s.text, "lang": s.lang, "phonemes": s.phonemes, "tokens": list(s.tokens)}
                         for s in segments],
            "words": [{"text": w.text, "lang": w.lang, "phonemes": w.phonemes,
                       "pinyin": list(w.pinyin) if w.pinyin is not None else None} for w in words]}


def glossary_unwritable(exc: GlossaryFileError) -> APIError:
    """The file on disk is broken (edited by hand): it is not overwritten, and the client is told why."""
    return APIError(409, str(exc), code="glossary_file_invalid", kind="conflict")


def build(context: RouteContext) -> APIRouter:
    router = APIRouter(tags=["text"])

    @router.post("/v1/text/phonemize")
    async def phonemize(request: Request) -> dict[str, Any]:
        """JSON {"input", "lang": auto|en|zh} -> {"segments": [{"text", "lang", "phonemes", "tokens"}], "words":
        [{"text", "lang", "phonemes", "pinyin"}]}: how the text will be read (no audio). ``pinyin``: TONE3
        syllables for a Chinese word (before tone sandhi), null for an English one. 400 names the field."""
        engine = context.engine()
        req = parse_body(PhonemizeRequest, await read_json(request, expects="'input' and 'lang'"))
        return await to_thread.run_sync(lambda: phonemized(engine, req.input, req.lang))

    @router.get("/v1/glossary")
    async def glossary(format: Literal["json", "csv", "yaml"] = "json"):  # noqa: A002 (the query's name)
        """The glossary: ``{"entries": [{"term", "lang", "reading"}]}``; ``?format=csv`` or ``?format=yaml``:
        the file to download (``POST /v1/glossary/import`` takes it back)."""
        store = context.engine().glossary
        if format == "json":
            return {"entries": [entry_dict(e) for e in store.entries()]}
        return PlainTextResponse(store.export_text(format), media_type=EXPORT_TYPES[format],
                                 headers={"Content-Disposition": f'attachment; filename="glossary.{format}"'})

    @router.post("/v1/glossary")
    async def put_entry(request: Request) -> dict[str, Any]:
        """JSON {"term", "lang", "reading"}: adds the entry, or replaces the one of the same term. Answers the
        entry as stored (pinyin lower-case, single spaces) and whether one was replaced. 400 names the bad
        syllable or phoneme (param ``reading``), or ``term``/``lang``."""
        store = context.engine().glossary
        body = parse_body(GlossaryEntryBody, await read_json(request, expects="'term', 'lang' and 'reading'"))
        entry = checked(body.term, body.lang, body.reading)
        try:
            replaced = await to_thread.run_sync(store.put, entry)
        except GlossaryFileError as exc:
            raise glossary_unwritable(exc) from None
        return {"entry": entry_dict(entry), "replaced": replaced}

    @router.delete("/v1/glossary/{term}")
    async def delete_entry(term: str) -> dict[str, Any]:
        """Remove the entry of ``term`` (exactly as stored; URL-encode it). 404 when there is none."""
        store = context.engine().glossary
        try:
            removed = await to_thread.run_sync(store.delete, term)
        except GlossaryFileError as exc:
            raise glossary_unwritable(exc) from None
        if removed is None:
            raise APIError(404, f"no glossary entry for {term!r}; see GET /v1/glossary", param="term",
                           code="not_found", kind="not_found")
        return {"entry": entry_dict(removed), "deleted": True}

    @router.post("/v1/glossary/import")
    async def import_entries(request: Request, format: Literal["csv", "yaml"] | None = None,  # noqa: A002
                             replace: bool = False) -> dict[str, Any]:
        """The body is a CSV (header term,lang,reading) or YAML glossary file, as ``GET /v1/glossary?format=``
        gives it: ``?format=csv|yaml``, or a Content-Type of text/csv or application/yaml. Merged by term
        (``?replace=true``: the import becomes the whole glossary). Every row is checked first: one bad row
        (named by its line or position) changes nothing. Answers {"imported": n, "entries": [...]}."""
        store = context.engine().glossary
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        fmt = format or IMPORT_TYPES.get(content_type)
        if fmt not in FORMATS:
            raise InputError(f"say the file's format: ?format=csv or ?format=yaml, or send it as text/csv or "
                             f"application/yaml (got {content_type or 'no content type'!r})", field="format")
        raw = await limited_body(request, MAX_BODY_BYTES,
                                 f"the glossary file is larger than {MAX_BODY_BYTES // 1024} KiB", "file").body()
        try:
            data = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"the glossary file is not UTF-8 text ({exc})", field="file") from None
        try:
            count = await to_thread.run_sync(lambda: store.import_text(data, fmt, replace=replace))
        except GlossaryFileError as exc:
            raise glossary_unwritable(exc) from None
        return {"imported": count, "entries": [entry_dict(e) for e in store.entries()]}

    return router
