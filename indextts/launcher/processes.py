"""Processes: alive or not, is it this checkout's app, stopping one, and the PID file.

Nothing here finds processes by name: a process is signalled only when its /proc/PID/cmdline shows this
checkout's venv python running this checkout's app script (is_our_app), or when the caller started it.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from .checkout import Checkout
from .messages import error, say, warn

PROC = Path("/proc")


def alive(pid: int, proc: Path = PROC) -> bool:
    """The process exists and is neither a zombie nor dead (a child not reaped yet counts as gone)."""
    try:
        stat = (proc / str(pid) / "stat").read_text(errors="replace")
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[-1].split()  # the command name in (...) may hold spaces and parentheses
    return bool(fields) and fields[0] not in ("Z", "X")


def _raw_cmdline(pid: int, proc: Path = PROC) -> bytes | None:
    try:
        return (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None


def describe_command(pid: int, proc: Path = PROC) -> str:
    """The process's argv separated by spaces, for messages ('' when it cannot be read)."""
    raw = _raw_cmdline(pid, proc) or b""
    return raw.replace(b"\0", b" ").removesuffix(b" ").decode(errors="replace")


def port_argument(pid: int, proc: Path = PROC) -> int | None:
    """The value after the first ``--port`` in the process's argv (the port the app was started on)."""
    argv = (_raw_cmdline(pid, proc) or b"").split(b"\0")
    for flag, value in zip(argv, argv[1:]):
        if flag == b"--port":
            return int(value) if value.isdigit() else None
    return None


def _absolute_in(pid: int, path: str, proc: Path) -> str:
    """``path`` as the process sees it: a relative one is taken from the process's working directory."""
    if path.startswith("/"):
        return path
    try:
        cwd = os.readlink(proc / str(pid) / "cwd")
    except OSError:
        cwd = ""
    return f"{cwd}/{path}"


def is_our_app(pid: int, checkout: Checkout, proc: Path = PROC) -> bool:
    """argv[0] is this checkout's venv python (python*, in the venv's bin folder) and argv[1] is this
    checkout's app script. Anything else, another checkout's app included, is another program."""
    raw = _raw_cmdline(pid, proc)
    if raw is None or raw.count(b"\0") < 2:  # argv[0] and argv[1], each NUL-terminated
        return False
    argv0, argv1 = (os.fsdecode(arg) for arg in raw.split(b"\0")[:2])
    argv0, argv1 = _absolute_in(pid, argv0, proc), _absolute_in(pid, argv1, proc)
    if os.path.realpath(argv1) != checkout.app:
        return False
    # The venv python is compared without following its own symlink (it points at /usr/bin/python3.x).
    interpreter = f"{os.path.realpath(os.path.dirname(argv0))}/{os.path.basename(argv0)}"
    return interpreter.startswith(f"{os.path.realpath(checkout.python.parent)}/python")


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


def stop_process(pid: int, timeout_s: float) -> bool:
    """SIGTERM, up to ``timeout_s`` to exit, then SIGKILL. The caller has made sure the PID is ours.

    The launcher starts the app in its own session, so it leads its process group: then the group is
    signalled (its helpers too); a process that leads no group is signalled alone."""
    try:
        group_leader = os.getpgid(pid) == pid
    except OSError:
        group_leader = False

    def send(sig: signal.Signals) -> None:
        try:
            if group_leader:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except OSError:
            pass  # already gone, or not ours to signal: the wait below tells

    send(signal.SIGTERM)
    if not _wait_gone(pid, timeout_s):
        warn(f"PID {pid} did not stop within {timeout_s} s of SIGTERM; sending SIGKILL")
        send(signal.SIGKILL)
        _wait_gone(pid, 5.0)
    return not alive(pid)


@dataclass(frozen=True)
class PidFile:
    """The file that records the running instance's PID (launcher.pid_file)."""

    path: Path

    def read(self) -> int | None:
        """The recorded PID (the digits of the file's first 32 bytes), or None."""
        try:
            with open(self.path, "rb") as f:
                head = f.read(32)
        except OSError:
            return None
        digits = bytes(c for c in head if 0x30 <= c <= 0x39)
        return int(digits) if digits else None

    def write(self, pid: int) -> None:
        """Atomically: a reader sees the old PID or the new one, never a half-written file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.tmp.{os.getpid()}")
        tmp.write_text(f"{pid}\n")
        os.replace(tmp, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class CouldNotStop(Exception):
    """Our own recorded instance survived SIGKILL."""


def stop_recorded_instance(pid_file: PidFile, checkout: Checkout, stop_timeout_s: float) -> int | None:
    """Stop the process the PID file names if it is ours, and remove the file; returns its PID, or None when
    nothing of ours was running. A PID that now belongs to another program is left alone (the stale file
    goes). Raises CouldNotStop when our own process could not be stopped (the file stays)."""
    pid = pid_file.read()
    if pid is None:
        pid_file.remove()
        return None
    if not alive(pid):
        say(f"removing a stale PID file ({pid_file.path}: PID {pid} is not running)")
        pid_file.remove()
        return None
    if not is_our_app(pid, checkout):
        say(f"PID file {pid_file.path} names PID {pid}, which is not this app ({describe_command(pid)}); "
            "leaving it alone")
        pid_file.remove()
        return None
    say(f"stopping the running instance (PID {pid})")
    if not stop_process(pid, stop_timeout_s):
        error(f"could not stop PID {pid}")
        raise CouldNotStop(pid)
    pid_file.remove()
    return pid
