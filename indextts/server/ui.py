"""The Gradio page: text in, speech out, with segment preview, pitch plot and session history.

``build_ui(holder, settings, store, metrics)`` returns the Blocks (queued); app.py mounts it at "/".
The page never touches the model: it calls the engine held by ``EngineHolder`` and saves every
generation through ``OutputStore``. All visible strings come from ``i18n.py`` (English and
Chinese); the language follows the browser and can be switched on the page.

Public API (gradio_client): "/synthesize" (the Generate button), "/preview_segments",
"/voices", "/preview_voice", "/clone_voice", "/cancel_clone", and the glossary: "/glossary" (the entries),
"/glossary_put" (add or replace one), "/glossary_delete"; the presets (preset_panel.py): "/presets",
"/preset_save", "/preset_delete". Everything else (language switch, loading poll,
live preview, replay) is private.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import gradio as gr
import numpy as np
import pandas as pd
import soundfile as sf

from .. import disk_cache
from ..atomic import atomic_path
from ..audio import write_audio
from ..config import Settings
from ..emotion import EMOTIONS, resolve_text, spec_from_request
from ..engine import SAMPLE_RATE, SegmentResult, SynthesisResult, pause_after, segment_audio
from ..errors import Cancelled, IndexTTSError, InputError
from ..glossary_store import FORMATS as GLOSSARY_FORMATS, checked, entry_dict
from ..request import LANGS, SPEED_RANGE, SynthesisRequest
from ..subtitles import FORMATS as SUBTITLE_FORMATS, subtitles
from ..text.annotations import markup, parse_annotations
from ..text.coverage import find_unreadable
from ..text.vocab import MAX_MODEL_TOKENS
from ..timing import synthesis_timing
from ..voices import LANGUAGES, Voice
from .audio_codec import encode
from .engine_holder import EngineHolder, EngineNotReady
from .i18n import DEFAULT_UI_LANG, TABLES, normalize_lang, t
from .metrics import Metrics
from .outputs import OutputStore
from .preset_panel import PresetControls, PresetPanel
from .tabs import TABS, PageKit

log = logging.getLogger(__name__)
LANGUAGES_ORDER = tuple(code for code, _ in LANGUAGES.values())  # the voice picker's groups: en-US, en-GB, zh ...

MODEL_NAME = "Kokoro-82M"
DOWNLOAD_FORMATS = ("wav", "mp3", "flac")
HISTORY_LIMIT = 50          # rows kept in a session's history table
PITCH_MAX_POINTS = 4000     # the pitch plot is decimated beyond this
F0_STEP_S = 0.0125          # the model predicts two F0 points per 25 ms frame
PLOT_MIN_HZ = 40.0          # lower F0 is not voice pitch: the vocoder's unvoiced (<10 Hz) and ramps into it
LIVE_TAIL_S = 0.05          # the end of each segment sent apart to the live player (see live_chunks)
POLL_S = 1.0                # how often a loading page asks whether the model is ready

EXAMPLES = [
    ["Hello! The meeting moved to 3:30 pm on March 5th. Please bring the quarterly report."],
    ["今天天气很好，我们下午三点在公园门口见面吧。记得带上雨伞，晚上可能会下雨。"],
    ["我昨天用 iPhone 给 Alice 打了电话。She said the project is almost done, 下周一就能上线。"],
]

# navigator.language -> "en" | "zh", run in the browser when the page opens.
DETECT_LANG_JS = """() => {
  const tag = ((navigator.languages && navigator.languages[0]) || navigator.language || 'en').toLowerCase();
  return tag.startsWith('zh') ? 'zh' : 'en';
}"""


def _char_count_js(limit: int) -> str:
    """Live character count, computed in the browser (no server round trip per key press)."""
    templates = {lang: {k: table[k] for k in ("chars", "chars_over")} for lang, table in TABLES.items()}
    return f"""(text, lang) => {{
  const all = {json.dumps(templates, ensure_ascii=False)};
  const table = all[lang] || all['{DEFAULT_UI_LANG}'];
  const n = [...(text || '')].length, limit = {limit};
  return (n > limit ? table.chars_over : table.chars).replace('{{n}}', n).replace('{{limit}}', limit);
}}"""


@dataclass
class Stats:
    """What the status line says about this session's last generation."""

    audio_s: float | None = None
    compute_s: float | None = None

    @property
    def rtf(self) -> float | None:
        return self.compute_s / self.audio_s if self.audio_s and self.compute_s is not None else None


@dataclass
class HistoryItem:
    time: str
    voice: str
    text: str
    duration_s: float
    rtf: float
    wav_path: str
    pitch: pd.DataFrame = field(repr=False)


SessionVoices = dict[str, Voice]  # a page session's unsaved clones by name (its gr.State; nobody else's)


def chosen_voice(voice: str | None, session: SessionVoices | None) -> Voice | str | None:
    """The picker's value as the engine takes it: this session's unsaved clone (a ``Voice``), else the name."""
    return (session or {}).get(voice or "", voice)


