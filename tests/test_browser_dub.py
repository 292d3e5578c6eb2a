"""The Subtitles -> speech tab in a real browser against the real app: upload an .srt, see the cue table with
each cue's natural and target length, render, play a track as long as the subtitles, download it as mp3."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from conftest import ready_page

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SRT = ("1\n00:00:00,500 --> 00:00:02,000\nGood morning.\n\n"
       "2\n00:00:02,500 --> 00:00:03,000\nThis cue has far too many words for half a second.\n\n"
       "3\n00:00:05,000 --> 00:00:06,500\n<i>See you soon.</i>\n")


def test_upload_subtitles_render_play_and_download(live_server, browser, tmp_path):
    from playwright.sync_api import expect

    from test_browser import audio_duration, download_as

    source = tmp_path / "episode.srt"
    source.write_text(SRT, encoding="utf-8")
    with ready_page(browser, live_server.url, "Subtitles", viewport={"width": 1400, "height": 1300},
                    accept_downloads=True) as page:
        page.locator("#dub-file input[type=file]").set_input_files(str(source))
        table = page.locator("#dub-cues")
        expect(table).to_contain_text("See you soon.", timeout=60_000)  # markup stripped
        expect(table).to_contain_text("too long")  # cue 2's status, before anything is rendered
        expect(table).to_contain_text("natural s")
        expect(page.locator("#dub-summary")).to_contain_text("3 cues, 1 too long even at 2x")

        page.locator("#dub-render").click()
        player = page.locator("#dub-audio audio[src^='blob:']")
        expect(player).to_have_count(1, timeout=300_000)
        expect(page.locator("#dub-summary")).to_contain_text("3 cues, 1 too long", timeout=30_000)
        expect(page.locator("#dub-summary")).to_contain_text("track 6.50 s")
        duration = audio_duration(player)
        assert abs(duration - 6.5) < 0.05, duration  # the track runs to the last cue's end

        saved = download_as(page, "mp3", "#dub-format", "#dub-download", tmp_path, timeout_ms=30_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ui-dub.png"), full_page=True)
    info = sf.info(saved)
    assert saved.suffix == ".mp3" and info.samplerate == 24000 and abs(info.duration - 6.5) < 0.1, info


def test_stop_ends_a_render_at_the_next_cue(make_app, browser, tmp_path):
    """The page's Stop (the in-process app, a slow fake engine: 0.3 s a cue, no model): the engine stops making
    cues within a cue of the click, and no track is shown."""
    import time

    from playwright.sync_api import expect

    from conftest import serving, wait_until
    from fake_engine import FakeEngine
    from test_dub import TimedFakeEngine

    class SlowEngine(FakeEngine):
        natural_length_s = TimedFakeEngine.natural_length_s

    engine = SlowEngine(delay_s=0.3)
    source = tmp_path / "long.srt"
    source.write_text("".join(f"{k + 1}\n00:00:{k:02d},000 --> 00:00:{k:02d},900\nCue {k}.\n\n" for k in range(30)),
                      encoding="utf-8")
    app, _ = make_app(loader=lambda settings: engine)
    with serving(app) as url:
        with ready_page(browser, url, "Subtitles", viewport={"width": 1400, "height": 1300}) as page:
            page.locator("#dub-file input[type=file]").set_input_files(str(source))
            expect(page.locator("#dub-summary")).to_contain_text("30 cues", timeout=30_000)
            page.locator("#dub-render").click()
            assert wait_until(lambda: engine.rendered >= 2, 30, 0.05), engine.rendered
            page.locator("#dub-stop").click()
            time.sleep(1.0)  # the cue under way finishes
            stopped_at = engine.rendered
            time.sleep(1.5)
            assert engine.rendered == stopped_at < 30
            expect(page.locator("#dub-audio audio[src^='blob:']")).to_have_count(0)
