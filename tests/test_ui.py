"""The Gradio page: its API through gradio_client against the real app, and its handlers in the
loading and failed states (no model needed)."""

from __future__ import annotations

import re
import string

import gradio as gr
import pytest
import soundfile as sf
from prometheus_text import metric

from indextts.config import Settings
from indextts.server.i18n import EN, TABLES, normalize_lang, t

MIXED = "Hello there. 你好，世界。I like it."


@pytest.fixture(scope="module")
def client(live_server):
    from gradio_client import Client

    return Client(live_server.url + "/", verbose=False)


def test_i18n_tables_are_complete_and_format_alike():
    fields = lambda s: sorted(f for _, f, _, _ in string.Formatter().parse(s) if f)  # noqa: E731
    for lang, table in TABLES.items():
        assert table.keys() == EN.keys(), f"{lang}: missing {EN.keys() - table.keys()}"
        for key, text in table.items():
            assert text.strip(), f"{lang}.{key} is empty"
            assert fields(text) == fields(EN[key]), f"{lang}.{key} has other placeholders than en"
    assert re.search(r"[\u4e00-\u9fff]", t("zh", "generate"))
    assert normalize_lang("zh-CN") == "zh" and normalize_lang("en-GB") == "en" and normalize_lang(None) == "en"


def test_api_lists_the_public_endpoints_only(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert names == {"/synthesize", "/preview_segments", "/voices", "/clone_voice", "/cancel_clone", "/preview_voice",
                     "/glossary", "/glossary_put", "/glossary_delete", "/presets", "/preset_save", "/preset_delete",
                     "/dialogue", "/dub", "/batch"}


def test_voices_and_segment_preview(client):
    voices = client.predict(api_name="/voices")
    assert "jm_kumo" in voices and len(voices) >= 2
    rows = client.predict(MIXED, "auto", 400, api_name="/preview_segments")
    assert [(r["index"], r["lang"], r["text"]) for r in rows] == [
        (1, "en", "Hello there."), (2, "zh", "你好，世界。"), (3, "en", "I like it.")]
    assert all(0 < r["tokens"] <= 400 for r in rows)


def test_a_glossary_entry_added_through_the_page_changes_the_preview_reading(client):
    from gradio_client.exceptions import AppError

    def reading() -> str:
        return " ".join(r["reading"] for r in client.predict("我在重庆。", "auto", 400, api_name="/preview_segments"))

    assert "chong2 qing4" in reading()
    added = client.predict("重庆", "zh", "zhong4 qing4", api_name="/glossary_put")
    assert added == {"entry": {"term": "重庆", "lang": "zh", "reading": "zhong4 qing4"}, "replaced": False}
    try:
        assert {"term": "重庆", "lang": "zh", "reading": "zhong4 qing4"} in client.predict(api_name="/glossary")
        assert "zhong4 qing4" in reading() and "chong2" not in reading()
        with pytest.raises(AppError, match="'qing9' has tone 9"):
            client.predict("重庆", "zh", "zhong4 qing9", api_name="/glossary_put")
    finally:
        client.predict("重庆", api_name="/glossary_delete")
    assert "chong2 qing4" in reading()


def test_synthesize_returns_playable_audio_and_the_chosen_download(client, live_server):
    page_generations = 'indextts_generations_total{source="ui"}'
    generations = metric(live_server.url, page_generations)
    audio_s = metric(live_server.url, "indextts_audio_seconds_total")
    audio, download, pitch, history, files, status, _live = client.predict(
        "Hello there. 你好，世界。", "jf_alpha", 1.0, "auto", 400, 0.25, "flac", "en", api_name="/synthesize")
    info = sf.info(audio)
    assert metric(live_server.url, page_generations) == generations + 1, "a page generation must show in /metrics"
    added_s = metric(live_server.url, "indextts_audio_seconds_total") - audio_s
    assert added_s == pytest.approx(info.duration, abs=0.01)
    assert info.samplerate == 24000 and 1.0 < info.duration < 8.0, info
    assert download.endswith(".flac")
    flac = sf.info(download)
    assert flac.format == "FLAC" and abs(flac.duration - info.duration) < 0.01
    voiced = [hz for _, hz in pitch["value"]["data"] if hz is not None]
    assert voiced and 40 <= min(voiced) and max(voiced) < 600, "pitch plot: Hz, unvoiced hidden"
    assert history["data"][0][1] == "jf_alpha" and len(files) == 1
    assert "Kokoro-82M" in status and "real-time factor" in status


def test_bad_input_is_a_clear_error_and_the_server_stays_up(client, live_server):
    from gradio_client.exceptions import AppError

    page_errors = 'indextts_errors_total{kind="invalid_request",route="ui"}'
    before = metric(live_server.url, page_errors, default=0.0)
    with pytest.raises(AppError, match="text is empty"):
        client.predict("   ", "jm_kumo", 1.0, "auto", 400, 0.25, "wav", "en", api_name="/synthesize")
    with pytest.raises(AppError, match="text is empty"):
        client.predict("", "auto", 400, api_name="/preview_segments")
    with pytest.raises(AppError, match="unknown voice"):
        client.predict("Hi.", "nobody", 1.0, "auto", 400, 0.25, "wav", "en", api_name="/synthesize")
    assert metric(live_server.url, page_errors) == before + 2  # the page's failed generations count too
    assert client.predict("Still here.", "auto", 400, api_name="/preview_segments")[0]["text"] == "Still here."


# ---------------------------------------------------------------- loading and failed states
class _Holder:
    """An EngineHolder stand-in frozen in one state."""

    def __init__(self, state: str, error: str | None = None) -> None:
        self.state, self.error = state, error

    @property
    def engine(self):
        from indextts.server.engine_holder import EngineNotReady

        if self.state == "failed":
            raise EngineNotReady(f"the model failed to load: {self.error}")
        raise EngineNotReady("the model is still loading; try again in a few seconds")


@pytest.fixture
def page_for(tmp_path):
    from indextts.server.outputs import OutputStore
    from indextts.server.ui import _Page

    settings = Settings.load(environ={}, overrides={"paths": {"outputs": str(tmp_path)}})
    return lambda state, error=None: _Page(_Holder(state, error), settings, OutputStore(settings))


def test_while_loading_the_page_says_so_and_generate_waits(page_for):
    from indextts.server.ui import Stats

    page = page_for("loading")
    status, generate, voice, timer, table = page.poll("en", "Hello.", "auto", 400, "jm_kumo", Stats())
    assert "loading model" in status
    assert generate["interactive"] is False and timer["active"] is True
    assert "loading" in table.iloc[0, 2]
    assert "加载" in page.poll("zh", "", "auto", 400, "jm_kumo", Stats())[0]
    with pytest.raises(gr.Error, match="still loading"):
        next(page.synthesize("Hello.", "jm_kumo", 1.0, "auto", 400, 0.25, "wav", "en", [], Stats()))


def test_a_failed_load_shows_the_error(page_for):
    from indextts.server.ui import Stats

    page = page_for("failed", "model file missing: run python -m indextts.weights ensure")
    status, generate, _, timer, table = page.poll("en", "Hello.", "auto", 400, "jm_kumo", Stats())
    assert "failed to load" in status and "indextts.weights ensure" in status
    assert generate["interactive"] is False and timer["active"] is False
    with pytest.raises(gr.Error, match="failed to load: model file missing"):
        next(page.synthesize("Hello.", "jm_kumo", 1.0, "auto", 400, 0.25, "wav", "en", [], Stats()))
