"""The Batch tab in a real browser against the real app: upload a .jsonl, see the job table, run, download
the zip and open it (the audio files and the manifest are there)."""

from __future__ import annotations

import json
import zipfile

import soundfile as sf

from conftest import ready_page


def test_upload_run_and_download_a_batch_zip(live_server, browser, tmp_path):
    from playwright.sync_api import expect

    source = tmp_path / "jobs.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in (
        {"id": "greeting", "text": "Good morning, this is a batch job.", "voice": "af_heart"},
        {"id": "../escape", "text": "Refused."},
        {"id": "numbers", "text": "It costs 12 dollars.", "format": "mp3"})) + "\n")
    with ready_page(browser, live_server.url, "Batch", viewport={"width": 1400, "height": 1100},
                    accept_downloads=True) as page:
        page.locator("#batch-file input[type=file]").set_input_files(str(source))
        table = page.locator("#batch-jobs")
        expect(table).to_contain_text("greeting", timeout=20_000)
        expect(table).to_contain_text("cannot name a file")  # the bad line, with why
        expect(page.locator("#batch-status")).to_contain_text("2 job(s) ready, 1 bad line(s)")

        page.locator("#batch-run").click()
        expect(page.locator("#batch-status")).to_contain_text("done: 2 of 2 done", timeout=180_000)
        download_button = page.locator("#batch-download")
        with page.expect_download() as download_info:
            download_button.click()
        saved = tmp_path / download_info.value.suggested_filename
        download_info.value.save_as(saved)
    assert saved.suffix == ".zip"
    with zipfile.ZipFile(saved) as archive:
        assert sorted(archive.namelist()) == ["greeting.wav", "manifest.jsonl", "numbers.mp3"]
        archive.extractall(tmp_path / "unzipped")
    rows = [json.loads(line) for line in (tmp_path / "unzipped" / "manifest.jsonl").read_text().splitlines()]
    assert [(row["id"], row["status"], row["voice_used"]) for row in rows][0] == ("greeting", "done", "af_heart")
    info = sf.info(tmp_path / "unzipped" / "greeting.wav")
    assert info.samplerate == 24000 and abs(info.duration - rows[0]["duration_s"]) < 0.01 and info.duration > 1.0
