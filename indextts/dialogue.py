"""Multi-speaker dialogue: a script people write by hand (or a list of turns) -> one track, the turns in order,
each in its own voice and emotion, joined by a gap of silence.

The script format, one turn per line::

    # a comment (ignored), like blank lines
    Alice: Did you hear the news?
    Bob (surprised): No! Tell me.
    Alice (happy 0.6): We won.
      An indented line, or a line with no "Name:" in front, continues the turn above.
    小明（难过）：我没听说。

- ``Name: text``; the name is 1-40 characters and at most 4 words, without sentence punctuation (``, ! ? ;``
  and their full-width forms); the colon ASCII or full-width (``：``). A colon followed by a digit (``at 10:30``)
  or ``//`` (a URL) is not a turn.
- ``Name (emotion): text``: one of the eight emotion names (``indextts.emotion.EMOTIONS``, or IndexTTS2's
  Chinese names) with an optional intensity 0-1 (``happy 0.6``; default 1), or a description read by the
  emotion lexicon (``a little sad``, ``有点难过``: ``resolve_text``). Parentheses ASCII or full-width.
- Errors name the line: text before any speaker, an unknown emotion, a turn with no text.

Speakers table: ``{"Alice": "af_heart", "Bob": {"voice": "am_michael", "emotion": "calm"}}`` or the string
``Alice=af_heart,Bob=am_michael``; names match case-insensitively; a speaker's emotion applies to the lines
that give none. A speaker the table does not map gets a voice of their own: the text language's default voice
first, then the other stock voices of that language, female and male in turn (``DEFAULT_VOICES``), skipping
voices already taken and voices not installed; when no distinct voice is left the error asks for a table entry.

Each turn becomes a ``SynthesisRequest`` (the shape of every request); ``DialogueRender`` renders them one
segment per step, so a caller (the API's worker-thread loop, the page's progress, the CLI) can stop between
any two segments. Torch-free: the engine is used through its public methods.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Mapping

import numpy as np

from .emotion import EMOTIONS, EMOTIONS_ZH, EmotionSpec, spec_from_request
from .errors import InputError
from .request import SynthesisRequest
from .text.langdetect import main_lang

GAP_RANGE_S = (0.0, 5.0)
DEFAULT_GAP_S = 0.35  # about the pause between two people's turns in conversation; a sentence pause is 0.3-0.5
MAX_TURNS = 200  # the whole dialogue's text is also held to engine.max_chars, as one speech request is
MAX_NAME_CHARS = 40
MAX_NAME_WORDS = 4  # "Dr. Mary Ann Lee"; a longer run before a colon is a sentence ("and then he said: ...")

# Voices for speakers the table leaves out, per text language: female and male in turn, so two unmapped speakers
# sound clearly different. The five Japanese packs (always installed) stand in when the 54 voices are not.
DEFAULT_VOICES: dict[str, tuple[str, ...]] = {
    "en": ("af_heart", "am_michael", "bf_emma", "bm_george", "af_bella", "am_fenrir", "bf_isabella", "bm_lewis",
           "af_nicole", "am_puck", "af_sarah", "am_eric"),
    "zh": ("zf_xiaobei", "zm_yunjian", "zf_xiaoni", "zm_yunxi", "zf_xiaoxiao", "zm_yunyang", "zf_xiaoyi",
           "zm_yunxia"),
}
FALLBACK_VOICES = ("jf_alpha", "jm_kumo", "jf_nezumi", "jf_gongitsune", "jf_tebukuro")

_ZH_EMOTIONS = {zh: en for en, zh in EMOTIONS_ZH.items()}
# Characters a speaker name may not hold: sentence punctuation (so "Well, here is the thing: ..." stays text).
_NOT_IN_NAME = ":：()（）,，!！?？;；。\"“”、"
_NAME_RE = rf"[^\s#{_NOT_IN_NAME}][^{_NOT_IN_NAME}]{{0,{MAX_NAME_CHARS - 1}}}?"
# Name, optional (emotion), colon (not one of a time "10:30" or a URL "http://"), text.
_TURN_RE = re.compile(rf"^(?P<name>{_NAME_RE})\s*(?:[(（](?P<emotion>[^()（）]*)[)）]\s*)?[:：](?!\d|//)\s*"
                      rf"(?P<text>.*)$")
_EMOTION_RE = re.compile(r"^(?P<name>.*?\S)\s*(?P<intensity>[0-9]*\.?[0-9]+)$")  # "happy 0.6", "有点难过 0.5"


# ---------------------------------------------------------------- the script

@dataclass(frozen=True)
class ScriptTurn:
    """One turn as written: the 1-based line it starts on, the speaker, the text (continuations joined)
    and the emotion its parentheses asked for (None: the speaker's, else the voice's own prosody)."""

    line: int
    speaker: str
    text: str
    emotion: EmotionSpec | None = None


def parse_emotion(words: str, where: str = "") -> EmotionSpec:
    """``happy``, ``happy 0.6``, ``喜 0.5`` (an emotion name and an intensity 0-1 = its weight) or a description
    (``a little sad``, ``有点难过``, ``excited 0.5``) -> the EmotionSpec. InputError names ``where`` ("line 4")."""
    prefix = f"{where}: " if where else ""
    words = " ".join(str(words).split())
    match = _EMOTION_RE.match(words)
    described, intensity = (match["name"], match["intensity"]) if match and match["intensity"] else (words, None)
    weight = float(intensity) if intensity else 1.0
    if not 0.0 <= weight <= 1.0:
        raise InputError(f"{prefix}the intensity in {words!r} must be from 0 to 1, got {intensity}",
                         field="emotion_weight")
    name = described.lower() if described.lower() in EMOTIONS else _ZH_EMOTIONS.get(described)
    try:
        if name:
            return spec_from_request(vector={name: 1.0}, weight=weight)
        return spec_from_request(text=described, weight=weight)
    except InputError:
        raise InputError(f"{prefix}unknown emotion {words!r}: use one of {', '.join(EMOTIONS)} (or "
                         f"{'、'.join(EMOTIONS_ZH.values())}), optionally with an intensity 0-1 such as "
                         f"'happy 0.6', or a description such as 'a little sad'", field="emotion") from None


def turn_match(raw: str) -> "re.Match[str] | None":
    """The ``Name (emotion): text`` parts of a script line, or None for a continuation line (an indented
    line is always one)."""
    if raw[:1].isspace():
        return None
    match = _TURN_RE.match(raw.strip())
    return match if match and len(match["name"].split()) <= MAX_NAME_WORDS else None


def parse_script(script: str) -> list[ScriptTurn]:
    """The turns of a script (the format in the module's docstring), in order. InputError names the line."""
    if not isinstance(script, str) or not script.strip():
        raise InputError("the script is empty; write one turn per line, e.g. 'Alice: Hello.'", field="script")
    turns: list[dict[str, Any]] = []
    for number, raw in enumerate(script.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = turn_match(raw)
        if match is None:
            if not turns:
                raise InputError(f"line {number}: text before any speaker; start the line with a name and a "
                                 f"colon, e.g. 'Alice: {line[:30]}'", field="script")
            turns[-1]["text"] = f"{turns[-1]['text']} {line}".strip()
            continue
        speaker = " ".join(match["name"].split())
        emotion = match["emotion"]
        if emotion is not None and not emotion.strip():
            raise InputError(f"line {number}: empty parentheses after {speaker!r}; write an emotion such as "
                             f"'{speaker} (happy): ...' or leave them out", field="script")
        try:
            spec = parse_emotion(emotion, f"line {number}") if emotion is not None else None
        except InputError as exc:  # the request's field is the script (the message names the line)
            raise InputError(str(exc), field="script") from None
        turns.append({"line": number, "speaker": speaker, "text": match["text"].strip(), "emotion": spec})
    if not turns:
        raise InputError("the script has no turns (only comments or blank lines); write one turn per line, "
                         "e.g. 'Alice: Hello.'", field="script")
    for turn in turns:
        if not turn["text"]:
            raise InputError(f"line {turn['line']}: {turn['speaker']}'s turn has no text", field="script")
    return [ScriptTurn(**turn) for turn in turns]


def speaker_names(script: str) -> list[str]:
    """The speakers of a script in order of first appearance, read leniently (the page's table follows the
    script as it is typed: a line that would be an error is skipped here)."""
    names: dict[str, str] = {}
    for raw in script.splitlines() if isinstance(script, str) else ():
        match = turn_match(raw)
        if match and not raw.strip().startswith("#"):
            name = " ".join(match["name"].split())
            names.setdefault(name.casefold(), name)
    return list(names.values())


# ---------------------------------------------------------------- the speakers table

@dataclass(frozen=True)
class Speaker:
    """A speakers-table entry: the voice (None: chosen by ``assign_voices``) and the emotion of the speaker's
    lines that give none."""

    voice: str | None = None
    emotion: EmotionSpec | None = None


def parse_speakers(spec: "str | Mapping[str, Any] | None") -> dict[str, Speaker]:
    """``{"Alice": "af_heart", "Bob": {"voice": "am_michael", "emotion": "calm 0.5"}}``, the same as a JSON
    string, or ``Alice=af_heart,Bob=am_michael`` (commas, semicolons or new lines between entries); an empty
    voice leaves the choice to ``assign_voices``. InputError (field ``speakers``) names the bad entry."""
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return {}
    if isinstance(spec, str) and spec.strip().startswith("{"):
        try:
            spec = json.loads(spec)
        except ValueError as exc:
            raise InputError(f"speakers is not valid JSON: {exc}", field="speakers") from None
    if isinstance(spec, str):
        entries: dict[str, Any] = {}
        for part in re.split(r"[,;\n]", spec):
            if not part.strip():
                continue
            name, sep, voice = part.partition("=")
            if not sep or not name.strip():
                raise InputError(f"speakers entry {part.strip()!r} is not 'Name=voice' (e.g. "
                                 f"'Alice=af_heart,Bob=am_michael')", field="speakers")
            entries[name.strip()] = voice.strip()
        spec = entries
    if not isinstance(spec, Mapping):
        raise InputError(f"speakers must map names to voices, e.g. {{\"Alice\": \"af_heart\"}}; got "
                         f"{type(spec).__name__}", field="speakers")
    table: dict[str, Speaker] = {}
    for name, entry in spec.items():
        key = " ".join(str(name).split())
        if not key:
            raise InputError("speakers has an entry with an empty name", field="speakers")
        if key.casefold() in {k.casefold() for k in table}:
            raise InputError(f"speakers names {key!r} twice", field="speakers")
        if entry is None or isinstance(entry, str):
            entry = {"voice": entry}
        if not isinstance(entry, Mapping):
            raise InputError(f"speakers[{key!r}] must be a voice name or {{\"voice\": ..., \"emotion\": ...}}",
                             field="speakers")
        unknown = set(entry) - {"voice", "emotion"}
        if unknown:
            raise InputError(f"speakers[{key!r}] has unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
                             f"use voice and emotion", field="speakers")
        voice, emotion = entry.get("voice"), entry.get("emotion")
        if voice is not None and not isinstance(voice, str) or emotion is not None and not isinstance(emotion, str):
            raise InputError(f"speakers[{key!r}]: voice and emotion are strings, e.g. {{\"voice\": \"af_heart\", "
                             f"\"emotion\": \"happy 0.6\"}}", field="speakers")
        try:
            spec_of = parse_emotion(emotion, f"speakers[{key!r}]") if emotion and emotion.strip() else None
        except InputError as exc:
            raise InputError(str(exc), field="speakers") from None
        table[key] = Speaker((voice or "").strip() or None, spec_of)
    return table


def assign_voices(speakers: dict[str, str], table: Mapping[str, Speaker], engine: Any,
                  taken: set[str] = frozenset()) -> dict[str, str]:
    """A voice for every speaker (``speakers``: name -> all their text): the table's (``table``: entries of
    these speakers only), else a distinct default (see the module's docstring) that is not in ``taken`` (voices
    other turns name). InputError when a table voice is unknown or no distinct voice is left."""
    by_key = {name.casefold(): name for name in speakers}
    chosen = {by_key[name.casefold()]: entry.voice for name, entry in table.items() if entry.voice}
    for name, voice in chosen.items():
        try:
            engine.voices.resolve(voice)
        except InputError as exc:
            raise InputError(f"speakers[{name!r}]: {exc}", field="speakers") from None
    taken = set(taken) | set(chosen.values())
    for name, text in speakers.items():
        if name in chosen:
            continue
        lang = main_lang(text)
        candidates = (engine.default_voice(text, lang), *DEFAULT_VOICES.get(lang, ()), *FALLBACK_VOICES)
        free = next((v for v in candidates if v not in taken and engine.voices.kind(v) is not None), None)
        if free is None:
            raise InputError(f"no distinct default voice is left for {name!r}; give it one in speakers, e.g. "
                             f"'{name}=af_bella'", field="speakers")
        chosen[name] = free
        taken.add(free)
    return chosen


# ---------------------------------------------------------------- the dialogue as requests

@dataclass(frozen=True)
class Turn:
    """One turn to render: its speaker (None for an API turn without one), the request, and where it came
    from, for errors: ``where`` in words ("line 4", "turns[2]"), ``field`` the request field ("script",
    "turns[2]")."""

    speaker: str | None
    request: SynthesisRequest
    where: str
    field: str


@dataclass(frozen=True)
class TurnDraft:
    """A turn before its voice is settled: the voice it asked for (None: by speaker or language)."""

    speaker: str | None
    request: SynthesisRequest  # voice may be None
    where: str
    field: str
    has_emotion: bool = False  # the turn itself set an emotion (a speaker's does not replace it)


@dataclass(frozen=True)
class Dialogue:
    turns: tuple[Turn, ...]
    gap_s: float = DEFAULT_GAP_S


def check_gap(gap_s: Any) -> float:
    if isinstance(gap_s, bool) or not isinstance(gap_s, (int, float)) or not np.isfinite(gap_s) \
            or not GAP_RANGE_S[0] <= gap_s <= GAP_RANGE_S[1]:
        raise InputError(f"gap_s (the silence between turns) must be {GAP_RANGE_S[0]:g}-{GAP_RANGE_S[1]:g} s, "
                         f"got {gap_s!r}", field="gap_s")
    return float(gap_s)


def plan_dialogue(engine: Any, drafts: list[TurnDraft], speakers: "str | Mapping[str, Any] | None" = None,
                  gap_s: float = DEFAULT_GAP_S, max_chars: int | None = None) -> Dialogue:
    """The drafts with their voices settled (the turn's own, else its speaker's from the table or a distinct
    default, else the language's default) and the speakers' emotions applied; checks the limits."""
    gap_s = check_gap(gap_s)
    if not drafts:
        raise InputError("the dialogue has no turns", field="turns")
    if len(drafts) > MAX_TURNS:
        raise InputError(f"the dialogue has {len(drafts)} turns; the limit is {MAX_TURNS}", field="turns")
    total = sum(len(d.request.text) for d in drafts)
    if max_chars is not None and total > max_chars:
        raise InputError(f"the dialogue's text is {total} characters; the limit is {max_chars} (engine.max_chars)",
                         field=drafts[0].field.split("[")[0])
    table = parse_speakers(speakers)
    spelling: dict[str, str] = {}  # one speaker however the lines spell them ("Alice", "alice"): the first spelling
    drafts = [replace(d, speaker=spelling.setdefault(d.speaker.casefold(), d.speaker)) if d.speaker else d
              for d in drafts]
    voiceless: dict[str, str] = {}  # the speakers of turns that name no voice -> all their text (its language)
    for draft in drafts:
        if draft.speaker is not None and draft.request.voice is None:
            voiceless[draft.speaker] = f"{voiceless.get(draft.speaker, '')} {draft.request.text}"
    named = {d.speaker for d in drafts if d.speaker is not None}
    table_of = {name.casefold(): entry for name, entry in table.items()}
    stray = [name for name in table if name.casefold() not in {n.casefold() for n in named}]
    if stray:
        raise InputError(f"speakers names {', '.join(repr(n) for n in stray)}, who has no line in the dialogue "
                         f"(its speakers: {', '.join(sorted(named)) or 'none'})", field="speakers")
    voices = assign_voices(voiceless, {n: e for n, e in table.items() if n.casefold() in
                                       {v.casefold() for v in voiceless}}, engine,
                           taken={d.request.voice for d in drafts if isinstance(d.request.voice, str)})
    turns = []
    for draft in drafts:
        request = draft.request
        entry = table_of.get(draft.speaker.casefold()) if draft.speaker else None
        if request.voice is None and draft.speaker is not None:
            request = request.but(voice=voices[draft.speaker])
        if entry is not None and entry.emotion is not None and not draft.has_emotion:
            request = request.but(emotion=entry.emotion)
        turns.append(Turn(draft.speaker, request, draft.where, draft.field))
    return Dialogue(tuple(turns), gap_s)


def script_dialogue(engine: Any, script: str, speakers: "str | Mapping[str, Any] | None" = None,
                    gap_s: float = DEFAULT_GAP_S, speed: float = 1.0, lang: str = "auto",
                    max_chars: int | None = None) -> Dialogue:
    """A script (and its speakers table) as a Dialogue; every turn at ``speed`` and ``lang``."""
    drafts = []
    for turn in parse_script(script):
        try:
            request = SynthesisRequest(turn.text, speed=speed, lang=lang, emotion=turn.emotion)
        except InputError as exc:
            raise InputError(f"line {turn.line}: {exc}", field=exc.field) from None
        drafts.append(TurnDraft(turn.speaker, request, f"line {turn.line}", "script", turn.emotion is not None))
    return plan_dialogue(engine, drafts, speakers, gap_s, max_chars)


# ---------------------------------------------------------------- rendering

@dataclass(frozen=True)
class TurnTiming:
    """Where a turn is heard in the track."""

    index: int
    speaker: str | None
    voice: str
    text: str
    start_s: float
    end_s: float

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "speaker": self.speaker, "voice": self.voice, "text": self.text,
                "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3)}


@dataclass(frozen=True)
class DialogueResult:
    clip: Any  # engine.SynthesisResult: the whole track (every turn's segments), as outputs.save takes it
    turns: tuple[TurnTiming, ...]

    @property
    def duration_s(self) -> float:
        return self.clip.duration_s


@dataclass
class DialogueRender:
    """Renders a dialogue one segment per step: ``start()`` checks every turn (voices, text) before any audio
    is made; iterating yields the index of the turn a segment was made for; ``result()`` joins the track.
    A caller that stops iterating stops the work (the engine renders a segment only when it is pulled)."""

    engine: Any
    dialogue: Dialogue
    _streams: list = field(default_factory=list, init=False)
    _made: list = field(default_factory=list, init=False)
    _started: float = field(default=0.0, init=False)

    def start(self) -> None:
        self._started = time.perf_counter()
        turns = []
        for turn in self.dialogue.turns:
            try:
                try:
                    voice = self.engine.resolve_voice(turn.request)
                except InputError as exc:
                    raise InputError(str(exc), field=exc.field or "voice") from None
                request = turn.request.but(voice=voice)  # once: the name reported is the voice spoken
                turns.append((request, self.engine.stream(request)))
            except InputError as exc:
                speaker = f" ({turn.speaker})" if turn.speaker else ""
                param = turn.field if turn.field == "script" else f"{turn.field}.{exc.field or 'text'}"
                raise InputError(f"{turn.where}{speaker}: {exc}", field=param) from None
        self._streams = turns

    @property
    def turn_count(self) -> int:
        return len(self.dialogue.turns)

    def __iter__(self) -> Iterator[int]:
        if not self._streams:
            self.start()
        for index, (_, segments) in enumerate(self._streams):
            made: list = []
            self._made.append(made)
            for segment in segments:
                made.append(segment)
                yield index

    def result(self) -> DialogueResult:
        """The track: each turn's segments joined as the engine joins one request's, ``gap_s`` of silence
        between turns. Call after iterating to the end."""
        if len(self._made) != len(self._streams):
            raise RuntimeError("the dialogue was not rendered to its end")
        rate, pieces, timings, segments, at = None, [], [], [], 0
        gap = None
        for index, ((request, _), made, turn) in enumerate(zip(self._streams, self._made, self.dialogue.turns)):
            joined = self.engine.join(made, request.pause_s)
            rate = joined.sample_rate
            if gap is None:
                gap = np.zeros(int(round(self.dialogue.gap_s * rate)), dtype=np.float32)
            elif len(gap):
                pieces.append(gap)
                at += len(gap)
            audio = np.asarray(joined.audio, dtype=np.float32)
            pieces.append(audio)
            timings.append(TurnTiming(index, turn.speaker, request.voice.name, request.text, at / rate,
                                      (at + len(audio)) / rate))
            at += len(audio)
            segments.extend(made)
        # the engine's own SynthesisResult type (imported from it, not here: this module stays torch-free)
        clip = type(joined)(np.concatenate(pieces), rate, segments, time.perf_counter() - self._started)
        return DialogueResult(clip, tuple(timings))

    def run(self, on_turn=None) -> DialogueResult:
        """Render to the end; ``on_turn(done, total)`` after each turn's last segment (progress)."""
        last = -1
        for index in self:
            if on_turn is not None and index != last and last >= 0:
                on_turn(last + 1, self.turn_count)
            last = index
        if on_turn is not None:
            on_turn(self.turn_count, self.turn_count)
        return self.result()
