"""The real app (`python app.py`) as a benchmark subject: start it, wait for a probe, read its memory, stop it.

Shared by bench/startup.py and bench/load.py. The server binds 127.0.0.1 on a free port, without auth,
reads the repo's weights (cache_hub/) and writes its outputs, logs and voices into a folder the caller
gives (a temporary one), so a benchmark never touches the checkout's own outputs/.
Only the process started here is ever signalled (SIGTERM, then SIGKILL after a timeout).
"""
from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Server:
    """A started `app.py`: its process, base URL, log file and the monotonic time it was started at."""

    proc: subprocess.Popen
    url: str
    log: Path
    started: float

    @property
    def pid(self) -> int:
        return self.proc.pid


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(workdir: Path, *, device: str = "cpu", threads: int = 2,
                 extra_env: dict[str, str] | None = None) -> Server:
    """Start `python app.py` on a free loopback port; returns at once (the model loads in the background).
    ``extra_env``: added to its environment after the caller's INDEXTTS_ settings are dropped (a variant's settings)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INDEXTTS_")}
    env.update(INDEXTTS_PATHS__CACHE_HUB=str(ROOT / "cache_hub"), INDEXTTS_PATHS__OUTPUTS=str(workdir / "outputs"),
               INDEXTTS_PATHS__LOGS=str(workdir / "logs"), INDEXTTS_PATHS__VOICES=str(workdir / "voices"),
               PYTHONUNBUFFERED="1")
    env.update(extra_env or {})
    command = [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port),
               "--device", device, "--threads", str(threads)]
    log = workdir / "app.log"
    with open(log, "wb") as fh:
        started = time.monotonic()
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    return Server(proc=proc, url=f"http://127.0.0.1:{port}", log=log, started=started)


def wait_for(server: Server, path: str, timeout_s: float, interval_s: float = 0.05) -> float:
    """Poll GET `path` every `interval_s` until it answers 200; seconds since the process was started.

    Raises RuntimeError (with the log's tail) when the process exits or `timeout_s` passes first."""
    deadline = server.started + timeout_s
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline and server.proc.poll() is None:
            try:
                if client.get(server.url + path).status_code == 200:
                    return time.monotonic() - server.started
            except httpx.HTTPError:
                pass
            time.sleep(interval_s)
    state = (f"exited with code {server.proc.returncode}" if server.proc.poll() is not None
             else f"{path} not 200 after {timeout_s:.0f} s")
    raise RuntimeError(f"app.py {state}; log tail:\n{log_tail(server.log)}")


def stop_server(server: Server, timeout_s: float = 15.0) -> int:
    """SIGTERM the started process, SIGKILL it if it has not exited after `timeout_s`; its exit code."""
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=10)
    return server.proc.returncode


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident memory (VmHWM) in MB, or None when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux clear_refs "5"); False when not allowed (not our process)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run_header(title: str) -> str:
    """Markdown header lines: title, command line, machine and date (as bench/speed.py prints them)."""
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return (f"## {title}\n\n"
            f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}`\n"
            f"- machine: {platform.machine()}, {cores} CPU cores ({usable} usable), {platform.platform()}, "
            f"Python {platform.python_version()}\n"
            f"- date: {date}, load average at start {os.getloadavg()[0]:.2f}\n")


def machine_meta() -> dict:
    """The same facts as run_header, for the JSON record."""
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": " ".join(sys.argv),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "platform": platform.platform(),
            "loadavg": os.getloadavg()[0]}
