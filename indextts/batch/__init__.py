"""Batch jobs: many texts from one JSONL or plain-text file into audio files and a manifest, from the CLI
(``python -m indextts batch``), the API (``/v1/batches``) and the page's Batch tab.

``jobs``: the file as checked jobs (each line as the speech API's body); ``runner``: render them into a
folder, resumable; ``store``: batches on disk and the worker thread the API and the page share."""
