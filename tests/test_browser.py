"""The page in a real browser (Playwright driving Debian's Chromium) against the real app:
type, generate, play, download, switch the interface language, and the browser's own language;
live playback while a generation runs, and Stop."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import soundfile as sf

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TEXT = "Hello there. 你好，世界。"

def audio_duration(player) -> float:
    """The <audio> element's duration in seconds, once its metadata has loaded."""
    return player.evaluate(
        "a => new Promise(ok => a.readyState >= 1 ? ok(a.duration)"
        " : a.addEventListener('loadedmetadata', () => ok(a.duration), {once: true}))")


def download_as(page, fmt: str, format_radio: str, download_box: str, folder: Path, timeout_ms: int = 20_000) -> Path:
    """Pick ``fmt`` in the ``format_radio``, wait for the ``download_box`` to offer that file, download it into
    ``folder``; its path."""
    from playwright.sync_api import expect

    page.locator(format_radio).get_by_text(fmt).click()
    expect(page.locator(download_box)).to_contain_text(f".{fmt}", timeout=timeout_ms)
    with page.expect_download() as download_info:
        page.locator(f"{download_box} a[download]").first.click()
    saved = folder / download_info.value.suggested_filename
    download_info.value.save_as(saved)
    return saved


def test_generate_play_download_and_switch_language(live_server, browser, tmp_path):
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    page = context.new_page()
    try:
        page.goto(live_server.url + "/")
        expect(page.locator("#status-line")).to_contain_text("ready", timeout=30_000)
        expect(page.locator("#status-line")).to_contain_text("Kokoro-82M")
        generate = page.locator("#generate")
        expect(generate).to_be_enabled()

        page.locator("#text-input textarea").fill(TEXT)
        expect(page.locator("#char-count")).to_contain_text(f"{len(TEXT)} / ")
        expect(page.locator("#segments")).to_contain_text("你好，世界。")  # the live preview
        generate.click()
        player = page.locator("#output-audio audio[src^='blob:']")
        expect(player).to_have_count(1, timeout=90_000)
        duration = audio_duration(player)
        assert 1.0 < duration < 8.0, duration
        expect(page.locator("#status-line")).to_contain_text("real-time factor")
        expect(page.locator("#history")).to_contain_text("zf_xiaobei")  # no voice chosen: mostly Mandarin text

        saved = download_as(page, "mp3", "#download-format", "#download", tmp_path)
        info = sf.info(saved)
        assert saved.suffix == ".mp3" and info.samplerate == 24000 and abs(info.duration - duration) < 0.2, info
        page.screenshot(path=str(ARTIFACTS / "ui-en.png"), full_page=True)

        page.locator("#ui-lang").get_by_text("中文").click()
        expect(generate).to_have_text("生成")
        expect(page.locator("#text-input")).to_contain_text("文本")
        expect(page.locator("#status-line")).to_contain_text("实时率")
        page.screenshot(path=str(ARTIFACTS / "ui-zh.png"), full_page=True)
    finally:
        context.close()

    # A browser set to Chinese gets the Chinese page without asking.
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(live_server.url + "/")
        expect(page.locator("#generate")).to_have_text("生成", timeout=30_000)
        expect(page.locator("#status-line")).to_contain_text("就绪")
    finally:
        context.close()


def test_upload_an_emotion_reference_and_generate(live_server, browser, tmp_path):
    """Upload a reference clip (here: real speech from the app's own API) in the page and generate with it."""
    import httpx
    from playwright.sync_api import expect

    from indextts.server.i18n import t

    reference = tmp_path / "reference.wav"
    reply = httpx.post(live_server.url + "/v1/audio/speech", timeout=120,
                       json={"input": "What a wonderful surprise, I can hardly believe it!", "response_format": "wav"})
    reply.raise_for_status()
    reference.write_bytes(reply.content)

    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    try:
        page.goto(live_server.url + "/")
        expect(page.locator("#status-line")).to_contain_text("ready", timeout=30_000)
        page.locator("#text-input textarea").fill("The train leaves at noon.")
        page.locator("#emotion").get_by_text(t("en", "emo_accordion")).first.click()
        page.locator("#emo-mode").get_by_text(t("en", "emo_mode_reference")).click()
        page.locator("#emo-reference input[type=file]").set_input_files(str(reference))
        expect(page.locator("#emo-reference audio")).not_to_have_count(0, timeout=20_000)  # the upload is shown
        page.locator("#generate").click()
        player = page.locator("#output-audio audio[src^='blob:']")
        expect(player).to_have_count(1, timeout=120_000)
        duration = audio_duration(player)
        assert 0.8 < duration < 6.0, duration
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ui-emotion-reference.png"), full_page=True)
    finally:
        context.close()


