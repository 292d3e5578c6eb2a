"""The Speech tab's "Presets" panel: save the tab's current settings under a name, apply, rename or delete one.

The panel sits near the top of the input column, above the controls it reads and sets, so it is built in two
steps: ``PresetPanel(...)`` lays out its components where ui.py calls it, and ``wire(...)`` connects them to the
controls (``PresetControls``) once those exist. Presets live in ``paths.presets`` (``indextts.presets``), the
same folder the API and the CLI use; the list is read again when the page opens and when the panel is opened.

Public gradio_client endpoints: "/presets" (every preset), "/preset_save" (a preset as the API's JSON) and
"/preset_delete"; the buttons are private.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr

from ..config import Settings
from ..emotion import EMOTIONS
from ..errors import IndexTTSError, InputError
from ..presets import Preset, PresetStore, open_store, preset_of
from .engine_holder import EngineHolder, EngineNotReady
from .i18n import normalize_lang, t


@dataclass(frozen=True)
class PresetControls:
    """The Speech tab's controls a preset holds, in the order the handlers take and give their values."""

    voice: Any
    speed: Any
    lang: Any
    emo_mode: Any
    emo_sliders: list  # one per EMOTIONS, in that order
    emo_weight: Any
    emo_text: Any
    emo_random: Any
    emo_seed: Any
    max_tokens: Any
    pause: Any

    def all(self) -> list:
        return [self.voice, self.speed, self.lang, self.emo_mode, *self.emo_sliders, self.emo_weight, self.emo_text,
                self.emo_random, self.emo_seed, self.max_tokens, self.pause]


class PresetActions:
    """What the panel's buttons do, apart from Gradio's wiring (tests call these directly)."""

    def __init__(self, holder: EngineHolder, settings: Settings, store: PresetStore | None = None) -> None:
        self.holder = holder
        self.settings = settings
        self.store = store or open_store(settings.paths.presets)

    def voice_exists(self, voice: str) -> bool:
        """Whether ``voice`` resolves now; True while the model loads (nothing to check against yet)."""
        try:
            self.holder.engine.voices.resolve(voice)
        except EngineNotReady:
            return True
        except InputError:
            return False
        return True

    def choices(self, selected: str | None = None) -> dict:
        """The preset list, keeping ``selected`` when it still exists."""
        names = self.store.names()
        match = next((n for n in names if selected and n.casefold() == selected.casefold()), None)
        return gr.update(choices=names, value=match)

    def preset_from_controls(self, name: str, values: list) -> tuple[Preset, bool]:
        """The controls' values as a checked preset, and whether a reference clip was left out (mode
        'reference': a preset keeps no audio, so it is saved without an emotion source)."""
        voice, speed, lang, mode, *rest = values
        sliders, (weight, text, random, seed, max_tokens, pause) = rest[:len(EMOTIONS)], rest[len(EMOTIONS):]
        voice = (voice or "").strip() or None
        fields: dict[str, Any] = {"voice": voice, "speed": float(speed), "lang": lang or "auto",
                                  "emotion_weight": float(weight), "emotion_random": bool(random),
                                  "emotion_seed": int(seed or 0), "max_tokens": int(max_tokens),
                                  "pause_s": float(pause)}
        if mode == "vector":
            fields["emotion"] = {emotion: float(v or 0) for emotion, v in zip(EMOTIONS, sliders)}
        elif mode == "text":
            fields["emotion_text"] = text or ""
        return preset_of(fields, name=name), mode == "reference"

    def controls_of(self, preset: Preset) -> list:
        """The controls' values for ``preset`` (the order of ``PresetControls.all``); the voice is skipped when
        it no longer exists."""
        engine_cfg = self.settings.engine
        mode = "vector" if preset.emotion is not None else "text" if preset.emotion_text is not None else "voice"
        vector = preset.emotion or {}
        voice = preset.voice or ""
        if preset.voice and not self.voice_exists(preset.voice):
            voice = gr.skip()
        max_tokens = preset.max_tokens if preset.max_tokens is not None else engine_cfg.max_tokens_per_segment
        pause = preset.pause_s if preset.pause_s is not None else min(engine_cfg.segment_pause_s, 2.0)
        return [voice, preset.speed, preset.lang, mode, *(float(vector.get(e, 0.0)) for e in EMOTIONS),
                preset.emotion_weight, preset.emotion_text or "", preset.emotion_random, preset.emotion_seed,
                max_tokens, pause]

    # -- the buttons --------------------------------------------------------------------------
    def save(self, name: str, selected: str | None, ui_lang: str, session: dict | None, *values):
        """Save the controls under the name typed (else the preset chosen): (message, list, name box)."""
        ui_lang = normalize_lang(ui_lang)
        name = (name or "").strip() or (selected or "")
        try:
            if (values[0] or "") in (session or {}):
                raise InputError(t(ui_lang, "preset_session_voice", voice=values[0]), field="voice")
            preset, clip_left_out = self.preset_from_controls(name, list(values))
            replaced = self.store.save(preset)
        except IndexTTSError as exc:
            raise gr.Error(str(exc)) from None
        message = t(ui_lang, "preset_replaced" if replaced else "preset_saved", name=preset.name)
        if clip_left_out:
            message += t(ui_lang, "preset_no_clip")
        return message, self.choices(preset.name), preset.name

    @staticmethod
    def _on_chosen(selected: str | None, ui_lang: str, action: Callable[[str], Preset]) -> Preset:
        """``action`` on the preset chosen in the list; no choice or the store's refusal shown on the page."""
        if not selected:
            raise gr.Error(t(ui_lang, "preset_choose"))
        try:
            return action(selected)
        except IndexTTSError as exc:
            raise gr.Error(str(exc)) from None

    def apply(self, selected: str | None, ui_lang: str):
        """Set every control from the chosen preset: (message, *controls). A voice that is gone is named in the
        message; the other settings are still applied."""
        ui_lang = normalize_lang(ui_lang)
        preset = self._on_chosen(selected, ui_lang, self.store.get)
        values = self.controls_of(preset)
        voice_gone = preset.voice and not isinstance(values[0], str)
        message = t(ui_lang, "preset_voice_missing", name=preset.name, voice=preset.voice) if voice_gone \
            else t(ui_lang, "preset_applied", name=preset.name)
        return (message, *values)

    def rename(self, selected: str | None, new_name: str, ui_lang: str):
        """(message, list, name box)."""
        ui_lang = normalize_lang(ui_lang)
        renamed = self._on_chosen(selected, ui_lang, lambda name: self.store.rename(name, new_name))
        return t(ui_lang, "preset_renamed", old=selected, new=renamed.name), self.choices(renamed.name), renamed.name

    def delete(self, selected: str | None, ui_lang: str):
        """(message, list, name box)."""
        ui_lang = normalize_lang(ui_lang)
        removed = self._on_chosen(selected, ui_lang, self.store.delete)
        return t(ui_lang, "preset_deleted", name=removed.name), self.choices(), ""

    # -- gradio_client endpoints ----------------------------------------------------------------
    def api_list(self) -> list:
        return [preset.as_json() for preset in self.store.list()]

    def api_save(self, preset: dict) -> dict:
        try:
            checked = preset_of(preset if isinstance(preset, dict) else {})
            if checked.voice and not self.voice_exists(checked.voice):
                raise InputError(f"unknown voice {checked.voice!r}; see /voices", field="voice")
            replaced = self.store.save(checked)
        except IndexTTSError as exc:
            raise gr.Error(str(exc)) from None
        return {"preset": checked.as_json(), "replaced": replaced}

    def api_delete(self, name: str) -> dict:
        try:
            return {"deleted": self.store.delete(name).as_json()}
        except IndexTTSError as exc:
            raise gr.Error(str(exc)) from None


