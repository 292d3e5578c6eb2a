"""The page's "Batch" tab: a .jsonl or .txt file -> many audio files and a manifest, as one zip.

Upload the file (the job table shows each job, and the bad lines with their numbers), Run (progress as jobs
finish), Cancel (stops between two segments; the files written stay), Download zip. The tab runs batches
through the app's ``BatchService``, the same store and worker as ``/v1/batches``: a batch started here is
listed by the API, survives a reload of the page, and never runs beside another batch.
gradio_client: ``/batch`` (file, format) -> (batch id, status text, job table, zip).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from ...batch.jobs import JobList
from ...batch.store import FINISHED, BatchService
from ...errors import IndexTTSError
from ...server.audio_codec import RESPONSE_FORMATS
from ..i18n import DEFAULT_UI_LANG, normalize_lang, t

if TYPE_CHECKING:
    from . import PageKit

log = logging.getLogger(__name__)

COLUMNS = ("id", "line", "text", "options", "status")
FORMATS = [f for f in RESPONSE_FORMATS if f != "pcm"]
POLL_S = 0.5  # how often the running batch's table is refreshed


def jobs_frame(rows: list[dict[str, Any]], lang: str) -> pd.DataFrame:
    """Job rows (a preview's or a batch's) as the page's table; a failed job shows its error."""
    table = [[row.get("id") or "", row["line"], row.get("text", ""),
              ", ".join(f"{k}={v}" for k, v in (row.get("options") or {}).items()),
              t(lang, f"batch_state_{row['status']}") + (f": {row['error']}" if row.get("error") else "")]
             for row in rows]
    return pd.DataFrame(table, columns=[t(lang, f"batch_col_{c}") for c in COLUMNS])


def preview_rows(parsed: JobList) -> list[dict[str, Any]]:
    """The parsed file as rows in line order: its jobs (to run) and its bad lines (with why)."""
    rows = [{**job.describe(), "status": "pending"} for job in parsed.jobs]
    rows += [{"id": "", "line": bad.line, "text": "", "options": {}, "status": "invalid", "error": bad.error}
             for bad in parsed.invalid]
    return sorted(rows, key=lambda row: row["line"])


def build(kit: "PageKit") -> None:
    page, holder, settings = kit.page, kit.holder, kit.settings
    service = BatchService.of(settings, holder)
    lang0 = DEFAULT_UI_LANG

    tab = kit.label(gr.Tab(t(lang0, "tab_batch"), id="batch", elem_id="tab-batch"), "tab_batch")
    with tab:
        kit.markdown("batch_help")
        with gr.Row():
            with gr.Column(scale=1):
                upload = kit.label(gr.File(label=t(lang0, "batch_file"), file_types=[".jsonl", ".ndjson", ".txt"],
                                           type="filepath", elem_id="batch-file"), "batch_file")
                fmt = kit.label(gr.Dropdown(FORMATS, value="wav", label=t(lang0, "batch_format"),
                                            elem_id="batch-format"), "batch_format")
                with gr.Row():
                    run = gr.Button(t(lang0, "batch_run"), variant="primary", elem_id="batch-run")
                    cancel = gr.Button(t(lang0, "batch_cancel"), variant="stop", elem_id="batch-cancel")
                    kit.tr.append((run, lambda lang: gr.update(value=t(lang, "batch_run"))))
                    kit.tr.append((cancel, lambda lang: gr.update(value=t(lang, "batch_cancel"))))
                download = gr.DownloadButton(t(lang0, "batch_download"), value=None, elem_id="batch-download")
                kit.tr.append((download, lambda lang: gr.update(label=t(lang, "batch_download"))))
                status = gr.Markdown("", label="status", elem_id="batch-status")
                batch_id = gr.Textbox("", label="batch_id", visible=False, elem_id="batch-id")
            with gr.Column(scale=3):
                table = kit.label(gr.Dataframe(jobs_frame([], lang0), label=t(lang0, "batch_jobs"),
                                               interactive=False, wrap=True, max_height=500, elem_id="batch-jobs"),
                                  "batch_jobs")

    def read(path: str | None, lang: str) -> tuple[str, str]:
        if not path:
            raise gr.Error(t(lang, "batch_no_file"))
        try:
            return Path(path).read_text(encoding="utf-8-sig"), Path(path).name
        except (OSError, UnicodeDecodeError) as exc:
            raise gr.Error(t(lang, "batch_unreadable", error=exc)) from None

    def preview(path: str | None, fmt_value: str, ui_lang: str):
        """The job table of the uploaded file (nothing runs yet), and what is wrong in it."""
        lang = normalize_lang(ui_lang)
        if not path:
            return jobs_frame([], lang), "", None
        text, name = read(path, lang)
        try:
            parsed = service.preview(text, name, {"format": fmt_value})
        except IndexTTSError as exc:
            raise gr.Error(str(exc)) from None
        note = t(lang, "batch_preview", jobs=len(parsed.jobs), bad=len(parsed.invalid))
        return jobs_frame(preview_rows(parsed), lang), note, None

    def run_batch(path: str | None, fmt_value: str = "wav", ui_lang: str = lang0, progress=gr.Progress()):
        """Queue the file as a batch and follow it until it ends -> (batch id, status, job table, zip)."""
        lang = normalize_lang(ui_lang)
        text, name = read(path, lang)
        try:
            state = service.create(text, name, {"format": fmt_value})
        except IndexTTSError as exc:
            page.metrics.count_error("ui", "invalid_request")
            raise gr.Error(str(exc)) from None
        bad = state["invalid"]
        while True:
            state = service.get(state["id"])
            done, total = state["done"] + state["failed"], state["total"]
            progress((done, total), desc=t(lang, "batch_progress", done=done, total=total))
            note = t(lang, "batch_status", status=t(lang, f"batch_state_{state['status']}"), done=state["done"],
                     failed=state["failed"], total=total, bad=len(bad),
                     eta=f"{state['eta_s']:.0f}" if state["eta_s"] is not None else "?")
            rows = state["jobs"] + [{"id": "", "line": b["line"], "text": "", "options": {}, "status": "invalid",
                                     "error": b["error"]} for b in bad]
            frame = jobs_frame(sorted(rows, key=lambda row: row["line"]), lang)
            if state["status"] in FINISHED:
                break
            yield state["id"], note, frame, gr.skip()
            time.sleep(POLL_S)
        try:
            archive = str(service.zip_file(state["id"], partial=True))
        except (IndexTTSError, OSError) as exc:
            log.error("batch %s: no zip: %s", state["id"], exc)
            archive = None
        yield state["id"], note, frame, archive

    def cancel_batch(current: str, ui_lang: str) -> str:
        lang = normalize_lang(ui_lang)
        if not current:
            return t(lang, "batch_nothing_running")
        try:
            state = service.cancel(current)
        except IndexTTSError as exc:
            raise gr.Error(str(exc)) from None
        return t(lang, "batch_cancelling") if state["status"] == "running" else \
            t(lang, f"batch_state_{state['status']}")

    upload.change(preview, [upload, fmt, kit.ui_lang], [table, status, download], api_visibility="private",
                  show_progress="hidden")
    run.click(run_batch, [upload, fmt, kit.ui_lang], [batch_id, status, table, download], api_name="batch",
              show_progress_on=[status])
    # Cancel runs beside the running event (no queue slot needed); the worker stops the batch, and the
    # running event then sees it end and offers what was written.
    cancel.click(cancel_batch, [batch_id, kit.ui_lang], [status], api_visibility="private", concurrency_limit=None,
                 show_progress="hidden")
