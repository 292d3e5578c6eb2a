"""The "Subtitles → speech" tab (字幕配音): upload an .srt/.vtt, see each cue's natural and target length,
render one track (``indextts.dubbing``) with a progress bar per cue, play and download it.

Public gradio_client endpoint: "/dub" (the Render button): (file, voice, speed, emotion, intensity, fit, fmt,
ui_lang) -> (the wav, the download in ``fmt``, the cue table, the summary line). The cue table's preview is
private. The emotion is kept simple: one of the eight emotions at an intensity (the vector with one value).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from ... import dubbing
from ...emotion import EMOTIONS, spec_from_request
from ...engine import SynthesisResult
from ...errors import Cancelled, IndexTTSError
from ...request import SPEED_RANGE, SynthesisRequest
from ...subtitle_parse import Subtitles, parse_subtitles
from ..i18n import normalize_lang, t
from . import PageKit

log = logging.getLogger(__name__)

DOWNLOAD_FORMATS = ("wav", "mp3", "flac")
COLUMNS = ("index", "start", "end", "text", "natural", "target", "status")


def cue_frame(rows: list[dubbing.CuePlan], lang: str) -> pd.DataFrame:
    """The cue table as shown: # / start / end / text / natural s / target s / status."""
    data = [[r.index, round(r.start_s, 2), round(r.end_s, 2), r.text, round(r.natural_s, 2), round(r.target_s, 2),
             t(lang, f"dub_status_{r.status}")] for r in rows]
    return pd.DataFrame(data, columns=[t(lang, f"dub_col_{c}") for c in COLUMNS])


def read_subtitles(path: str | None, lang: str) -> Subtitles:
    if not path:
        raise gr.Error(t(lang, "dub_no_file"))
    return parse_subtitles(Path(path).read_bytes(), field="file")


def dub_request(kit: PageKit, subs: Subtitles, voice: str | None, speed: float, emotion: str | None,
                intensity: float, session: dict | None) -> SynthesisRequest:
    """The template every cue is spoken with: voice (this session's clones too), speed, emotion."""
    from ..ui import chosen_voice

    spec = spec_from_request(vector={emotion: float(intensity)}) if emotion in EMOTIONS else None
    template = SynthesisRequest(" ".join(c.text for c in subs.cues) or "-", voice=chosen_voice(voice, session) or None,
                                speed=float(speed), emotion=spec)
    return template.but(voice=kit.holder.engine.resolve_voice(template))  # once, by the whole file's language


