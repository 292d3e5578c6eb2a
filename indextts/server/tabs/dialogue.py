"""The page's "Dialogue" tab: a multi-speaker script -> one track (``indextts.dialogue``).

A script box; the speakers table (speaker, voice, emotion, intensity: one row per name found in the script,
filled as the user types, keeping the choices made for names still present); the gap between turns; Render
(progress per turn, Stop between segments); the audio with its download and the per-turn timestamps.
gradio_client: ``/dialogue`` (script, speakers, gap_s) -> (audio, download, turns table), where ``speakers`` is
the table as JSON or ``Alice=af_heart,Bob=am_michael`` (``dialogue.parse_speakers``).
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from ...dialogue import DEFAULT_GAP_S, GAP_RANGE_S, DialogueRender, DialogueResult, script_dialogue, speaker_names
from ...emotion import EMOTIONS
from ...errors import IndexTTSError
from ..engine_holder import EngineNotReady
from ..i18n import DEFAULT_UI_LANG, normalize_lang, t

if TYPE_CHECKING:
    from . import PageKit

log = logging.getLogger(__name__)

MAX_ROWS = 8  # speakers shown in the table; more still speak, with automatic voices (the note says so)
COLUMNS = ("index", "speaker", "voice", "start", "end", "text")


def emotion_choices(lang: str) -> list[tuple[str, str]]:
    return [(t(lang, "dialogue_emotion_none"), "")] + [(t(lang, f"emo_{name}"), name) for name in EMOTIONS]


def turns_frame(result: DialogueResult | None, lang: str) -> pd.DataFrame:
    """The per-turn timestamps as the page shows them."""
    rows = [[turn.index + 1, turn.speaker, turn.voice, round(turn.start_s, 2), round(turn.end_s, 2), turn.text]
            for turn in (result.turns if result is not None else ())]
    return pd.DataFrame(rows, columns=[t(lang, f"dialogue_col_{c}") for c in COLUMNS])


def speakers_json(script: str, rows: list[tuple[str, str, str, float]]) -> str:
    """The table's rows (name, voice, emotion, intensity) as the ``speakers`` JSON of ``/dialogue``: only the
    names the script still has (the table may lag a keystroke behind) and only the choices actually made."""
    present = {name.casefold() for name in speaker_names(script or "")}
    table: dict[str, dict[str, str]] = {}
    for name, voice, emotion, intensity in rows:
        if not name or name.casefold() not in present:
            continue
        entry = {}
        if voice:
            entry["voice"] = voice
        if emotion:
            entry["emotion"] = f"{emotion} {float(intensity):g}"
        if entry:
            table[name] = entry
    return json.dumps(table, ensure_ascii=False)


def build(kit: "PageKit") -> None:
    page, holder, settings = kit.page, kit.holder, kit.settings
    lang0 = DEFAULT_UI_LANG
    auto_voice = (t(lang0, "dialogue_voice_auto"), "")

    tab = kit.label(gr.Tab(t(lang0, "tab_dialogue"), id="dialogue", elem_id="tab-dialogue"), "tab_dialogue")
    with tab:
        kit.markdown("dialogue_help")
        with gr.Row():
            with gr.Column(scale=3):
                script = kit.label(gr.Textbox(label=t(lang0, "dialogue_script"), lines=8, max_lines=30,
                                              placeholder=t(lang0, "dialogue_placeholder"), elem_id="dialogue-script"),
                                   "dialogue_script", placeholder="dialogue_placeholder")
                kit.markdown("dialogue_speakers")
                rows, names, voices, emotions, intensities = [], [], [], [], []
                for i in range(MAX_ROWS):
                    with gr.Row(visible=False, elem_id=f"dialogue-row-{i}") as row:
                        names.append(kit.label(gr.Textbox("", label=t(lang0, "dialogue_speaker"), interactive=False,
                                                          max_lines=1, min_width=120, elem_id=f"dialogue-speaker-{i}"),
                                               "dialogue_speaker"))
                        voices.append(kit.label(gr.Dropdown([auto_voice], value="", allow_custom_value=True,
                                                            label=t(lang0, "dialogue_voice"), min_width=200,
                                                            elem_id=f"dialogue-voice-{i}"), "dialogue_voice"))
                        emotions.append(gr.Dropdown(emotion_choices(lang0), value="", min_width=140,
                                                    label=t(lang0, "dialogue_emotion"),
                                                    elem_id=f"dialogue-emotion-{i}"))
                        kit.tr.append((emotions[-1], lambda lang: gr.update(label=t(lang, "dialogue_emotion"),
                                                                            choices=emotion_choices(lang))))
                        intensities.append(kit.label(gr.Slider(0.0, 1.0, value=1.0, step=0.05, min_width=140,
                                                               label=t(lang0, "dialogue_intensity"),
                                                               elem_id=f"dialogue-intensity-{i}"),
                                                     "dialogue_intensity"))
                    rows.append(row)
                more = gr.Markdown("", elem_id="dialogue-more")
                gap = kit.label(gr.Slider(GAP_RANGE_S[0], GAP_RANGE_S[1], value=DEFAULT_GAP_S, step=0.05,
                                          label=t(lang0, "dialogue_gap"), elem_id="dialogue-gap"), "dialogue_gap")
                with gr.Row():
                    render = gr.Button(t(lang0, "dialogue_render"), variant="primary", elem_id="dialogue-render")
                    stop = gr.Button(t(lang0, "dialogue_stop"), variant="stop", elem_id="dialogue-stop")
                    kit.tr.append((render, lambda lang: gr.update(value=t(lang, "dialogue_render"))))
                    kit.tr.append((stop, lambda lang: gr.update(value=t(lang, "dialogue_stop"))))
            with gr.Column(scale=2):
                audio = kit.label(gr.Audio(label=t(lang0, "dialogue_audio"), type="filepath", interactive=False,
                                           elem_id="dialogue-audio"), "dialogue_audio")
                download = kit.label(gr.File(label=t(lang0, "dialogue_download"), interactive=False,
                                             elem_id="dialogue-download"), "dialogue_download")
                turns = kit.label(gr.Dataframe(turns_frame(None, lang0), label=t(lang0, "dialogue_turns"),
                                               interactive=False, wrap=True, max_height=400, elem_id="dialogue-turns"),
                                  "dialogue_turns")
        # the table as /dialogue takes it (JSON), filled by Render just before it calls /dialogue
        speakers = gr.Textbox("", label="speakers", visible=False, elem_id="dialogue-speakers")

    def fill_table(script_value: str, ui_lang: str, *values: Any) -> list:
        """One row per speaker the script names, in order; a name still present keeps its choices, wherever
        its row moves; the voice lists are filled once the engine is ready."""
        lang = normalize_lang(ui_lang)
        n = MAX_ROWS
        old = {str(name).casefold(): (voice, emotion, intensity)
               for name, voice, emotion, intensity in zip(values[:n], values[n:2 * n], values[2 * n:3 * n],
                                                          values[3 * n:]) if name}
        found = speaker_names(script_value or "")
        shown = found[:MAX_ROWS]
        choices = None
        if holder.state == "ready":
            choices = [(t(lang, "dialogue_voice_auto"), "")] + page.voice_choices(lang)[1:]  # not "by language"
        row_updates, name_updates, voice_updates, emotion_updates, intensity_updates = [], [], [], [], []
        for i in range(MAX_ROWS):
            name = shown[i] if i < len(shown) else ""
            voice, emotion, intensity = old.get(name.casefold(), ("", "", 1.0)) if name else ("", "", 1.0)
            row_updates.append(gr.update(visible=bool(name)))
            name_updates.append(gr.update(value=name))
            voice_updates.append(gr.update(value=voice, **({"choices": choices} if choices else {})))
            emotion_updates.append(gr.update(value=emotion))
            intensity_updates.append(gr.update(value=intensity))
        extra = len(found) - len(shown)
        note = t(lang, "dialogue_more", n=extra, shown=MAX_ROWS) if extra > 0 else ""
        return [*row_updates, *name_updates, *voice_updates, *emotion_updates, *intensity_updates, note]

    def collect(script_value: str, *values: Any) -> str:
        n = MAX_ROWS
        return speakers_json(script_value, list(zip(values[:n], values[n:2 * n], values[2 * n:3 * n], values[3 * n:])))

    def render_dialogue(script_value: str, speakers_value: str = "", gap_s: float = DEFAULT_GAP_S,
                        ui_lang: str = lang0, progress=gr.Progress()):
        """Render the script (``speakers``: JSON or ``Alice=af_heart,Bob=am_michael``; ``gap_s``: silence between
        turns) -> (the WAV, the same file to download, the per-turn timestamps). Stop ends it between segments."""
        lang = normalize_lang(ui_lang)
        if holder.state == "loading":
            page.metrics.count_error("ui", "not_ready")
            raise gr.Error(t(lang, "err_loading"))
        try:
            engine = holder.engine
            dialogue = script_dialogue(engine, script_value, speakers_value or None, float(gap_s),
                                       max_chars=settings.engine.max_chars)
            render = DialogueRender(engine, dialogue)
            render.start()
            count, reported = render.turn_count, -1
            for index in render:
                if index != reported:
                    reported = index
                    progress((index, count), desc=t(lang, "dialogue_progress", i=index + 1, n=count))
                yield gr.skip(), gr.skip(), gr.skip()  # a point where Stop (cancels=) ends the event
            result = render.result()
            record = {"source": "ui", "tab": "dialogue", "script": script_value, "speakers": speakers_value,
                      "gap_s": float(gap_s), "turns": [turn.as_json() for turn in result.turns],
                      "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
            saved = kit.store.save(result.clip, record, "wav")
        except IndexTTSError as exc:  # InputError, EngineNotReady: the message is for the user
            page.metrics.count_error("ui", "not_ready" if isinstance(exc, EngineNotReady) else "invalid_request")
            raise gr.Error(str(exc)) from None
        except Exception as exc:  # never a stack trace on the page; the log has it
            log.exception("dialogue rendering failed")
            page.metrics.count_error("ui", "internal")
            raise gr.Error(t(lang, "err_internal", error=type(exc).__name__)) from None
        page.metrics.observe_generation(result.duration_s, result.clip.rtf, "ui")
        path = str(saved.audio_path)
        yield path, path, turns_frame(result, lang)

    table_inputs = [*names, *voices, *emotions, *intensities]
    script.change(fill_table, [script, kit.ui_lang, *table_inputs], [*rows, *table_inputs, more],
                  trigger_mode="always_last", show_progress="hidden", api_visibility="private")
    kit.ui_lang.change(fill_table, [script, kit.ui_lang, *table_inputs], [*rows, *table_inputs, more],
                       show_progress="hidden", api_visibility="private")
    rendering = render.click(collect, [script, *table_inputs], [speakers], api_visibility="private",
                             show_progress="hidden").then(
        render_dialogue, [script, speakers, gap, kit.ui_lang], [audio, download, turns], api_name="dialogue",
        show_progress_on=[audio])
    stop.click(None, None, None, cancels=[rendering], api_visibility="private")
