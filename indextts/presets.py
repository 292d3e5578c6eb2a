"""Settings presets: the page's speech settings kept under a name, to use again from the page, the API and the CLI.

A preset holds the options of a speech request that say *how* to speak (never the text): the voice, speed,
language, the emotion (a vector or a description, its weight, random variation and seed), the segment length
in tokens (``max_tokens``) and the pause after a sentence (``pause_s``). Field names are the API's
(``/v1/audio/speech``), so a preset file reads like a request body. An emotion *reference clip* is not kept:
a preset is settings, not audio (the page says so when it saves one in that mode).

One folder (``paths.presets``, default ``presets/`` beside config.yaml), one JSON file per preset, named
``<name>.json``; writes are atomic (temp file + rename) and every read looks at the folder again, so the CLI,
the API and the page see each other's changes at once (parsed files are kept until they change on disk).

Names: 1-64 characters, letters (any script), digits, spaces and ``- _ . ( ) + &``; no path characters, no
leading dot or space. Case is kept as typed but does not tell presets apart: ``Narration`` and ``narration``
are one preset (file systems on macOS and Windows would not keep them apart either).

Applying a preset (``apply_preset``) fills only the fields the caller did not set: whatever a request, a flag or
a batch line gives explicitly wins. A preset whose voice has since been deleted says so when applied.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .atomic import atomic_path
from .emotion import EMOTIONS, EmotionSpec, spec_from_request
from .errors import InputError
from .pydantic_errors import field_problems
from .request import LANGS, SynthesisRequest

log = logging.getLogger(__name__)

NAME_MAX = 64
SUFFIX = ".json"
# letters and digits of any script (Chinese names too), spaces and a few harmless marks; never / \ : * ? " < > |
_NAME_RE = re.compile(r"^[^\W_][\w .()+&-]*$")
# the format of a voice as requests write it: a name, or names joined by '+' each with an optional (weight)
_VOICE_PART = r"\s*[A-Za-z0-9_][A-Za-z0-9_.-]*\s*(?:\(\s*[0-9]*\.?[0-9]+\s*\))?\s*"
_VOICE_RE = re.compile(rf"^{_VOICE_PART}(?:\+{_VOICE_PART})*$")
VOICE_MAX = 200
# The caller setting one field of a group keeps the preset's values out of the whole group: two emotion
# sources (or lang and a disagreeing lang_code) would be a conflict the caller never asked for.
GROUPS = (("emotion", "emotion_text", "emotion_reference"), ("lang", "lang_code"))

Body = TypeVar("Body", bound=BaseModel)


class PresetSettings(BaseModel):
    """How to speak, as a speech request's fields (None / the default: the engine's own setting)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    voice: str | None = Field(None, description="a voice name, an OpenAI voice name or a mix; None: the default "
                                                "voice of the text's language")
    speed: float = Field(1.0, description="0.25-4.0")
    lang: str = Field("auto", description=f"one of {', '.join(LANGS)}")
    emotion: dict[str, float] | None = Field(None, description=f"emotion vector, values 0-1: {', '.join(EMOTIONS)}")
    emotion_text: str | None = Field(None, description="an emotion description (English or Chinese)")
    emotion_weight: float = Field(1.0, description="0-1: how far from neutral")
    emotion_random: bool = Field(False, description="seeded random variation of the prosody")
    emotion_seed: int = Field(0, description="seed for emotion_random")
    max_tokens: int | None = Field(None, description="segment length in phoneme tokens; None: the engine's")
    pause_s: float | None = Field(None, description="silence after a sentence, seconds; None: the engine's")

    def emotion_spec(self) -> EmotionSpec | None:
        """The preset's emotion as the engine takes it (None: the voice's own prosody)."""
        return spec_from_request(vector=self.emotion, text=self.emotion_text, weight=self.emotion_weight,
                                 random=self.emotion_random, seed=self.emotion_seed)

    def check(self) -> "PresetSettings":
        """Every value checked as a speech request checks it; InputError names the field."""
        if self.voice is not None and (not self.voice.strip() or len(self.voice) > VOICE_MAX
                                       or not _VOICE_RE.match(self.voice)):
            raise InputError(f"voice {self.voice!r} is not a voice name: use a name such as af_heart, or a mix "
                             f"such as af_bella+af_sky or af_bella(2)+af_sky(1)", field="voice")
        SynthesisRequest("-", speed=self.speed, lang=self.lang, max_tokens=self.max_tokens, pause_s=self.pause_s)
        if self.emotion is not None and self.emotion_text is not None:
            raise InputError("give one emotion source, not emotion and emotion_text", field="emotion_text")
        self.emotion_spec()  # emotion names, ranges, weight and seed; a description the lexicon cannot read
        return self


