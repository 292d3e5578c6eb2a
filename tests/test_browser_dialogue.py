"""The Dialogue tab in a real browser against the real app: type a two-speaker script, see the speakers table
fill from it, pick each speaker's voice, render, play the clip, read the per-turn timestamps."""

from __future__ import annotations

import re

from conftest import ready_page

SCRIPT = "Alice: Good morning, Bob.\nBob (calm): Morning. Coffee is on the table."


def pick_voice(page, row: int, voice: str) -> None:
    page.locator(f"#dialogue-voice-{row} input").first.click()
    page.get_by_role("option", name=re.compile(rf"^{voice}\b")).first.click()


def test_render_a_two_speaker_dialogue_on_the_page(live_server, browser):
    from playwright.sync_api import expect

    with ready_page(browser, live_server.url, "Dialogue", viewport={"width": 1400, "height": 1400}) as page:

        script = page.locator("#dialogue-script textarea")
        script.fill("Alice: Good morning, Bob.")
        expect(page.locator("#dialogue-speaker-0 input, #dialogue-speaker-0 textarea").first).to_have_value(
            "Alice", timeout=15_000)
        expect(page.locator("#dialogue-row-1")).to_be_hidden()
        pick_voice(page, 0, "af_heart")
        script.fill("Zoe: Hi.\n" + SCRIPT)  # a name added in front: Alice's choice moves with her
        expect(page.locator("#dialogue-speaker-2 input, #dialogue-speaker-2 textarea").first).to_have_value(
            "Bob", timeout=15_000)
        expect(page.locator("#dialogue-speaker-1 input, #dialogue-speaker-1 textarea").first).to_have_value("Alice")
        expect(page.locator("#dialogue-voice-1 input").first).to_have_value(re.compile(r"^af_heart"))
        script.fill(SCRIPT)  # Zoe gone: Alice keeps af_heart
        expect(page.locator("#dialogue-row-2")).to_be_hidden(timeout=15_000)
        expect(page.locator("#dialogue-voice-0 input").first).to_have_value(re.compile(r"^af_heart"))
        pick_voice(page, 1, "am_michael")

        page.locator("#dialogue-render").click()
        player = page.locator("#dialogue-audio audio[src^='blob:']")
        expect(player).to_have_count(1, timeout=180_000)
        duration = player.evaluate("a => new Promise(ok => a.readyState >= 1 ? ok(a.duration)"
                                   " : a.addEventListener('loadedmetadata', () => ok(a.duration), {once: true}))")
        table = page.locator("#dialogue-turns")
        expect(table).to_contain_text("am_michael")
        expect(table).to_contain_text("af_heart")
        expect(table).to_contain_text("Good morning, Bob.")  # a row per turn
        expect(table).to_contain_text("Coffee is on the table.")
        assert table.get_by_role("row").count() >= 3  # the header and two turns
        assert 2.0 < duration < 15.0, duration
        expect(page.locator("#dialogue-download")).to_contain_text(".wav")