def when_audio(player, condition: str, event: str, timeout_s: float = 60.0) -> str:
    """Wait in the page until the <audio> element `a` meets `condition` (a JS expression), checked now
    and on each `event`; returns the status line's text at that moment (read in the same JS task)."""
    return player.evaluate(
        """(a, [condition, event, timeout_ms]) => new Promise((ok, fail) => {
          const met = new Function('a', 'return ' + condition);
          const done = () => ok(document.querySelector('#status-line').innerText);
          if (met(a)) return done();
          a.addEventListener(event, () => met(a) && done());
          setTimeout(() => fail(new Error(`audio: not ${condition} after ${timeout_ms} ms`)), timeout_ms);
        })""", [condition, event, timeout_s * 1000])


def test_live_playback_starts_before_generation_ends_and_stop_silences_it(live_server, browser):
    """Several segments: the live player plays the first while the rest are made, the full clip then
    lands (without autoplay) in the main player, and the live stream holds the same audio (pauses
    included). Stop cancels a generation and silences the live player."""
    from playwright.sync_api import expect

    if not shutil.which("ffmpeg"):
        pytest.skip("needs ffmpeg (Gradio encodes streamed audio with it): apt-get install -y ffmpeg")
    text = ("The first sentence is short. Then comes a second one, a little longer than the first. "
            "A third follows it. And the fourth one ends the paragraph.")
    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    try:
        page.goto(live_server.url + "/")
        expect(page.locator("#status-line")).to_contain_text("ready", timeout=30_000)
        page.locator("#text-input textarea").fill(text)
        expect(page.locator("#segments [role=grid]")).to_have_attribute("aria-rowcount", "5")  # header + 4
        page.locator("#generate").click()
        live = page.locator("#live-audio audio")
        final = page.locator("#output-audio audio[src^='blob:']")
        expect(live).to_have_count(1, timeout=60_000)
        status = when_audio(live, "a.currentTime > 0", "timeupdate")
        assert "real-time factor" not in status, "the live player started only after generation ended"
        expect(final).to_have_count(0)

        expect(final).to_have_count(1, timeout=90_000)
        expect(page.locator("#status-line")).to_contain_text("real-time factor")
        assert final.evaluate("a => a.paused && a.currentTime === 0"), "the full clip must not autoplay"
        when_audio(live, "a.ended", "ended")
        live_s, final_s = live.evaluate("a => a.duration"), audio_duration(final)
        assert abs(live_s - final_s) < 0.3, (live_s, final_s)

        first_stream = live.get_attribute("src")
        page.locator("#text-input textarea").fill(text * 2)
        page.locator("#generate").click()
        expect(live).not_to_have_attribute("src", first_stream, timeout=60_000)
        when_audio(live, "a.currentTime > 0 && !a.ended", "timeupdate")
        page.locator("#stop").click()
        expect(live).to_have_count(0, timeout=5_000)  # the live player is cleared
        # The run ends (after the segment in progress) without an output: the history keeps one row.
        # (Gradio's tracker then shows either nothing or, at times, "Error" for a cancelled run.)
        progress = page.locator("#output-audio [data-testid=status-tracker]")
        expect(progress).not_to_have_class(re.compile(r"\bgenerating\b"), timeout=30_000)
        expect(page.locator("#history [role=grid]")).to_have_attribute("aria-rowcount", "2")  # header + 1
    finally:
        context.close()


def test_a_glossary_entry_added_on_the_page_changes_the_preview(live_server, browser):
    """Open the Glossary, add an entry: the segment preview's reading column shows it at once; remove it:
    the usual reading is back."""
    import httpx
    from playwright.sync_api import expect

    from indextts.server.i18n import t

    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1600})
    page = context.new_page()
    try:
        page.goto(live_server.url + "/")
        expect(page.locator("#status-line")).to_contain_text("ready", timeout=30_000)
        page.locator("#text-input textarea").fill("我在重庆。")
        segments = page.locator("#segments")
        expect(segments).to_contain_text("chong2 qing4", timeout=20_000)

        page.locator("#glossary").get_by_text(t("en", "glossary_accordion")).first.click()
        page.locator("#glossary-term textarea, #glossary-term input").first.fill("重庆")
        page.locator("#glossary-lang").get_by_text("zh").click()
        page.locator("#glossary-reading textarea, #glossary-reading input").first.fill("zhong4 qing4")
        page.locator("#glossary-add").click()
        expect(page.locator("#glossary-table")).to_contain_text("zhong4 qing4", timeout=20_000)
        expect(segments).to_contain_text("zhong4 qing4", timeout=20_000)
        expect(segments).not_to_contain_text("chong2")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ui-glossary.png"), full_page=True)

        term = page.locator("#glossary-term textarea, #glossary-term input").first
        term.fill("")
        page.locator("#glossary-table").get_by_role("gridcell").filter(has_text="zhong4 qing4").click()  # to edit
        expect(term).to_have_value("重庆", timeout=10_000)
        page.locator("#glossary-remove").click()
        expect(segments).to_contain_text("chong2 qing4", timeout=20_000)
        expect(page.locator("#glossary-table")).not_to_contain_text("zhong4 qing4")
    finally:
        context.close()
        httpx.delete(live_server.url + "/v1/glossary/重庆", timeout=30)  # never left for other tests
