"""Generated audio on disk: outputs/YYYY-MM-DD/<uuid>.<ext> plus a JSON sidecar, with retention."""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..atomic import atomic_path
from ..audio import write_audio
from ..config import Settings
from ..engine import SynthesisResult

log = logging.getLogger(__name__)

DATE_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}")  # only these hold generations (not .previews, .gradio ...)
ORPHAN_GRACE_S = 600.0  # a file without its sidecar this old is no save in progress: retention removes it


@dataclass(frozen=True)
class SavedOutput:
    id: str
    audio_path: Path
    sidecar_path: Path


class OutputStore:
    """Writes each generation under a fresh uuid (two requests never share a file), atomically."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.paths.outputs
        self.keep_files = settings.outputs.keep_files
        self.keep_bytes = settings.outputs.keep_mb * 1024 * 1024

    def save(self, result: SynthesisResult, request: dict[str, Any], ext: str = "wav") -> SavedOutput:
        """Write audio + sidecar (the request, per-segment details, timings); then apply retention.
        Both or neither: the sidecar is serialised before anything is written, and the audio is removed
        again when the sidecar cannot be written (retention finds outputs by their sidecars)."""
        now = datetime.now(timezone.utc)
        output_id = uuid.uuid4().hex
        sidecar_text = _sidecar_json(_sidecar(output_id, now, result, request))
        folder = self.root / now.strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True)
        audio_path = write_audio(folder / f"{output_id}.{ext}", result.audio, result.sample_rate)
        sidecar = folder / f"{output_id}.json"
        try:
            with atomic_path(sidecar) as tmp:
                tmp.write_text(sidecar_text, encoding="utf-8")
        except BaseException:
            audio_path.unlink(missing_ok=True)
            raise
        self._enforce_retention()
        return SavedOutput(output_id, audio_path, sidecar)

    def _enforce_retention(self) -> None:
        folders = [p for p in self.root.glob("*") if p.is_dir() and DATE_FOLDER.fullmatch(p.name)]
        # One directory scan per folder, not one glob per output: a glob per sidecar made every save
        # O(n^2) in the files kept (0.2-0.5 s per request at the default 500 outputs).
        files_of: dict[tuple[Path, str], list[os.DirEntry]] = {}
        for folder in folders:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if not entry.name.startswith(".") and entry.is_file():
                        files_of.setdefault((folder, entry.name.split(".")[0]), []).append(entry)
        sidecars = sorted(((entry, key) for key, files in files_of.items() for entry in files
                           if entry.name == f"{key[1]}.json"), key=lambda item: _stat(item[0])[1], reverse=True)
        total = 0
        for index, (sidecar, key) in enumerate(sidecars):
            files = files_of[key]
            total += sum(_stat(entry)[0] for entry in files)
            if index > 0 and (index >= self.keep_files or total > self.keep_bytes):  # never the newest
                for entry in files:
                    Path(entry.path).unlink(missing_ok=True)
                log.info("retention: removed output %s", key[1])
        for folder in folders:
            self._remove_orphans(folder)

    @staticmethod
    def _remove_orphans(folder: Path) -> None:
        """Files whose sidecar is missing (a crash or a failed write between the two): retention, which
        counts outputs by their sidecars, would otherwise keep them forever."""
        cutoff = time.time() - ORPHAN_GRACE_S
        with os.scandir(folder) as entries:
            names = [entry.name for entry in entries]
        sidecars = {name for name in names if name.endswith(".json")}  # one listing, not a stat per file
        for name in names:
            stem = name.lstrip(".").split(".")[0]
            leftover = name.endswith(".tmp")  # an interrupted atomic write: .<id>.wav.<random>.tmp
            if not (leftover or f"{stem}.json" not in sidecars):
                continue
            path = folder / name
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    log.info("retention: removed %s (no sidecar)", path.name)
            except OSError:  # removed meanwhile: nothing to do
                continue


def _sidecar_json(record: dict[str, Any]) -> str:
    """The sidecar as text: readable UTF-8, or \\u escapes for what UTF-8 cannot encode (a lone surrogate
    in the request's text), so an odd character never costs the output its sidecar."""
    text = json.dumps(record, ensure_ascii=False, indent=2)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(record, ensure_ascii=True, indent=2)
    return text


def _stat(entry: os.DirEntry) -> tuple[int, float]:
    """(size, mtime) of a scanned file; (0, 0.0) when a concurrent save's retention removed it meanwhile."""
    try:
        info = entry.stat()
    except OSError:
        return 0, 0.0
    return info.st_size, info.st_mtime


def _sidecar(output_id: str, when: datetime, result: SynthesisResult, request: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": output_id,
        "created": when.isoformat(),
        "request": request,
        "sample_rate": result.sample_rate,
        "duration_s": round(result.duration_s, 3),
        "compute_s": round(result.compute_s, 3),
        "rtf": round(result.rtf, 4),
        "segments": [
            {"text": s.text, "lang": s.lang, "phonemes": s.phonemes, "duration_s": round(s.duration_s, 3)}
            for s in result.segments
        ],
    }