class Preset(PresetSettings):
    """A named PresetSettings: the API's body and answer (``{"name": ..., <fields>}``)."""

    name: str = Field(..., description=f"1-{NAME_MAX} characters: letters, digits, spaces, - _ . ( ) + &")

    @property
    def settings(self) -> PresetSettings:
        return PresetSettings(**self.model_dump(exclude={"name"}))

    def as_json(self) -> dict[str, Any]:
        return self.model_dump()


SETTING_FIELDS = tuple(PresetSettings.model_fields)


def check_name(name: Any, field: str = "name") -> str:
    """``name`` as a preset is stored under (NFC, spaces trimmed), or an InputError saying what is wrong."""
    if not isinstance(name, str) or not name.strip():
        raise InputError("a preset needs a name", field=field)
    name = unicodedata.normalize("NFC", name.strip())
    if len(name) > NAME_MAX:
        raise InputError(f"the preset name is {len(name)} characters; at most {NAME_MAX}", field=field)
    if not _NAME_RE.match(name):
        raise InputError(f"preset name {name!r} may hold only letters, digits, spaces and - _ . ( ) + & "
                         f"(and must start with a letter or digit)", field=field)
    return name


def preset_of(values: Mapping[str, Any], name: str | None = None) -> Preset:
    """A checked Preset from outside values (a JSON body, a file, the page); ``name`` overrides theirs.
    A wrong type or an unknown field is an InputError naming the field."""
    data = dict(values)
    if name is not None:
        data["name"] = name
    data["name"] = check_name(data.get("name"))
    try:
        preset = Preset.model_validate(data)
    except ValidationError as exc:
        problem = field_problems(exc.errors())[0]
        if problem.kind == "extra_forbidden":
            raise InputError(f"unknown preset field {problem.field!r}; a preset has {', '.join(SETTING_FIELDS)}",
                             field=problem.field) from None
        raise InputError(f"{problem.field}: {problem.message} (got {problem.shown_value})",
                         field=problem.field) from None
    preset.check()
    return preset


# ---------------------------------------------------------------- applying a preset

def preset_fill(preset: PresetSettings, given: Iterable[str], accepted: Iterable[str] | None = None) -> dict[str, Any]:
    """The preset's values for the fields the caller did not set (``given``: the names set explicitly),
    limited to the fields the target takes (``accepted``; None: all). A group (the emotion sources; lang and
    lang_code) is filled only when the caller set none of it."""
    given = set(given)
    accepted_set = set(SETTING_FIELDS if accepted is None else accepted)
    blocked = {name for group in GROUPS if given & set(group) for name in group}
    return {name: value for name, value in preset.model_dump(include=set(SETTING_FIELDS)).items()
            if name in accepted_set and name not in given and name not in blocked}


def check_voice_exists(preset: Preset, voice_exists: Callable[[str], bool]) -> None:
    """InputError (field ``preset``) when the preset's voice is gone (a saved voice deleted since)."""
    if preset.voice and not voice_exists(preset.voice):
        raise InputError(f"preset '{preset.name}' uses voice '{preset.voice}', which no longer exists (deleted?)",
                         field="preset")


def apply_preset(body: Body, store: "PresetStore", voice_exists: Callable[[str], bool]) -> Body:
    """``body`` (any pydantic model with a ``preset`` field and speech fields: a speech request, a batch line,
    a dialogue turn) with the named preset filling the fields the caller did not set. The one merge every
    feature uses. Unknown preset, or its voice gone: InputError naming ``preset``. No preset: ``body`` itself."""
    name = getattr(body, "preset", None)
    if name is None:
        return body
    preset = store.get(name, field="preset")
    fill = preset_fill(preset, body.model_fields_set, type(body).model_fields)
    if "voice" in fill:
        check_voice_exists(preset, voice_exists)
    return body.model_copy(update=fill)


def synthesis_options(preset: PresetSettings, given: Mapping[str, Any]) -> dict[str, Any]:
    """``SynthesisRequest`` keyword arguments: the preset's settings with ``given`` (what the caller set, e.g.
    the CLI flags that were passed) winning field by field; the emotion becomes an EmotionSpec."""
    own = {name: value for name, value in given.items() if name in SETTING_FIELDS}
    merged = PresetSettings(**{**preset_fill(preset, given), **own})
    options = merged.model_dump(include={"voice", "speed", "lang", "max_tokens", "pause_s"})
    others = {name: value for name, value in given.items() if name not in SETTING_FIELDS}
    return {**options, **others, "emotion": merged.emotion_spec()}


# ---------------------------------------------------------------- the folder