class PresetPanel:
    """The panel's components, laid out where it is built (inside the Speech tab's input column)."""

    def __init__(self, holder: EngineHolder, settings: Settings, label: Callable[..., Any],
                 markdown: Callable[..., Any], tr: list, lang0: str) -> None:
        self.actions = PresetActions(holder, settings)
        self.accordion = label(gr.Accordion(t(lang0, "preset_accordion"), open=False, elem_id="presets"),
                               "preset_accordion")
        with self.accordion:
            markdown("preset_help")
            with gr.Row():
                self.list = label(gr.Dropdown(self.actions.store.names(), value=None, label=t(lang0, "preset_list"),
                                              allow_custom_value=False, scale=2, elem_id="preset-list"),
                                  "preset_list")
                self.name = label(gr.Textbox(label=t(lang0, "preset_name"), max_lines=1, scale=2,
                                             placeholder=t(lang0, "preset_name_placeholder"), elem_id="preset-name"),
                                  "preset_name", placeholder="preset_name_placeholder")
            with gr.Row():
                self.apply = gr.Button(t(lang0, "preset_apply"), variant="primary", elem_id="preset-apply")
                self.save = gr.Button(t(lang0, "preset_save"), elem_id="preset-save")
                self.rename = gr.Button(t(lang0, "preset_rename"), elem_id="preset-rename")
                self.delete = gr.Button(t(lang0, "preset_delete"), variant="stop", elem_id="preset-delete")
                for button, key in ((self.apply, "preset_apply"), (self.save, "preset_save"),
                                    (self.rename, "preset_rename"), (self.delete, "preset_delete")):
                    tr.append((button, lambda lang, key=key: gr.update(value=t(lang, key))))
            self.message = gr.Markdown("", elem_id="preset-message")

    def wire(self, demo: gr.Blocks, ui_lang: gr.Radio, session_voices: gr.State, controls: PresetControls) -> None:
        """Connect the buttons to the controls, refresh the list when the page opens, and add the public
        gradio_client endpoints."""
        actions, private = self.actions, {"api_visibility": "private"}
        refresh = dict(fn=actions.choices, inputs=[self.list], outputs=[self.list], show_progress="hidden",
                       queue=False, **private)
        demo.load(**refresh)
        self.accordion.expand(**refresh)
        self.list.input(lambda name: name or "", [self.list], [self.name], queue=False, **private)
        self.save.click(actions.save, [self.name, self.list, ui_lang, session_voices, *controls.all()],
                        [self.message, self.list, self.name], **private)
        self.apply.click(actions.apply, [self.list, ui_lang], [self.message, *controls.all()], **private)
        self.rename.click(actions.rename, [self.list, self.name, ui_lang], [self.message, self.list, self.name],
                          **private)
        self.delete.click(actions.delete, [self.list, ui_lang], [self.message, self.list, self.name], **private)

        def presets() -> list:
            """Every saved preset: [{name, voice, speed, lang, emotion, emotion_text, emotion_weight,
            emotion_random, emotion_seed, max_tokens, pause_s}, ...] (as GET /v1/presets lists them)."""
            return actions.api_list()

        def preset_save(preset: dict) -> dict:
            """Create or replace a preset: {"name": ..., <settings as in POST /v1/presets>}. Returns
            {preset, replaced}."""
            return actions.api_save(preset)

        def preset_delete(name: str) -> dict:
            """Remove a preset (any case); returns {deleted}."""
            return actions.api_delete(name)

        gr.api(presets, api_name="presets", concurrency_limit=None)
        gr.api(preset_save, api_name="preset_save")
        gr.api(preset_delete, api_name="preset_delete")
