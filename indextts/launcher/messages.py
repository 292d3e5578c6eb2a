"""How the launcher talks: progress on stdout, warnings and failures on stderr."""

from __future__ import annotations

import sys


class StartupFailed(Exception):
    """A start cannot go on; the CLI prints ``STARTUP_FAILED: <reason>`` and exits 1."""


def say(message: str) -> None:
    """A progress line (stdout)."""
    print(message, file=sys.stdout, flush=True)


def warn(message: str) -> None:
    """``warning: <message>`` on stderr: something is missing, the start goes on."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def error(message: str) -> None:
    """A line on stderr, as is."""
    print(message, file=sys.stderr, flush=True)