class _Page:
    """The handlers behind the page; one instance per app, shared by all sessions (no session data: what
    belongs to a session, such as its unsaved clones, comes in as that session's gr.State)."""

    def __init__(self, holder: EngineHolder, settings: Settings, store: OutputStore,
                 metrics: Metrics | None = None, live_playback: bool = False) -> None:
        self.holder = holder
        self.settings = settings
        self.store = store
        self.metrics = metrics or Metrics()  # the app's; a private one for a page built alone
        self.live_playback = live_playback  # feed the streaming player (needs ffmpeg)
        self._fit_cancels: dict[str | None, threading.Event] = {}  # a running fit per page session

    # -- status and loading ----------------------------------------------------------------
    def status_line(self, lang: str, stats: Stats | None) -> str:
        state = self.holder.state
        if state == "loading":
            return t(lang, "status_loading")
        if state == "failed":
            return t(lang, "status_failed", error=self.holder.error)
        line = t(lang, "status_ready", device=self.holder.engine.device, model=MODEL_NAME)
        if stats and stats.rtf is not None:
            line += t(lang, "status_rtf", audio=stats.audio_s, compute=stats.compute_s, rtf=stats.rtf)
        return line

    def voice_choices(self, lang: str, session: SessionVoices | None = None) -> list[tuple[str, str]]:
        """(label, value) pairs for the voice pickers: the default by language (value ""), this session's
        unsaved clones and the library's voices, then the stock voices grouped by language and gender."""
        engine = self.holder.engine
        voices = engine.voices
        infos = [voices.info(name) for name in voices.names]
        defaults = engine.default_voices
        choices = [(t(lang, "voice_default", en=defaults["en"], zh=defaults["zh"]), "")]
        choices += [(f"{name} · {t(lang, 'kind_session')}", name) for name in session or {}]
        choices += [(f"{i.name} · {t(lang, 'kind_' + i.kind)}", i.name) for i in infos if i.kind != "stock"]
        order = list(LANGUAGES_ORDER)
        stock = sorted((i for i in infos if i.kind == "stock"),
                       key=lambda i: (order.index(i.language) if i.language in order else len(order),
                                      i.gender != "female", i.name))
        for i in stock:
            parts = [i.name] + ([t(lang, f"language_{i.language}")] if i.language else []) \
                + ([t(lang, i.gender)] if i.gender else [])
            choices.append((" · ".join(parts), i.name))
        return choices

    def voice_update(self, current: str | None, lang: str = DEFAULT_UI_LANG,
                     session: SessionVoices | None = None) -> dict:
        if self.holder.state != "ready":
            return gr.update()
        choices = self.voice_choices(normalize_lang(lang), session)
        values = {value for _, value in choices}
        return gr.update(choices=choices, value=current if current in values else "")

    def preview_voice(self, voice: str | None, ui_lang: str, session: SessionVoices | None = None) -> str:
        """A short sample of the chosen voice in its own language (English for voices of other languages),
        made once per voice and kept (outputs/.previews, the most recently used ``disk_cache.MAX_PREVIEWS``)."""
        ui_lang = normalize_lang(ui_lang)
        try:
            engine = self.holder.engine
            chosen = chosen_voice(voice, session)
            resolved = chosen if isinstance(chosen, Voice) else \
                engine.voices.resolve(voice or engine.default_voice(lang="en"))
        except IndexTTSError as exc:
            raise gr.Error(str(exc)) from None
        info = engine.voices.info(resolved.name) if resolved.kind not in ("mix", "session") else None
        lang = "zh" if info is not None and info.language == "zh" else "en"
        digest = hashlib.sha256(f"{resolved.fingerprint}|{lang}".encode()).hexdigest()[:16]
        path = Path(self.settings.paths.outputs) / ".previews" / f"{digest}.wav"
        if path.is_file():
            disk_cache.touch(path)
        else:
            result = engine.synthesize(t(ui_lang, f"voice_preview_text_{lang}"), voice=resolved, lang=lang)
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                sf.write(tmp, result.audio, result.sample_rate, format="WAV", subtype="PCM_16")
            disk_cache.prune(path.parent, disk_cache.MAX_PREVIEWS)
        return str(path)

    def poll(self, lang: str, text: str, text_lang: str, max_tokens: float, voice: str, stats: Stats,
             session: SessionVoices | None = None):
        """Status, Generate enabled?, voices, keep polling?, segment preview."""
        state = self.holder.state
        return (
            self.status_line(lang, stats),
            gr.update(interactive=state == "ready"),
            self.voice_update(voice, lang, session),
            gr.update(active=state == "loading"),
            self.preview_table(text, text_lang, max_tokens, lang),
        )

    # -- segments --------------------------------------------------------------------------
    def preview_rows(self, text: str, lang: str = "auto", max_tokens: int | None = None) -> list[dict]:
        """The API's preview: raises the engine's message (empty text, over the limit...). ``reading``: how
        each segment will be read, glossary and inline readings applied (``segment_reading``)."""
        engine = self.holder.engine
        budget = self.settings.engine.max_tokens_per_segment if max_tokens is None else int(max_tokens)
        segments = engine.segments(text, lang=lang, max_tokens=budget)
        readings = [segment_reading(engine.words(source, s.lang))
                    for s, source in zip(segments, segment_sources(text, segments))]
        return [{"index": i + 1, "lang": s.lang, "text": s.text, "reading": reading, "tokens": len(s.tokens)}
                for i, (s, reading) in enumerate(zip(segments, readings))]

    def preview_table(self, text: str, text_lang: str, max_tokens: float, ui_lang: str) -> pd.DataFrame:
        """The page's live preview: never raises; says why there is nothing to show."""
        columns = [t(ui_lang, k) for k in ("col_index", "col_lang", "col_text", "col_reading", "col_tokens")]
        if self.holder.state == "loading":
            return pd.DataFrame([["", "", t(ui_lang, "seg_loading"), "", ""]], columns=columns)
        if self.holder.state == "failed":
            return pd.DataFrame([["", "", self.status_line(ui_lang, None), "", ""]], columns=columns)
        if not (text or "").strip():
            return pd.DataFrame([["", "", t(ui_lang, "seg_empty"), "", ""]], columns=columns)
        try:
            rows = self.preview_rows(text, text_lang, int(max_tokens))
        except IndexTTSError as exc:
            return pd.DataFrame([["", "", str(exc), "", ""]], columns=columns)
        return pd.DataFrame([[r["index"], r["lang"], r["text"], r["reading"], r["tokens"]] for r in rows],
                            columns=columns)

    # -- glossary --------------------------------------------------------------------------
    def glossary_entries(self) -> list[dict]:
        """The engine's glossary as the API lists it: [{term, lang, reading}, ...]."""
        return [entry_dict(e) for e in self.holder.engine.glossary.entries()]

    def glossary_put(self, term: str, lang: str, reading: str) -> tuple[dict, bool]:
        """Add or replace one entry (checked: InputError names the bad syllable or phoneme); the entry as
        stored and whether one was replaced."""
        entry = checked(term, lang, reading)
        return entry_dict(entry), self.holder.engine.glossary.put(entry)

    def glossary_delete(self, term: str) -> dict:
        removed = self.holder.engine.glossary.delete((term or "").strip())
        if removed is None:
            raise InputError(f"no glossary entry for {term!r}", field="term")
        return entry_dict(removed)

    def glossary_frame(self, ui_lang: str) -> pd.DataFrame:
        """The glossary table: term, language, reading (a note while the model loads)."""
        columns = [t(ui_lang, k) for k in ("col_term", "col_lang", "col_reading")]
        if self.holder.state != "ready":
            note = t(ui_lang, "glossary_loading") if self.holder.state == "loading" else self.status_line(ui_lang, None)
            return pd.DataFrame([[note, "", ""]], columns=columns)
        return pd.DataFrame([[e["term"], e["lang"], e["reading"]] for e in self.glossary_entries()], columns=columns)

    def glossary_action(self, action: str, term: str, lang: str, reading: str, ui_lang: str):
        """The Add / Remove buttons: (message, table)."""
        ui_lang = normalize_lang(ui_lang)
        try:
            if action == "put":
                entry, replaced = self.glossary_put(term, lang, reading)
                message = t(ui_lang, "glossary_replaced" if replaced else "glossary_added", term=entry["term"],
                            reading=entry["reading"])
            else:
                try:
                    message = t(ui_lang, "glossary_removed", term=self.glossary_delete(term)["term"])
                except InputError:
                    message = t(ui_lang, "glossary_missing", term=(term or "").strip())
        except IndexTTSError as exc:
            raise gr.Error(str(exc)) from None
        return message, self.glossary_frame(ui_lang)

    def glossary_import(self, path: str | None, ui_lang: str):
        """Import a .csv or .yaml file (merged by term): (message, table)."""
        ui_lang = normalize_lang(ui_lang)
        if not path:
            raise gr.Error(t(ui_lang, "glossary_no_file"))
        fmt = "csv" if Path(path).suffix.lower() == ".csv" else "yaml"
        try:
            store = self.holder.engine.glossary
            count = store.import_text(Path(path).read_text(encoding="utf-8"), fmt)
        except UnicodeDecodeError as exc:
            raise gr.Error(f"the file is not UTF-8 text ({exc})") from None
        except IndexTTSError as exc:
            raise gr.Error(str(exc)) from None
        message = t(ui_lang, "glossary_imported", n=count, total=len(store.entries()))
        return message, self.glossary_frame(ui_lang)

    def glossary_export(self, fmt: str, ui_lang: str) -> dict:
        """The glossary as a file to download (outputs/glossary-exports/glossary.<fmt>)."""
        fmt = fmt if fmt in GLOSSARY_FORMATS else "csv"
        try:
            data = self.holder.engine.glossary.export_text(fmt)
        except IndexTTSError as exc:
            raise gr.Error(str(exc)) from None
        path = Path(self.store.root) / "glossary-exports" / f"glossary.{fmt}"
        with atomic_path(path) as tmp:
            tmp.write_text(data, encoding="utf-8")
        return gr.update(value=str(path), visible=True)

    # -- generation ------------------------------------------------------------------------
    def synthesize(self, text, voice, speed, lang, max_tokens, pause_s, fmt, ui_lang, history, stats,
                   emo_mode="voice", happy=0.0, angry=0.0, sad=0.0, afraid=0.0, disgusted=0.0, melancholic=0.0,
                   surprised=0.0, calm=0.0, emo_weight=1.0, emo_text="", emo_reference=None, emo_random=False,
                   emo_seed=0, session_voices=None, duration_s=None, progress=gr.Progress()):
        """Speak the text through ``engine.stream`` so progress moves, each segment plays in the live
        player as soon as it is made, and Stop (``cancels=``) takes effect between segments;
        ``engine.join`` makes the same clip one ``synthesize`` call would.
        Emotion: ``emo_mode`` voice | reference (``emo_reference``, an audio file) | vector (the eight
        values 0-1) | text (``emo_text``), with ``emo_weight`` 0-1, ``emo_random`` and ``emo_seed``.
        ``session_voices``: this session's unsaved clones (its gr.State), which ``voice`` may name.
        ``duration_s``: the clip's exact length in seconds; None or 0 (the field left empty): the natural one."""
        ui_lang = normalize_lang(ui_lang)
        if self.holder.state == "loading":
            self.metrics.count_error("ui", "not_ready")
            raise gr.Error(t(ui_lang, "err_loading"))
        try:
            engine = self.holder.engine
            emotion = emotion_spec(emo_mode, [happy, angry, sad, afraid, disgusted, melancholic, surprised, calm],
                                   emo_weight, emo_text, emo_reference, emo_random, emo_seed)
            speech = SynthesisRequest(text, voice=chosen_voice(voice, session_voices) or None,  # "" = by language
                                      speed=float(speed), lang=lang, max_tokens=int(max_tokens),
                                      pause_s=float(pause_s), emotion=emotion,
                                      duration_s=float(duration_s) if duration_s else None)
            count = len(engine.segments(speech))
            speech = speech.but(voice=engine.resolve_voice(speech))  # once: the name shown is the voice spoken
            used = speech.voice.name
            started, pieces = time.perf_counter(), []
            for piece in engine.stream(speech):
                pieces.append(piece)
                progress((len(pieces), count), desc=t(ui_lang, "progress_segment", i=len(pieces), n=count))
                last = len(pieces) == count
                for chunk in live_chunks(piece, speech.pause_s, last) if self.live_playback else [gr.skip()]:
                    yield *_SKIP, chunk  # also a point where Stop (cancels=) ends the event
            joined = engine.join(pieces, speech.pause_s, time.perf_counter() - started)
            skipped = find_unreadable(text, lang)
            if skipped:  # spoken without them: say so rather than hand back quietly shorter audio
                gr.Warning(skipped.warning())
            request = {"text": text, "voice": voice, "voice_used": used, "speed": float(speed), "lang": lang,
                       "max_tokens": speech.max_tokens, "pause_s": speech.pause_s, "source": "ui",
                       "emotion": emotion.describe() if emotion is not None else None,
                       "duration_s": speech.duration_s}
            saved = self.store.save(joined, request, "wav")
            self.write_subtitles(engine, speech, joined, saved.audio_path)
            download = self.export(str(saved.audio_path), fmt)
        except IndexTTSError as exc:  # InputError, EngineNotReady: the message is for the user
            kind = "not_ready" if isinstance(exc, EngineNotReady) else "invalid_request"
            self.metrics.count_error("ui", kind)
            raise gr.Error(str(exc)) from None
        except gr.Error:
            self.metrics.count_error("ui", "invalid_request")
            raise
        except Exception as exc:  # never a stack trace on the page; the log has it
            log.exception("generation failed")
            self.metrics.count_error("ui", "internal")
            raise gr.Error(t(ui_lang, "err_internal", error=type(exc).__name__)) from None
        self.metrics.observe_generation(joined.duration_s, joined.rtf, "ui")
        pitch = pitch_frame(joined, float(pause_s))
        item = HistoryItem(time.strftime("%H:%M:%S"), used, text, round(joined.duration_s, 2),
                           round(joined.rtf, 3), str(saved.audio_path), pitch)
        history = ([item] + list(history or []))[:HISTORY_LIMIT]
        stats = Stats(joined.duration_s, joined.compute_s)
        yield (str(saved.audio_path), download, self.pitch_update(pitch, ui_lang), history,
               history_table(history, ui_lang), [h.wav_path for h in history], stats,
               self.status_line(ui_lang, stats), gr.skip())

    @staticmethod
    def write_subtitles(engine, speech: SynthesisRequest, joined: SynthesisResult, audio_path: Path) -> None:
        """The clip's words as SRT and WebVTT beside its audio (``<id>.srt``, ``<id>.vtt``: retention removes them
        with it), for the Subtitles download. A failure is logged; the generation still succeeds."""
        try:
            words = synthesis_timing(engine, speech, joined).words
            for fmt in SUBTITLE_FORMATS:
                with atomic_path(audio_path.with_suffix(f".{fmt}")) as tmp:
                    tmp.write_text(subtitles(words, fmt), encoding="utf-8")
        except (ValueError, OSError) as exc:
            log.warning("could not write the subtitles of %s: %s", audio_path.name, exc)

    @staticmethod
    def subtitle_files(wav_path: str | None) -> list[str] | None:
        """The SRT and WebVTT files of the clip on show (None when it has none)."""
        if not wav_path:
            return None
        found = [str(p) for p in (Path(wav_path).with_suffix(f".{fmt}") for fmt in SUBTITLE_FORMATS) if p.is_file()]
        return found or None

    # -- voice cloning and the library -------------------------------------------------------
    def voice_lists(self, selected: str | None, lang: str = DEFAULT_UI_LANG,
                    session: SessionVoices | None = None) -> list[dict]:
        """Updates for [voice dropdown, library voice, blend A, blend B]: the dropdown with this session's
        unsaved clones; a blend is made of saved or stock voices (save a clone to blend it)."""
        saved = self.holder.engine.studio.library.names
        choices = self.voice_choices(normalize_lang(lang), session)
        named = [c for c in choices if c[1] and c[1] not in (session or {})]  # blends need two real voices
        value = selected if selected in {v for _, v in choices} else ""
        return [gr.update(choices=choices, value=value), gr.update(choices=saved, value=saved[0] if saved else None),
                gr.update(choices=named), gr.update(choices=named)]

    def clone(self, ref_path, ui_lang, current, session_voices=None, request: gr.Request = None,
              progress=gr.Progress()):
        """Fit a voice to the clip (cached per clip); keep it in this session's unsaved clones (no other
        session, page or API client sees it) and select it in this session's voice list. The progress bar
        shows the fit's steps; Cancel (``cancel_clone``) stops it at its next step."""
        ui_lang = normalize_lang(ui_lang)
        if not ref_path:
            raise gr.Error(t(ui_lang, "clone_no_ref"))
        session = getattr(request, "session_hash", None)
        cancel = self._fit_cancels[session] = threading.Event()
        try:
            desc = t(ui_lang, "clone_progress")
            info = self.holder.engine.studio.clone(
                ref_path, progress=lambda frac, msg: progress(frac, desc=f"{desc}: {msg}"), cancel=cancel)
        except Cancelled:
            raise gr.Error(t(ui_lang, "clone_cancelled")) from None
        except IndexTTSError as exc:
            raise gr.Error(str(exc)) from None
        except Exception as exc:  # never a stack trace on the page; the log has it
            log.exception("cloning failed")
            raise gr.Error(t(ui_lang, "err_internal", error=type(exc).__name__)) from None
        finally:
            if self._fit_cancels.get(session) is cancel:
                del self._fit_cancels[session]
        message = t(ui_lang, "clone_result", voice=info["voice"], base=info["base_voice"],
                    sim_base=f"{info['similarity_base']:.2f}", sim=f"{info['similarity_fit']:.2f}",
                    f0_ref=f"{info['reference_f0_hz']:.0f}", f0_out=f"{info['fitted_f0_hz']:.0f}",
                    fit_s=f"{info['fit_s']:.0f}", cached=t(ui_lang, "clone_cached") if info["cached"] else "")
        session = {**(session_voices or {}), info["voice"]: info["voice_value"]}
        return (message, info["voice"], session, *self.voice_lists(info["voice"], ui_lang, session))

    def cancel_clone(self, request: gr.Request = None) -> None:
        """Stop this session's running fit at its next step (other sessions' fits go on)."""
        cancel = self._fit_cancels.get(getattr(request, "session_hash", None))
        if cancel is not None:
            cancel.set()

    def save_clone(self, cloned, name, ui_lang, current, session_voices=None):
        ui_lang = normalize_lang(ui_lang)
        if not cloned:
            raise gr.Error(t(ui_lang, "clone_nothing"))
        try:
            meta = self.holder.engine.studio.save(chosen_voice(cloned, session_voices), (name or "").strip())
        except IndexTTSError as exc:
            raise gr.Error(str(exc)) from None
        return (t(ui_lang, "clone_saved", name=meta["name"]),
                *self.voice_lists(meta["name"], ui_lang, session_voices))

    def library_action(self, action, target, new_name, ui_lang, current, session_voices=None):
        ui_lang = normalize_lang(ui_lang)
        new_name = (new_name or "").strip()
        try:
            library = self.holder.engine.studio.library
            file_out = gr.update()
            if action == "rename":
                library.rename(target or "", new_name)
                done, current = f"{target} -> {new_name}", new_name if current == target else current
            elif action == "delete":
                library.delete(target or "")
                done = f"{target} deleted"
            elif action == "export":
                data = library.export_zip(target or "")
                path = Path(self.store.root) / "voice-exports" / f"{target}.zip"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                done, file_out = f"{target}.zip", str(path)
            else:  # import
                if not target:
                    raise gr.Error(t(ui_lang, "lib_import_file"))
                name = library.import_zip(Path(target).read_bytes(), new_name or None)
                done, current = f"{name} imported", name
        except IndexTTSError as exc:
            raise gr.Error(str(exc)) from None
        return (t(ui_lang, "lib_done", what=done), file_out, *self.voice_lists(current, ui_lang, session_voices))

    def blend(self, a, b, weight, name, ui_lang, current, session_voices=None):
        ui_lang = normalize_lang(ui_lang)
        try:
            meta = self.holder.engine.studio.blend(a or "", b or "", float(weight), (name or "").strip())
        except IndexTTSError as exc:
            raise gr.Error(str(exc)) from None
        what = f"{meta['name']} = {1 - float(weight):.2f} x {a} + {float(weight):.2f} x {b}"
        return (t(ui_lang, "lib_done", what=what), *self.voice_lists(meta["name"], ui_lang, session_voices))

    def export(self, wav_path: str | None, fmt: str) -> str | None:
        """The current output in the chosen download format, written beside it (same name)."""
        if not wav_path:
            return None
        fmt = fmt if fmt in DOWNLOAD_FORMATS else "wav"
        source = Path(wav_path)
        target = source.with_suffix("." + fmt)
        if not target.exists():
            audio, sample_rate = sf.read(source, dtype="float32")
            write_audio(target, audio, sample_rate)
        return str(target)

    def convert(self, fmt: str, current: str | None):
        if not current or not Path(current).exists():
            return None
        return self.export(current, fmt)

    def replay(self, history: list[HistoryItem], fmt: str, ui_lang: str, evt: gr.SelectData):
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not history or not 0 <= row < len(history):
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        item = history[row]
        if not Path(item.wav_path).exists():  # removed by retention
            raise gr.Error(f"{item.wav_path} no longer exists (outputs retention)")
        return item.wav_path, self.export(item.wav_path, fmt), self.pitch_update(item.pitch, ui_lang), item.wav_path

    @staticmethod
    def pitch_update(pitch: pd.DataFrame, ui_lang: str) -> dict:
        return gr.update(value=pitch, x_title=t(ui_lang, "pitch_time"), y_title=t(ui_lang, "pitch_hz"))


