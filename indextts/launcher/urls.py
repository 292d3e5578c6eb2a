"""The URLs the launcher prints: for a browser on this machine, and for the LAN."""

from __future__ import annotations

import shutil
import subprocess

from .settings import LaunchSettings


def url_host(bind_host: str) -> str:
    """What a browser on this machine should use for the app bound to ``bind_host``."""
    if bind_host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if bind_host == "::":
        return "[::1]"
    if ":" in bind_host:
        return f"[{bind_host}]"
    return bind_host


def _run(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return ""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def lan_ip() -> str:
    """This machine's non-loopback IPv4 address: the source of its route to a documentation address (nothing
    is sent), else the first one `hostname -I` lists."""
    words = _run(["ip", "-4", "route", "get", "192.0.2.1"]).split()
    if "src" in words and words.index("src") + 1 < len(words):
        return words[words.index("src") + 1]
    for address in _run(["hostname", "-I"]).split():
        if not address.startswith("127.") and address.replace(".", "").isdigit():
            return address
    return "<this-machine-ip>"


def local_url(settings: LaunchSettings, port: int | None = None) -> str:
    """http://HOST:PORT for a browser on this machine."""
    return f"http://{url_host(settings.host)}:{settings.port if port is None else port}"


def startup_ok_line(settings: LaunchSettings) -> str:
    """'STARTUP_OK http://HOST:PORT', plus the LAN address with --listen (and ', NO AUTH' without a password)."""
    line = f"STARTUP_OK {local_url(settings)}"
    if settings.listen:
        line += f" (LAN: http://{lan_ip()}:{settings.port}{'' if settings.auth else ', NO AUTH'})"
    return line