class PresetStore:
    """The preset folder as a thread-safe store. Every call looks at the folder (a few small files), and a
    file is parsed again only when it changed (modification time, size, inode), so edits from another
    process (the CLI, a second app) are seen at once. A broken file is left out of ``list`` (a warning in
    the log) and named by ``get``; it is never overwritten except by a save of the same name."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._parsed: dict[str, tuple[tuple[int, int, int], Preset | InputError]] = {}

    # -- reading ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every stored preset's name, sorted without regard to case."""
        return [preset.name for preset in self.list()]

    def list(self) -> list[Preset]:
        with self._lock:
            found = []
            for path in self._files():
                loaded = self._load(path)
                if isinstance(loaded, Preset):
                    found.append(loaded)
            return sorted(found, key=lambda p: p.name.casefold())

    def get(self, name: str, field: str = "name") -> Preset:
        """The preset called ``name`` (any case); InputError naming ``field`` when there is none."""
        with self._lock:
            path = self._find(name)
            if path is None:
                known = ", ".join(sorted((p.stem for p in self._files()), key=str.casefold)) or "none yet"
                raise InputError(f"no preset named {name!r} (saved presets: {known})", field=field)
            loaded = self._load(path)
        if isinstance(loaded, InputError):
            raise InputError(str(loaded), field=field)
        return loaded

    # -- writing ---------------------------------------------------------------------------
    def save(self, preset: Preset) -> bool:
        """Write ``preset`` (checked again), replacing the preset of the same name in any case; True when one
        was replaced. The stored name takes the case just given."""
        preset = preset_of(preset.model_dump())
        with self._lock:
            old = self._find(preset.name)
            target = self._path(preset.name)
            with atomic_path(target) as tmp:
                tmp.write_text(json.dumps(preset.settings.model_dump(), ensure_ascii=False, indent=2) + "\n",
                               encoding="utf-8")
            if old is not None and old.name != target.name and old.exists() and not _same_file(old, target):
                old.unlink()  # the same name in another case (a case-sensitive file system)
            self._parsed.pop(target.name, None)
        return old is not None

    def rename(self, name: str, new_name: str) -> Preset:
        """Give a preset another name (or another case of its name); the renamed preset. Refuses a name
        another preset already has."""
        new_name = check_name(new_name, field="new_name")
        with self._lock:
            old = self._find(name)
            if old is None:
                raise InputError(f"no preset named {name!r}", field="name")
            clash = self._find(new_name)
            if clash is not None and clash != old:
                raise InputError(f"a preset named {clash.stem!r} already exists; delete it first or pick "
                                 f"another name", field="new_name")
            target = self._path(new_name)
            os.replace(old, target)  # one rename: atomic, and right on case-insensitive file systems too
            self._parsed.pop(old.name, None)
            self._parsed.pop(target.name, None)
        return self.get(new_name)

    def delete(self, name: str) -> Preset:
        """Remove the preset called ``name`` (any case); the removed preset. InputError when there is none."""
        preset = self.get(name)
        with self._lock:
            path = self._find(name)
            if path is not None:
                path.unlink(missing_ok=True)
                self._parsed.pop(path.name, None)
        return preset

    # -- the files (the lock is held) --------------------------------------------------------
    def _path(self, name: str) -> Path:
        return self.root / f"{name}{SUFFIX}"

    def _files(self) -> list[Path]:
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        return [Path(e.path) for e in entries
                if e.name.endswith(SUFFIX) and not e.name.startswith(".") and e.is_file()]

    def _find(self, name: str) -> Path | None:
        """The file of the preset called ``name``, matched without regard to case (and Unicode form)."""
        if not isinstance(name, str) or not name.strip():
            return None
        wanted = unicodedata.normalize("NFC", name.strip()).casefold()
        return next((p for p in self._files() if unicodedata.normalize("NFC", p.stem).casefold() == wanted), None)

    def _load(self, path: Path) -> Preset | InputError:
        """The preset in ``path``, parsed again only when the file changed; a broken file is an InputError
        value (logged once per version of the file)."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return InputError(f"preset {path.stem!r} was just deleted")
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = self._parsed.get(path.name)
        if cached is not None and cached[0] == signature:
            return cached[1]
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise InputError(f"expected a JSON object of settings, got {type(data).__name__}")
            loaded: Preset | InputError = preset_of(data, name=path.stem)
        except (OSError, UnicodeDecodeError, ValueError) as exc:  # InputError and JSON errors are ValueErrors
            loaded = InputError(f"the preset file {path} is not valid: {exc}. Fix it or delete it")
            log.warning("%s", loaded)
        self._parsed[path.name] = (signature, loaded)
        return loaded


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@lru_cache(maxsize=None)
def open_store(root: Path) -> PresetStore:
    """The store of folder ``root``, one per folder and process (each re-reads the folder, so several would
    agree anyway; one keeps the parsed files once)."""
    return PresetStore(root)
