"""Generated audio on disk: outputs/YYYY-MM-DD/<uuid>.<ext> plus a JSON sidecar, with retention."""

from __future__ import annotations

import json
import logging
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
        """Write audio + sidecar (the request, per-segment details, timings); then apply retention."""
        now = datetime.now(timezone.utc)
        output_id = uuid.uuid4().hex
        folder = self.root / now.strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True)
        audio_path = write_audio(folder / f"{output_id}.{ext}", result.audio, result.sample_rate)
        sidecar = folder / f"{output_id}.json"
        with atomic_path(sidecar) as tmp:
            tmp.write_text(json.dumps(_sidecar(output_id, now, result, request), ensure_ascii=False, indent=2),
                           encoding="utf-8")
        self._enforce_retention()
        return SavedOutput(output_id, audio_path, sidecar)

    def _enforce_retention(self) -> None:
        sidecars = sorted(self.root.glob("*/*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        total = 0
        for index, sidecar in enumerate(sidecars):
            files = [p for p in sidecar.parent.glob(sidecar.stem + ".*")]
            total += sum(p.stat().st_size for p in files)
            if index > 0 and (index >= self.keep_files or total > self.keep_bytes):  # never the newest
                for path in files:
                    path.unlink(missing_ok=True)
                log.info("retention: removed output %s", sidecar.stem)


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