_SKIP = tuple(gr.skip() for _ in range(8))  # one per output of /synthesize but the last (the live player)
EMOTION_MODES = ("voice", "reference", "vector", "text")


def emotion_spec(mode, values, weight, text, reference, random, seed):
    """The page's emotion controls -> an EmotionSpec (None: same as the voice, the default)."""
    if mode not in EMOTION_MODES:
        raise IndexTTSError(f"unknown emotion mode {mode!r}; use one of {', '.join(EMOTION_MODES)}")
    if isinstance(seed, float) and not seed.is_integer():
        raise IndexTTSError(f"emotion seed must be a whole number, got {seed:g}")
    common = {"weight": float(weight), "random": bool(random), "seed": int(seed or 0)}
    if mode == "vector":
        return spec_from_request(vector=dict(zip(EMOTIONS, (float(v or 0) for v in values))), **common)
    if mode == "text":
        return spec_from_request(text=text or "", **common)
    if mode == "reference":
        if not reference:
            raise IndexTTSError("emotion mode 'reference clip' needs an audio clip: upload or record one")
        return spec_from_request(reference=str(reference), **common)
    return spec_from_request(**common)


def segment_sources(text: str, segments: list) -> list[str]:
    """Each segment's text with the inline readings of ``text`` that fall inside it put back
    (``[行](xing2)``): segments hold plain text, and a segment read again alone must read as it will be
    spoken. Segments are cut from the plain text in order and never inside an annotation."""
    try:
        plain, overrides = parse_annotations(text)
    except InputError:
        return [s.text for s in segments]
    sources, cursor = [], 0
    for segment in segments:
        start = plain.find(segment.text, cursor)
        if start < 0:
            sources.append(segment.text)
            continue
        end = cursor = start + len(segment.text)
        pieces, pos = [], start
        for override in overrides:
            if start <= override.start and override.end <= end:
                pieces += [plain[pos:override.start], markup(plain[override.start:override.end], override.reading)]
                pos = override.end
        sources.append("".join([*pieces, plain[pos:end]]))
    return sources


