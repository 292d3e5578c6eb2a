"""Driving start_app.sh from tests: a ``Launcher`` with its own port, logs and PID file, and the checks on
processes and answers that the launcher tests (and the weights step's) make."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from conftest import ROOT, clean_env, free_port, wait_until

LAUNCHER = ROOT / "start_app.sh"
FAKE_APP = ROOT / "tests" / "fake_app.py"
VENV_PY = ROOT / ".venv" / "bin" / "python"


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def http_get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


class Launcher:
    """Runs start_app.sh with this test's port, logs and PID file; remembers app PIDs to clean up."""

    def __init__(self, tmp: Path, app: Path | None = FAKE_APP):
        self.tmp = tmp
        self.port = free_port()
        self.logs = tmp / "logs"
        self.pid_file = tmp / "run" / "app.pid"
        self.env = clean_env("FAKE_APP_")
        self.env.update(INDEXTTS_PATHS__LOGS=str(self.logs), INDEXTTS_LAUNCHER__PID_FILE=str(self.pid_file),
                        INDEXTTS_LAUNCHER__STOP_TIMEOUT_S="3", INDEXTTS_LAUNCHER__READY_TIMEOUT_S="20")
        if app is not None:
            self.env["INDEXTTS_LAUNCHER_APP"] = str(app)
        self.app = app or ROOT / "app.py"
        self.started: set[int] = set()

    def run(self, *args: str, env: dict | None = None, cwd: Path | None = None, port: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess:
        argv = [str(LAUNCHER)]
        if port and "--port" not in args:
            argv += ["--port", str(self.port)]
        argv += args
        result = subprocess.run(argv, cwd=cwd or self.tmp, env={**self.env, **(env or {})}, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        pid = self.pid()
        if pid:
            self.started.add(pid)
        return result

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def is_ours(self, pid: int) -> bool:
        argv = cmdline(pid)
        return len(argv) >= 2 and argv[1] == str(self.app)

    def cleanup(self) -> None:
        for pid in self.started:
            if alive(pid) and self.is_ours(pid):
                os.kill(pid, signal.SIGKILL)
                wait_until(lambda: not alive(pid), 5)


def path_without(tmp_path: Path, *names: str) -> str:
    """A PATH folder with every tool on PATH except those whose names start with one of ``names``.

    The caller's PATH comes first, so the launcher finds the same python3 as usual (another one
    would change the venv's stamp and make every later start reinstall the packages).
    """
    bin_dir = tmp_path / ("bin-" + "-".join(names))
    bin_dir.mkdir()
    system = ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
    folders = os.environ.get("PATH", "").split(os.pathsep) + system
    for d in filter(None, folders):
        for tool in Path(d).iterdir() if Path(d).is_dir() else ():
            if not tool.name.startswith(names) and not (bin_dir / tool.name).exists():
                (bin_dir / tool.name).symlink_to(tool)
    return str(bin_dir)


def ok_line(out: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith("STARTUP_OK")]
    assert len(lines) == 1, out
    return lines[0]