def build(kit: PageKit) -> None:
    lang0 = "en"
    label, tr = kit.label, kit.tr
    tab = label(gr.Tab(t(lang0, "tab_dub"), id="dub", elem_id="tab-dub"), "tab_dub")
    with tab:
        kit.markdown("dub_hint")
        with gr.Row():
            with gr.Column(scale=2):
                upload = label(gr.File(label=t(lang0, "dub_file"), file_types=[".srt", ".vtt"], type="filepath",
                                       elem_id="dub-file"), "dub_file")
                voice = label(gr.Dropdown([(t(lang0, "voice_default", en=kit.settings.engine.default_voice_en,
                                              zh=kit.settings.engine.default_voice_zh), "")], value="",
                                          allow_custom_value=True, label=t(lang0, "voice"), elem_id="dub-voice"),
                              "voice")
                speed = label(gr.Slider(SPEED_RANGE[0], 2.0, value=1.0, step=0.05, label=t(lang0, "speed"),
                                        elem_id="dub-speed"), "speed")
                with gr.Row():
                    emotion = gr.Dropdown([(t(lang0, "dub_emotion_none"), "")]
                                          + [(t(lang0, f"emo_{e}"), e) for e in EMOTIONS], value="",
                                          label=t(lang0, "dub_emotion"), elem_id="dub-emotion")
                    tr.append((emotion, lambda lang: gr.update(
                        label=t(lang, "dub_emotion"),
                        choices=[(t(lang, "dub_emotion_none"), "")] + [(t(lang, f"emo_{e}"), e) for e in EMOTIONS])))
                    intensity = label(gr.Slider(0.0, 1.0, value=0.7, step=0.05, label=t(lang0, "dub_intensity"),
                                                elem_id="dub-intensity"), "dub_intensity")
                fit = gr.Radio([(t(lang0, f"dub_fit_{m}"), m) for m in dubbing.FIT_MODES], value="shrink",
                               label=t(lang0, "dub_fit"), elem_id="dub-fit")
                tr.append((fit, lambda lang: gr.update(
                    label=t(lang, "dub_fit"), choices=[(t(lang, f"dub_fit_{m}"), m) for m in dubbing.FIT_MODES])))
                with gr.Row():
                    render_btn = gr.Button(t(lang0, "dub_render"), variant="primary", elem_id="dub-render")
                    stop_btn = gr.Button(t(lang0, "stop"), variant="stop", elem_id="dub-stop")
                tr.append((render_btn, lambda lang: gr.update(value=t(lang, "dub_render"))))
                tr.append((stop_btn, lambda lang: gr.update(value=t(lang, "stop"))))
            with gr.Column(scale=3):
                summary = gr.Markdown("", label="summary", elem_id="dub-summary")
                table = label(gr.Dataframe(cue_frame([], lang0), interactive=False, wrap=True, max_height=360,
                                           column_widths=["6%", "9%", "9%", "43%", "11%", "11%", "11%"],
                                           label=t(lang0, "dub_table"), elem_id="dub-cues"), "dub_table")
                audio = label(gr.Audio(label=t(lang0, "dub_audio"), type="filepath", interactive=False,
                                       elem_id="dub-audio"), "dub_audio")
                with gr.Row():
                    fmt = label(gr.Radio(list(DOWNLOAD_FORMATS), value="wav", label=t(lang0, "fmt"),
                                         elem_id="dub-format"), "fmt")
                    download = label(gr.File(label=t(lang0, "download"), interactive=False,
                                             elem_id="dub-download"), "download")
        current = gr.State(None)  # the track's wav on show
    stops: dict[str | None, threading.Event] = {}  # session -> its running render's stop flag

    def preview(path, voice_value, speed_value, emotion_value, intensity_value, fit_value, ui_lang, session):
        """The cue table (natural and target lengths, status) from the model's duration plan: no audio."""
        lang = normalize_lang(ui_lang)
        if not path:
            return cue_frame([], lang), ""
        try:
            subs = read_subtitles(path, lang)
            dubbing.check_limits(subs.cues, field="file")
            template = dub_request(kit, subs, voice_value, speed_value, emotion_value, intensity_value, session)
            rows = dubbing.plan(kit.holder.engine, subs.cues, template, dubbing.DubOptions(fit_value))
        except IndexTTSError as exc:  # InputError, EngineNotReady: the message is for the user
            raise gr.Error(str(exc)) from None
        return cue_frame(rows, lang), planned_line(rows, subs, lang)

    def render(path, voice_value, speed_value, emotion_value, intensity_value, fit_value, fmt_value,
               ui_lang="en", session=None, request: gr.Request = None, progress=gr.Progress()):
        """Render the track: returns its wav, the download in ``fmt_value`` (wav, mp3, flac), the cue table with
        each cue's real times, and the summary line. Stop ends it at the next cue."""
        lang = normalize_lang(ui_lang)
        stop = stops[getattr(request, "session_hash", None)] = threading.Event()
        try:
            subs = read_subtitles(path, lang)
            dubbing.check_limits(subs.cues, field="file")
            template = dub_request(kit, subs, voice_value, speed_value, emotion_value, intensity_value, session)
            progress(0, desc=t(lang, "dub_progress", i=0, n=len(subs.cues)))
            result = dubbing.render(
                kit.holder.engine, subs.cues, template, dubbing.DubOptions(fit_value),
                progress=lambda done, total: progress((done, total), desc=t(lang, "dub_progress", i=done, n=total)),
                cancelled=stop.is_set)
            record = {"source": "ui", "route": "dub", "format": subs.format, "voice": voice_value,
                      "voice_used": template.voice.name, "speed": float(speed_value), "fit": fit_value,
                      "emotion": template.emotion.describe() if template.emotion is not None else None,
                      "dub": dubbing.summary(result)}
            saved = kit.store.save(SynthesisResult(result.audio, result.sample_rate, [], result.compute_s), record)
            wav = str(saved.audio_path)
            exported = kit.page.export(wav, fmt_value)
        except Cancelled:
            raise gr.Error(t(lang, "dub_stopped")) from None
        except IndexTTSError as exc:
            raise gr.Error(str(exc)) from None
        except gr.Error:
            raise
        except Exception as exc:  # never a stack trace on the page; the log has it
            log.exception("dubbing failed")
            raise gr.Error(t(lang, "err_internal", error=type(exc).__name__)) from None
        kit.page.metrics.observe_generation(result.duration_s, result.compute_s / max(result.duration_s, 1e-9), "ui")
        counts = dubbing.summary(result)
        line = t(lang, "dub_done", cues=counts["cue_count"], too_long=counts["too_long"], late=counts["late"],
                 duration=result.duration_s, compute=result.compute_s)
        return wav, exported, cue_frame(result.cues, lang), line

    def refresh_voices(current_voice, ui_lang, session):
        return kit.page.voice_update(current_voice, ui_lang, session)

    plan_inputs = [upload, voice, speed, emotion, intensity, fit, kit.ui_lang, kit.session_voices]
    gr.on([upload.change, fit.change, speed.release, emotion.change, intensity.release], preview, plan_inputs,
          [table, summary], trigger_mode="always_last", api_visibility="private")
    tab.select(refresh_voices, [voice, kit.ui_lang, kit.session_voices], [voice], api_visibility="private",
               show_progress="hidden")
    event = render_btn.click(render, [upload, voice, speed, emotion, intensity, fit, fmt, kit.ui_lang,
                                      kit.session_voices], [audio, download, table, summary], api_name="dub",
                             show_progress_on=[audio],
                             api_description="Dub subtitles: an .srt/.vtt file -> the track (wav), its download in "
                                             "fmt, the cue table and a summary line.")
    event.success(lambda wav: wav, [audio], [current], api_visibility="private", queue=False)

    def stop_render(request: gr.Request = None) -> None:
        """Stop this session's render at its next cue (other sessions' renders go on)."""
        stop = stops.get(getattr(request, "session_hash", None))
        if stop is not None:
            stop.set()

    stop_btn.click(stop_render, None, None, cancels=[event], api_visibility="private", queue=False)
    fmt.change(lambda f, wav: kit.page.convert(f, wav), [fmt, current], [download], api_visibility="private")


def planned_line(rows: list[dubbing.CuePlan], subs: Subtitles, lang: str) -> str:
    counts: dict[str, Any] = dubbing.summary(rows)
    skipped = t(lang, "dub_skipped", n=subs.skipped_empty) if subs.skipped_empty else ""
    return t(lang, "dub_planned", cues=counts["cue_count"], too_long=counts["too_long"], fitted=counts["fitted"],
             skipped=skipped)