def segment_reading(words: list) -> str:
    """A segment's reading as people write it: TONE3 pinyin for Chinese words (the form glossary entries
    take), phonemes for English ones, word by word."""
    return " ".join(" ".join(w.pinyin) if w.pinyin else w.phonemes for w in words if w.pinyin or w.phonemes)


def resolved_text(text: str, ui_lang: str) -> str:
    """The live 'read as' line under the emotion description."""
    if not (text or "").strip():
        return t(ui_lang, "emo_resolved_none")
    try:
        vector = resolve_text(text).vector.as_dict()
    except IndexTTSError as exc:
        return str(exc)
    shown = ", ".join(f"{t(ui_lang, 'emo_' + name)} {value:.2f}" for name, value in vector.items() if value)
    return t(ui_lang, "emo_resolved", vector=shown)


def live_chunks(segment: SegmentResult, pause_s: float, last: bool) -> list[bytes]:
    """One segment for the live player, as 16-bit WAV bytes: its speech, then its last LIVE_TAIL_S
    plus the pause ``engine.join`` puts after it (none after the last), so the live playback keeps
    the final clip's timing. Two chunks because Gradio's AAC encoder only passes on what it has
    encoded a few ms after a chunk comes in, the rest with the next chunk: the tail, sent right
    after, brings the speech out at once, and only the quiet tail waits for the next segment.
    Not float arrays: Gradio would scale each chunk to full scale on its own (uneven loudness)."""
    audio = segment_audio(segment)
    split = max(0, len(audio) - int(LIVE_TAIL_S * SAMPLE_RATE))
    gap = np.zeros(0 if last else int(pause_after(segment, pause_s) * SAMPLE_RATE), dtype=np.float32)
    parts = (audio[:split], np.concatenate([audio[split:], gap]))
    return [encode(part, SAMPLE_RATE, "wav")[0] for part in parts if part.size]


