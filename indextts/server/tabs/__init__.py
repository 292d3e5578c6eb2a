"""The page's tabs beyond the first ("Speech", built in ui.py): one module per tab, each a ``build(kit)``
called inside the page's ``gr.Tabs``. ``TABS`` is their order on the page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import gradio as gr

    from ...config import Settings
    from ..engine_holder import EngineHolder
    from ..outputs import OutputStore
    from ..ui import _Page


@dataclass(frozen=True)
class PageKit:
    """What a tab needs from the page: the engine, settings and output store, the interface-language radio,
    this session's unsaved clones, and the localizing helpers: ``label(component, key, info=, placeholder=)``
    registers a component whose label follows the interface language, ``markdown(key)`` a localized text,
    and ``tr`` takes any other (component, language -> update) pair."""

    page: "_Page"
    holder: "EngineHolder"
    settings: "Settings"
    store: "OutputStore"
    ui_lang: "gr.Radio"
    session_voices: "gr.State"
    label: Callable[..., Any]
    markdown: Callable[..., Any]
    tr: list


from . import batch, dialogue, dub  # noqa: E402  (after PageKit: the tab modules use it)

TABS: tuple[Callable[[PageKit], None], ...] = (dialogue.build, dub.build, batch.build)
