"""Presets on the real page (Playwright driving Chromium against the real app): change the speed, the voice and
the pause, save them as a preset, reload the page (the controls are back at their defaults), apply the preset:
the controls come back. A preset whose voice was deleted still applies its other settings and says so."""

from __future__ import annotations

import json
import re

import httpx

from indextts.server.i18n import t

from conftest import ready_page

NAME = "Browser preset"


def number_of(page, elem_id: str):
    """A slider's number box."""
    return page.locator(f"#{elem_id} input[type=number]").first


def open_presets(page) -> None:
    page.locator("#presets").get_by_text(t("en", "preset_accordion")).first.click()


def open_advanced(page) -> None:
    """The accordion that holds the pause (a closed accordion's controls are not in the page yet)."""
    page.get_by_text(t("en", "adv_accordion")).first.click()


def choose_preset(page, name: str) -> None:
    page.locator("#preset-list input").first.click()
    page.get_by_role("option", name=name, exact=True).click()


def test_save_reload_and_apply_a_preset(live_server, browser):
    from playwright.sync_api import expect

    with ready_page(browser, live_server.url, viewport={"width": 1400, "height": 1600}) as page:
        open_advanced(page)
        speed, pause = number_of(page, "speed"), number_of(page, "pause")
        voice = page.locator("#voice input").first
        voice.fill("af_bella")
        voice.press("Enter")
        speed.fill("1.35")
        speed.press("Enter")
        pause.fill("0.8")
        pause.press("Enter")

        open_presets(page)
        page.locator("#preset-name input, #preset-name textarea").first.fill(NAME)
        page.locator("#preset-save").click()
        expect(page.locator("#preset-message")).to_contain_text(t("en", "preset_saved", name=NAME), timeout=20_000)
        saved = httpx.get(f"{live_server.url}/v1/presets/{NAME}", timeout=30).json()
        assert (saved["voice"], saved["speed"], saved["pause_s"]) == ("af_bella", 1.35, 0.8), saved

        page.reload()
        expect(page.locator("#status-line")).to_contain_text("ready", timeout=30_000)
        open_advanced(page)
        speed, pause, voice = number_of(page, "speed"), number_of(page, "pause"), page.locator("#voice input").first
        expect(speed).to_have_value("1")
        expect(pause).not_to_have_value("0.8")
        expect(voice).not_to_have_value("af_bella")
        open_presets(page)
        choose_preset(page, NAME)
        page.locator("#preset-apply").click()
        expect(page.locator("#preset-message")).to_contain_text(t("en", "preset_applied", name=NAME), timeout=20_000)
        expect(speed).to_have_value("1.35")
        expect(pause).to_have_value("0.8")
        expect(voice).to_have_value(re.compile(r"^af_bella\b"))  # its label: name · language · gender

        # a preset whose voice is gone: the rest is applied, the message names the voice
        folder = live_server.outputs.parent / "presets"
        (folder / "Gone voice.json").write_text(json.dumps({"voice": "deleted_clone", "speed": 0.75}),
                                                encoding="utf-8")
        page.reload()
        expect(page.locator("#status-line")).to_contain_text("ready", timeout=30_000)
        speed, voice = number_of(page, "speed"), page.locator("#voice input").first
        open_presets(page)
        choose_preset(page, "Gone voice")
        page.locator("#preset-apply").click()
        expect(page.locator("#preset-message")).to_contain_text("deleted_clone no longer exists", timeout=20_000)
        expect(speed).to_have_value("0.75")
        for name in (NAME, "Gone voice"):  # never left for other tests
            httpx.delete(f"{live_server.url}/v1/presets/{name}", timeout=30)