def live_playback_available() -> bool:
    """Gradio encodes streamed audio with ffmpeg; without it the page has no live player."""
    if shutil.which("ffmpeg"):
        return True
    log.warning("ffmpeg not found: the page will not play segments while generating (install it: "
                "apt-get install -y --no-install-recommends ffmpeg)")
    return False


def pitch_frame(result: SynthesisResult, pause_s: float) -> pd.DataFrame:
    """F0 of every segment on the output's time axis. Points below PLOT_MIN_HZ (unvoiced, and the
    onset/offset ramps into it) are gaps (NaN), as is the pause between segments. Each segment's
    curve starts at the model's output start, so the trimmed lead-in is skipped."""
    times, values, offset = [], [], 0.0
    for segment in result.segments:
        f0 = segment.prosody.f0.detach().float().cpu().numpy().reshape(-1)
        start = min(len(f0), int(round(segment.trim_start_s / F0_STEP_S)))
        stop = min(len(f0), start + int(segment.duration_s / F0_STEP_S))
        f0 = f0[start:stop]
        times.append(offset + np.arange(len(f0) + 1) * F0_STEP_S)
        values.append(np.append(np.where(f0 >= PLOT_MIN_HZ, f0, np.nan), np.nan))  # NaN: break the line
        offset += segment.duration_s + pause_after(segment, pause_s)
    if not times:
        return pd.DataFrame({"time_s": [], "f0_hz": []})
    x, y = np.concatenate(times), np.concatenate(values)
    step = max(1, len(x) // PITCH_MAX_POINTS)
    return pd.DataFrame({"time_s": np.round(x[::step], 3), "f0_hz": np.round(y[::step], 1)})


def history_table(history: list[HistoryItem], ui_lang: str) -> pd.DataFrame:
    columns = [t(ui_lang, k) for k in ("col_time", "col_voice", "col_duration", "col_rtf", "col_text")]
    rows = [[h.time, h.voice, h.duration_s, h.rtf, h.text if len(h.text) <= 60 else h.text[:57] + "…"]
            for h in history or []]
    return pd.DataFrame(rows, columns=columns)


def any_voice(dropdown: gr.Dropdown) -> gr.Dropdown:
    """The voice picker's API schema as a plain string: its choices arrive once the engine has loaded, and
    any voice name, OpenAI name or mix is accepted (a Dropdown's schema would list the choices it was built
    with, and gradio_client users would see only those). An instance attribute, not a subclass: Gradio
    writes a .pyi stub beside the module of every Component subclass."""
    description = ("a voice name (GET /v1/audio/voices), an OpenAI voice name, a mix such as af_bella+af_sky, "
                   "or '' for the text's default voice")
    dropdown.api_info = lambda: {"type": "string", "description": description}  # type: ignore[method-assign]
    return dropdown


def build_ui(holder: EngineHolder, settings: Settings, store: OutputStore, metrics: Metrics) -> gr.Blocks:
    page = _Page(holder, settings, store, metrics, live_playback_available())
    cfg = settings.engine
    lang0 = DEFAULT_UI_LANG
    tr: list[tuple[Any, Callable[[str], dict]]] = []  # (component, language -> its localized update)

    def label(component, key: str, info: str | None = None, placeholder: str | None = None):
        def update(lang: str) -> dict:
            extra = {}
            if info:
                extra["info"] = t(lang, info)
            if placeholder:
                extra["placeholder"] = t(lang, placeholder)
            return gr.update(label=t(lang, key), **extra)
        tr.append((component, update))
        return component

    def markdown(key: str, **kwargs) -> gr.Markdown:
        component = gr.Markdown(t(lang0, key), **kwargs)
        tr.append((component, lambda lang: gr.update(value=t(lang, key))))
        return component

    def text_lang_choices(lang: str) -> list[tuple[str, str]]:
        return [(t(lang, f"lang_{code}"), code) for code in LANGS]

    with gr.Blocks(title="IndexTTS WebUI") as demo:
        with gr.Row(equal_height=True):
            with gr.Column(scale=4):
                markdown("title")
                markdown("subtitle")
            ui_lang = gr.Radio([("English", "en"), ("中文", "zh")], value=lang0, label=t(lang0, "ui_lang"),
                               scale=1, min_width=180, elem_id="ui-lang")
            label(ui_lang, "ui_lang")
        status = gr.Markdown(t(lang0, "status_loading"), label="status", elem_id="status-line")
        timer = gr.Timer(POLL_S, active=False)
        stats = gr.State(Stats())
        history = gr.State([])
        current = gr.State(None)  # the wav path on show (last generation or a replayed one)

        with gr.Tabs(elem_id="tabs"):
            speech_tab = gr.Tab(t(lang0, "tab_speech"), id="speech", elem_id="tab-speech")
            label(speech_tab, "tab_speech")
            with speech_tab:
                with gr.Row():
                    # ---------------------------------------------------------------- input column
                    with gr.Column(scale=3):
                        text = label(gr.Textbox(label=t(lang0, "text"), placeholder=t(lang0, "text_placeholder"),
                                                lines=6, max_lines=20, elem_id="text-input"),
                                     "text", placeholder="text_placeholder")
                        char_count = gr.Markdown(t(lang0, "chars", n=0, limit=cfg.max_chars), elem_id="char-count")
                        # Presets: laid out here, above the controls they save and set; wired below (events)
                        preset_panel = PresetPanel(holder, settings, label, markdown, tr, lang0)
                        with gr.Row():
                            # The names are known once the engine has loaded (each page asks then). "" = the default
                            # voice of the text's language. Any name (or mix) is accepted here, also through
                            # gradio_client; the engine answers "unknown voice ..." for a wrong one.
                            default_choice = (t(lang0, "voice_default", en=cfg.default_voice_en,
                                                zh=cfg.default_voice_zh), "")
                            voice = label(any_voice(gr.Dropdown([default_choice], value="", allow_custom_value=True,
                                                                label=t(lang0, "voice"), info=t(lang0, "voice_info"),
                                                                elem_id="voice")),
                                          "voice", info="voice_info")
                            text_lang = gr.Radio(text_lang_choices(lang0), value="auto", label=t(lang0, "lang"),
                                                 info=t(lang0, "lang_info"), elem_id="text-lang")
                            tr.append((text_lang, lambda lang: gr.update(label=t(lang, "lang"), info=t(lang, "lang_info"),
                                                                         choices=text_lang_choices(lang))))
                        with gr.Row():
                            preview_btn = gr.Button(t(lang0, "voice_preview"), size="sm", scale=1, elem_id="voice-preview")
                            tr.append((preview_btn, lambda lang: gr.update(value=t(lang, "voice_preview"))))
                            preview_audio = gr.Audio(type="filepath", interactive=False, label="Voice preview", show_label=False,
                                                     scale=3, elem_id="voice-preview-audio", autoplay=True)
                        speed = label(gr.Slider(SPEED_RANGE[0], SPEED_RANGE[1], value=1.0, step=0.05,
                                                label=t(lang0, "speed"), elem_id="speed"), "speed")
                        # Voice cloning: its result is a voice in the `voice` dropdown (no extra /synthesize inputs).
                        clone_acc = gr.Accordion(t(lang0, "clone_accordion"), open=False, elem_id="clone")
                        label(clone_acc, "clone_accordion")
                        with clone_acc:
                            markdown("clone_note")
                            clone_ref = label(gr.Audio(sources=["upload", "microphone"], type="filepath",
                                                       label=t(lang0, "clone_ref"), elem_id="clone-ref"), "clone_ref")
                            with gr.Row():
                                clone_btn = gr.Button(t(lang0, "clone_button"), elem_id="clone-button", scale=3)
                                tr.append((clone_btn, lambda lang: gr.update(value=t(lang, "clone_button"))))
                                clone_cancel = gr.Button(t(lang0, "clone_cancel"), elem_id="clone-cancel", scale=1,
                                                         variant="stop")
                                tr.append((clone_cancel, lambda lang: gr.update(value=t(lang, "clone_cancel"))))
                            clone_msg = gr.Markdown("", label="Clone result", elem_id="clone-result")
                            cloned = gr.State(None)  # the unsaved clone's voice name
                            session_voices = gr.State({})  # this session's unsaved clones, {name: Voice}: no one else's
                            with gr.Row():
                                clone_name = label(gr.Textbox(label=t(lang0, "clone_name"), max_lines=1, scale=3,
                                                              elem_id="clone-name"), "clone_name")
                                clone_save = gr.Button(t(lang0, "clone_save"), scale=1, elem_id="clone-save")
                                tr.append((clone_save, lambda lang: gr.update(value=t(lang, "clone_save"))))
                            lib_acc = gr.Accordion(t(lang0, "lib_accordion"), open=False)
                            label(lib_acc, "lib_accordion")
                            with lib_acc:
                                with gr.Row():
                                    lib_voice = label(gr.Dropdown([], label=t(lang0, "lib_voice"), allow_custom_value=True,
                                                                  elem_id="lib-voice"), "lib_voice")
                                    lib_new = label(gr.Textbox(label=t(lang0, "lib_new_name"), max_lines=1), "lib_new_name")
                                with gr.Row():
                                    lib_rename = gr.Button(t(lang0, "lib_rename"))
                                    lib_delete = gr.Button(t(lang0, "lib_delete"), variant="stop")
                                    lib_export = gr.Button(t(lang0, "lib_export"))
                                    for button, key in ((lib_rename, "lib_rename"), (lib_delete, "lib_delete"),
                                                        (lib_export, "lib_export")):
                                        tr.append((button, lambda lang, key=key: gr.update(value=t(lang, key))))
                                lib_file = label(gr.File(label=t(lang0, "lib_import_file"), file_types=[".zip"],
                                                         elem_id="lib-file"), "lib_import_file")
                                lib_import = gr.Button(t(lang0, "lib_import"))
                                tr.append((lib_import, lambda lang: gr.update(value=t(lang, "lib_import"))))
                                with gr.Row():
                                    blend_a = label(gr.Dropdown([], label=t(lang0, "blend_a"), allow_custom_value=True),
                                                    "blend_a")
                                    blend_b = label(gr.Dropdown([], label=t(lang0, "blend_b"), allow_custom_value=True),
                                                    "blend_b")
                                    blend_w = label(gr.Slider(0.0, 1.0, value=0.5, step=0.05, label=t(lang0, "blend_weight")),
                                                    "blend_weight")
                                with gr.Row():
                                    blend_name = label(gr.Textbox(label=t(lang0, "blend_name"), max_lines=1), "blend_name")
                                    blend_btn = gr.Button(t(lang0, "blend_button"))
                                    tr.append((blend_btn, lambda lang: gr.update(value=t(lang, "blend_button"))))
                                lib_msg = gr.Markdown("")
                        emo_accordion = gr.Accordion(t(lang0, "emo_accordion"), open=False, elem_id="emotion")
                        label(emo_accordion, "emo_accordion")
                        with emo_accordion:
                            markdown("emo_help")
                            emo_mode = gr.Radio([(t(lang0, f"emo_mode_{m}"), m) for m in EMOTION_MODES], value="voice",
                                                label=t(lang0, "emo_mode"), elem_id="emo-mode")
                            tr.append((emo_mode, lambda lang: gr.update(
                                label=t(lang, "emo_mode"), choices=[(t(lang, f"emo_mode_{m}"), m) for m in EMOTION_MODES])))
                            with gr.Group(visible=False) as emo_vector_group:
                                emo_sliders = []
                                for row in (EMOTIONS[:4], EMOTIONS[4:]):
                                    with gr.Row():
                                        for name in row:
                                            emo_sliders.append(label(gr.Slider(0.0, 1.0, value=0.0, step=0.05,
                                                                               label=t(lang0, f"emo_{name}"), min_width=120,
                                                                               elem_id=f"emo-{name}"), f"emo_{name}"))
                            with gr.Group(visible=False) as emo_text_group:
                                emo_text = label(gr.Textbox("", label=t(lang0, "emo_text"), lines=1, max_lines=2,
                                                            placeholder=t(lang0, "emo_text_placeholder"), elem_id="emo-text"),
                                                 "emo_text", placeholder="emo_text_placeholder")
                                emo_resolved = gr.Markdown(t(lang0, "emo_resolved_none"), elem_id="emo-resolved")
                            with gr.Group(visible=False) as emo_reference_group:
                                emo_reference = label(gr.Audio(label=t(lang0, "emo_reference"), type="filepath",
                                                               sources=["upload", "microphone"], elem_id="emo-reference"),
                                                      "emo_reference")
                                markdown("emo_reference_info")
                            emo_weight = label(gr.Slider(0.0, 1.0, value=1.0, step=0.05, label=t(lang0, "emo_weight"),
                                                         info=t(lang0, "emo_weight_info"), elem_id="emo-weight"),
                                               "emo_weight", info="emo_weight_info")
                            with gr.Row():
                                emo_random = label(gr.Checkbox(False, label=t(lang0, "emo_random"), elem_id="emo-random"),
                                                   "emo_random")
                                emo_seed = label(gr.Number(0, precision=0, minimum=0, maximum=2**31 - 1,
                                                           label=t(lang0, "emo_seed"), info=t(lang0, "emo_seed_info"),
                                                           elem_id="emo-seed"), "emo_seed", info="emo_seed_info")
                        seg_accordion = gr.Accordion(t(lang0, "seg_accordion"), open=True)
                        label(seg_accordion, "seg_accordion")
                        with seg_accordion:
                            max_tokens = label(gr.Slider(16, MAX_MODEL_TOKENS, value=cfg.max_tokens_per_segment, step=1,
                                                         label=t(lang0, "max_tokens"), info=t(lang0, "max_tokens_info")),
                                               "max_tokens", info="max_tokens_info")
                            seg_table = label(gr.Dataframe(page.preview_table("", "auto", cfg.max_tokens_per_segment, lang0),
                                                           label=t(lang0, "seg_table"), interactive=False, wrap=True,
                                                           max_height=300, elem_id="segments"), "seg_table")
                        gloss_accordion = gr.Accordion(t(lang0, "glossary_accordion"), open=False, elem_id="glossary")
                        label(gloss_accordion, "glossary_accordion")
                        with gloss_accordion:
                            markdown("glossary_help")
                            gloss_df = label(gr.Dataframe(page.glossary_frame(lang0), label=t(lang0, "glossary_table"),
                                                          interactive=False, wrap=True, max_height=260,
                                                          elem_id="glossary-table"), "glossary_table")
                            with gr.Row():
                                gloss_term = label(gr.Textbox(label=t(lang0, "glossary_term"), max_lines=1, scale=2,
                                                              elem_id="glossary-term"), "glossary_term")
                                gloss_lang = label(gr.Radio(["zh", "en"], value="zh", label=t(lang0, "glossary_lang"),
                                                            scale=1, min_width=120, elem_id="glossary-lang"), "glossary_lang")
                                gloss_reading = label(gr.Textbox(label=t(lang0, "glossary_reading"), max_lines=1, scale=3,
                                                                 elem_id="glossary-reading"), "glossary_reading")
                            with gr.Row():
                                gloss_add = gr.Button(t(lang0, "glossary_add"), variant="primary", elem_id="glossary-add")
                                gloss_remove = gr.Button(t(lang0, "glossary_remove"), variant="stop",
                                                         elem_id="glossary-remove")
                                for button, key in ((gloss_add, "glossary_add"), (gloss_remove, "glossary_remove")):
                                    tr.append((button, lambda lang, key=key: gr.update(value=t(lang, key))))
                            gloss_msg = gr.Markdown("", elem_id="glossary-message")
                            with gr.Row():
                                gloss_file = label(gr.File(label=t(lang0, "glossary_file"),
                                                           file_types=[".csv", ".yaml", ".yml"], elem_id="glossary-file"),
                                                   "glossary_file")
                                with gr.Column():
                                    gloss_import = gr.Button(t(lang0, "glossary_import"), elem_id="glossary-import")
                                    gloss_fmt = label(gr.Radio(list(GLOSSARY_FORMATS), value="csv",
                                                               label=t(lang0, "glossary_format"), elem_id="glossary-format"),
                                                      "glossary_format")
                                    gloss_export = gr.Button(t(lang0, "glossary_export"), elem_id="glossary-export")
                                    for button, key in ((gloss_import, "glossary_import"), (gloss_export, "glossary_export")):
                                        tr.append((button, lambda lang, key=key: gr.update(value=t(lang, key))))
                            gloss_out = gr.File(label="glossary", show_label=False, interactive=False, visible=False,
                                                elem_id="glossary-download")  # shown once there is an export
                        adv_accordion = gr.Accordion(t(lang0, "adv_accordion"), open=False)
                        label(adv_accordion, "adv_accordion")
                        with adv_accordion:
                            pause = label(gr.Slider(0.0, 2.0, value=min(cfg.segment_pause_s, 2.0), step=0.05,
                                                    label=t(lang0, "pause"), elem_id="pause"), "pause")
                            duration = label(gr.Number(None, minimum=0, step=0.1, label=t(lang0, "duration"),
                                                       info=t(lang0, "duration_info"), elem_id="duration"),
                                             "duration", info="duration_info")
                            markdown("no_seed")
                        with gr.Row():
                            generate = gr.Button(t(lang0, "generate"), variant="primary", interactive=False,
                                                 elem_id="generate")
                            stop = gr.Button(t(lang0, "stop"), variant="stop", elem_id="stop")
                            tr.append((generate, lambda lang: gr.update(value=t(lang, "generate"))))
                            tr.append((stop, lambda lang: gr.update(value=t(lang, "stop"))))
                        examples = gr.Examples(EXAMPLES, inputs=[text], label=t(lang0, "examples"))
                        label(examples.dataset, "examples")
                    # ---------------------------------------------------------------- output column
                    with gr.Column(scale=2):
                        # Plays each segment as it is made; the full clip lands in `audio` (no autoplay: heard once).
                        live = label(gr.Audio(label=t(lang0, "live"), streaming=True, autoplay=True, interactive=False,
                                              buttons=[], visible=page.live_playback, elem_id="live-audio"), "live")
                        audio = label(gr.Audio(label=t(lang0, "audio"), type="filepath", interactive=False,
                                               elem_id="output-audio"), "audio")
                        with gr.Row():
                            fmt = label(gr.Radio(list(DOWNLOAD_FORMATS), value="wav", label=t(lang0, "fmt"), scale=1,
                                                 elem_id="download-format"),
                                        "fmt")
                            download = label(gr.File(label=t(lang0, "download"), interactive=False, scale=2,
                                                     elem_id="download"), "download")
                        subtitle_files = label(gr.File(label=t(lang0, "subtitles"), file_count="multiple", interactive=False,
                                                       elem_id="subtitles"), "subtitles")
                        pitch = gr.LinePlot(pd.DataFrame({"time_s": [], "f0_hz": []}), x="time_s", y="f0_hz",
                                            label=t(lang0, "pitch"), x_title=t(lang0, "pitch_time"),
                                            y_title=t(lang0, "pitch_hz"), height=220, elem_id="pitch")
                        tr.append((pitch, lambda lang: gr.update(label=t(lang, "pitch"), x_title=t(lang, "pitch_time"),
                                                                 y_title=t(lang, "pitch_hz"))))
                        history_accordion = gr.Accordion(t(lang0, "history"), open=True)
                        label(history_accordion, "history")
                        with history_accordion:
                            markdown("history_hint")
                            history_df = gr.Dataframe(history_table([], lang0), interactive=False, wrap=True,
                                                      max_height=300, label="history", show_label=False,
                                                      elem_id="history")
                            history_files = label(gr.File(label=t(lang0, "history_files"), file_count="multiple",
                                                          interactive=False), "history_files")
            kit = PageKit(page=page, holder=holder, settings=settings, store=store, ui_lang=ui_lang,
                          session_voices=session_voices, label=label, markdown=markdown, tr=tr)
            for build_tab in TABS:  # the other tabs (dubbing, batch, dialogue ...): one module each
                build_tab(kit)

        # ---------------------------------------------------------------- events
        labelled = [component for component, _ in tr]
        poll_inputs = [ui_lang, text, text_lang, max_tokens, voice, stats, session_voices]
        poll_outputs = [status, generate, voice, timer, seg_table]

        def localize(lang, text_value, text_lang_value, max_tokens_value, voice_value, stats_value, session_value,
                     history_value):
            lang = normalize_lang(lang)
            updates: dict[Any, dict] = {component: update(lang) for component, update in tr}
            polled = page.poll(lang, text_value, text_lang_value, max_tokens_value, voice_value, stats_value,
                               session_value)
            for component, value in zip(poll_outputs, polled):
                value = value if isinstance(value, dict) else gr.update(value=value)
                updates[component] = {**updates.get(component, {}), **value}
            updates[history_df] = gr.update(value=history_table(history_value, lang))
            updates[gloss_df] = {**updates.get(gloss_df, {}), **gr.update(value=page.glossary_frame(lang))}
            return updates

        localize_outputs = list(dict.fromkeys([*labelled, *poll_outputs, history_df, gloss_df]))
        # localize and poll write the preview of the text they were given; if the text changed while
        # they ran (typing as the page opens), that is stale: preview the current text once more after.
        fresh_preview = dict(fn=page.preview_table, inputs=[text, text_lang, max_tokens, ui_lang],
                             outputs=[seg_table], show_progress="hidden", api_visibility="private")
        # The page opens: the browser's language first (JS), then every label, status and preview.
        demo.load(None, js=DETECT_LANG_JS, outputs=[ui_lang], api_visibility="private").then(
            localize, [*poll_inputs, history], localize_outputs, api_visibility="private",
            show_progress="hidden", concurrency_limit=None).then(**fresh_preview)
        ui_lang.input(localize, [*poll_inputs, history], localize_outputs, api_visibility="private",
                      show_progress="hidden", concurrency_limit=None).then(**fresh_preview)
        glossary_table = dict(fn=page.glossary_frame, inputs=[ui_lang], outputs=[gloss_df], show_progress="hidden",
                              api_visibility="private")
        timer.tick(page.poll, poll_inputs, poll_outputs, api_visibility="private", show_progress="hidden",
                   concurrency_limit=None).then(**fresh_preview).then(**glossary_table)
        # the glossary: shown fresh when opened (the CLI or the API may have changed it); every change is
        # followed by the preview, so its reading column shows the new reading at once
        gloss_accordion.expand(**glossary_table)
        for action, button in (("put", gloss_add), ("delete", gloss_remove)):
            button.click(page.glossary_action, [gr.State(action), gloss_term, gloss_lang, gloss_reading, ui_lang],
                         [gloss_msg, gloss_df], api_visibility="private").success(**fresh_preview)
        gloss_import.click(page.glossary_import, [gloss_file, ui_lang], [gloss_msg, gloss_df],
                           api_visibility="private").success(**fresh_preview)
        gloss_export.click(page.glossary_export, [gloss_fmt, ui_lang], [gloss_out], api_visibility="private")

        def edit_entry(evt: gr.SelectData):
            """A clicked row fills the term, language and reading fields, ready to change."""
            row = list(evt.row_value or [])
            if len(row) < 3 or row[1] not in ("zh", "en"):  # the loading note
                return gr.skip(), gr.skip(), gr.skip()
            return row[0], row[1], row[2]

        gloss_df.select(edit_entry, None, [gloss_term, gloss_lang, gloss_reading], api_visibility="private",
                        queue=False)
        gr.on([text.change, ui_lang.change], None, [text, ui_lang], [char_count],
              js=_char_count_js(cfg.max_chars), api_visibility="private")
        gr.on([text.change, text_lang.change, max_tokens.change], page.preview_table,
              [text, text_lang, max_tokens, ui_lang], [seg_table], trigger_mode="always_last",
              show_progress="hidden", api_visibility="private")

        emo_mode.change(lambda m: (gr.update(visible=m == "vector"), gr.update(visible=m == "text"),
                                   gr.update(visible=m == "reference")),
                        [emo_mode], [emo_vector_group, emo_text_group, emo_reference_group], api_visibility="private",
                        show_progress="hidden", queue=False)
        gr.on([emo_text.change, ui_lang.change], resolved_text, [emo_text, ui_lang], [emo_resolved],
              trigger_mode="always_last", show_progress="hidden", api_visibility="private", queue=False)
        # New inputs go at the END (with defaults), so existing gradio_client callers keep working.
        emotion_inputs = [emo_mode, *emo_sliders, emo_weight, emo_text, emo_reference, emo_random, emo_seed]
        gen_event = generate.click(
            page.synthesize, [text, voice, speed, text_lang, max_tokens, pause, fmt, ui_lang, history, stats,
                              *emotion_inputs, session_voices, duration],
            [audio, download, pitch, history, history_df, history_files, stats, status, live],
            api_name="synthesize", show_progress_on=[audio],
            api_description="Speak the text; returns the wav file, the download in `fmt`, the pitch plot, "
            "the history table, the session's files, the status line and the page's live player "
            "(streamed while generating; nothing useful to API callers).")
        gen_event.success(lambda h: h[0].wav_path if h else None, [history], [current],
                          api_visibility="private", queue=False)
        # Stop also silences the live player: what it has buffered would otherwise play on.
        stop.click(None, None, [live], js="() => null", cancels=[gen_event], api_visibility="private")
        fmt.change(page.convert, [fmt, current], [download], api_visibility="private")
        # the clip on show (generated or replayed): its SRT and WebVTT files
        current.change(page.subtitle_files, [current], [subtitle_files], api_visibility="private", queue=False)
        history_df.select(page.replay, [history, fmt, ui_lang], [audio, download, pitch, current],
                          api_visibility="private")

        def preview_segments(text: str, lang: str = "auto", max_tokens: int = cfg.max_tokens_per_segment) -> list:
            """Split text as Generate would: [{index, lang, text, reading, tokens}, ...]; ``reading``: TONE3
            pinyin for Chinese words, phonemes for English ones, glossary and inline readings applied."""
            try:
                return page.preview_rows(text, lang, max_tokens)
            except IndexTTSError as exc:
                raise gr.Error(str(exc)) from None

        def voices() -> list:
            """The stock voice names."""
            try:
                return holder.engine.voices.names
            except EngineNotReady as exc:
                raise gr.Error(str(exc)) from None

        preview_btn.click(page.preview_voice, [voice, ui_lang, session_voices], [preview_audio],
                          api_name="preview_voice",
                          api_description="A short sample of a voice (cached per voice); returns the audio file.")
        # voice cloning and the library: the voice lists follow every change
        voice_lists = [voice, lib_voice, blend_a, blend_b]
        # An unsaved clone is this session's (its gr.State): usable in this session's /synthesize, listed in
        # its voice dropdown only, in no other session's list and not in /v1/voices.
        clone_event = clone_btn.click(page.clone, [clone_ref, ui_lang, voice, session_voices],
                        [clone_msg, cloned, session_voices, *voice_lists],
                        api_name="clone_voice", show_progress_on=[clone_msg],
                        api_description="Clone a voice from a reference clip; returns the message, the voice name "
                        "(usable as `voice` in /synthesize by the same client session) and the voice lists.")
        # Cancel: the fit stops at its next model step (the engine), and the page stops waiting for it
        clone_cancel.click(page.cancel_clone, None, None, cancels=[clone_event], api_name="cancel_clone",
                           api_description="Stop this session's running voice fit at its next step.")
        clone_save.click(page.save_clone, [cloned, clone_name, ui_lang, voice, session_voices],
                         [clone_msg, *voice_lists], api_visibility="private")
        for action, button, target in (("rename", lib_rename, lib_voice), ("delete", lib_delete, lib_voice),
                                       ("export", lib_export, lib_voice), ("import", lib_import, lib_file)):
            button.click(page.library_action, [gr.State(action), target, lib_new, ui_lang, voice, session_voices],
                         [lib_msg, lib_file, *voice_lists], api_visibility="private")
        blend_btn.click(page.blend, [blend_a, blend_b, blend_w, blend_name, ui_lang, voice, session_voices],
                        [lib_msg, *voice_lists], api_visibility="private")

        def glossary() -> list:
            """The glossary: [{term, lang, reading}, ...], applied to every generation."""
            try:
                return page.glossary_entries()
            except IndexTTSError as exc:
                raise gr.Error(str(exc)) from None

        def glossary_put(term: str, lang: str, reading: str) -> dict:
            """Add an entry, or replace the entry of the same term: lang zh with TONE3 pinyin ('hang2 zhang3'),
            or en with /Kokoro phonemes/ or a respelling. Returns {entry, replaced}."""
            try:
                entry, replaced = page.glossary_put(term, lang, reading)
            except IndexTTSError as exc:
                raise gr.Error(str(exc)) from None
            return {"entry": entry, "replaced": replaced}

        def glossary_delete(term: str) -> dict:
            """Remove the entry of ``term`` (as stored); returns the removed entry."""
            try:
                return page.glossary_delete(term)
            except IndexTTSError as exc:
                raise gr.Error(str(exc)) from None

        gr.api(preview_segments, api_name="preview_segments")
        gr.api(glossary, api_name="glossary", concurrency_limit=None)
        gr.api(glossary_put, api_name="glossary_put")
        gr.api(glossary_delete, api_name="glossary_delete")
        gr.api(voices, api_name="voices", concurrency_limit=None)
        preset_panel.wire(demo, ui_lang, session_voices, PresetControls(
            voice=voice, speed=speed, lang=text_lang, emo_mode=emo_mode, emo_sliders=emo_sliders,
            emo_weight=emo_weight, emo_text=emo_text, emo_random=emo_random, emo_seed=emo_seed,
            max_tokens=max_tokens, pause=pause))

    return demo.queue(default_concurrency_limit=settings.server.concurrency_limit,
                      max_size=settings.server.max_queue)
