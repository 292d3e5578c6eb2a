"""The page in a real browser (Playwright driving Debian's Chromium) against the real app:
type, generate, play, download, switch the interface language, and the browser's own language."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TEXT = "Hello there. 你好，世界。"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Chromium: apt-get install -y --no-install-recommends chromium chromium-driver")


def audio_duration(player) -> float:
    """The <audio> element's duration in seconds, once its metadata has loaded."""
    return player.evaluate(
        "a => new Promise(ok => a.readyState >= 1 ? ok(a.duration)"
        " : a.addEventListener('loadedmetadata', () => ok(a.duration), {once: true}))")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs: pip install playwright==1.65.2")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


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
        expect(page.locator("#history")).to_contain_text("jm_kumo")

        page.locator("#download-format").get_by_text("mp3").click()
        expect(page.locator("#download")).to_contain_text(".mp3", timeout=20_000)
        with page.expect_download() as download_info:
            page.locator("#download a[download]").first.click()
        saved = tmp_path / download_info.value.suggested_filename
        download_info.value.save_as(saved)
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
