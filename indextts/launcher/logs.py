"""The app's log files: logs/app-<timestamp>.log, logs/app.log pointing at the newest, rotation, the tail."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

APP_LOG_LINK = "app.log"
TAIL_LINES = 50


def rotate_logs(folder: Path, keep: int) -> list[Path]:
    """Delete the oldest app-*.log files so that ``keep - 1`` remain: the new log makes ``keep``.
    Returns the deleted paths. The names sort by time (new_log_path)."""
    logs = sorted(folder.glob("app-*.log"))
    doomed = logs[:max(0, len(logs) - keep + 1)]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def new_log_path(folder: Path, now: dt.datetime | None = None) -> Path:
    """folder/app-YYYYmmdd-HHMMSS-mmm.log (local time, milliseconds: the names sort by time)."""
    now = now or dt.datetime.now()
    return folder / f"app-{now:%Y%m%d-%H%M%S}-{now.microsecond // 1000:03d}.log"


def link_newest(log: Path) -> None:
    """Point logs/app.log at ``log`` (a relative symlink, replaced in one step)."""
    link = log.parent / APP_LOG_LINK
    tmp = log.parent / f".{APP_LOG_LINK}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(log.name, tmp)
    os.replace(tmp, link)


def stamped(text: str) -> str:
    """'YYYY-mm-dd HH:MM:SS start_app.sh: <text>': the launcher's own lines in the app's log."""
    return f"{time.strftime('%Y-%m-%d %H:%M:%S')} start_app.sh: {text}\n"


def tail(data: bytes, lines: int = TAIL_LINES) -> bytes:
    """The last ``lines`` lines of ``data`` as they are (as tail -n does: an unterminated last line counts)."""
    pos = len(data) - 1 if data.endswith(b"\n") else len(data)
    for _ in range(lines):
        pos = data.rfind(b"\n", 0, pos)
        if pos < 0:
            return data
    return data[pos + 1:]
