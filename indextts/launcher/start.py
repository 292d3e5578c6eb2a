"""A start: every check first (settings, curl, weights, the port), then the running instance is replaced,
the app starts in its own session and the launcher waits until /readyz says 200.

A check that fails leaves a running instance serving: it is stopped only once the new start can happen.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import logs
from .checkout import Checkout
from .messages import StartupFailed, error, say, warn
from .port_checks import check_port_before_stopping, free_port_or_fail
from .preflight import check_curl
from .processes import CouldNotStop, PidFile, alive, is_our_app, stop_process, stop_recorded_instance
from .readiness import wait_until_ready
from .settings import (InvalidSettings, LaunchSettings, ListenWithoutAuth, flag_environment, load_settings,
                       seconds_text)
from .urls import local_url, startup_ok_line
from .weights_step import ensure_all_weights, weights_tool

LISTEN_WITHOUT_AUTH = (
    "--listen would expose the app to your network without a password: set server.auth_user and "
    "server.auth_password in config.yaml (or INDEXTTS_SERVER__AUTH_USER / INDEXTTS_SERVER__AUTH_PASSWORD), "
    "or add --no-auth to allow anyone on the network")
INTERRUPTING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE)


@dataclass(frozen=True)
class StartRequest:
    """start_app.sh's flags: the launcher's own, and those that go to app.py as they are."""

    port: int | None = None
    listen: bool = False
    no_auth: bool = False
    config: Path | None = None
    app_args: list[str] = field(default_factory=list)


@dataclass
class Prepared:
    """A start that passed every check: the settings, the app's command line, and the held start lock."""

    settings: LaunchSettings
    command: list[str]
    lock_fd: int


def _load(request: StartRequest) -> LaunchSettings:
    try:
        return load_settings(request.config, request.port, request.listen, request.no_auth)
    except ListenWithoutAuth:
        raise StartupFailed(LISTEN_WITHOUT_AUTH) from None
    except InvalidSettings as exc:
        error(str(exc))
        raise StartupFailed("invalid settings (see the message above); fix them and run again") from None


def _take_start_lock(pid_file: Path) -> int:
    """One start at a time per PID file; the lock is released when this process ends (or execs the app:
    the descriptor is not inherited)."""
    lock = Path(f"{pid_file}.lock")
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StartupFailed(f"another start_app.sh is running for this app (lock {lock}); wait for it to finish")
    return fd


def prepare(request: StartRequest, checkout: Checkout) -> Prepared:
    """Everything a start needs, up to a free port (the running instance stopped). Raises StartupFailed."""
    settings = _load(request)
    check_curl(settings.cache_hub)
    # The weights tool reads the same settings file as the launcher and the app, and the launcher's flags,
    # which may settle a rule in it (listen + --no-auth).
    weights_args = ["--cache-hub", str(settings.cache_hub)]
    if request.config is not None:
        weights_args += ["--config", str(request.config)]
    tool = weights_tool(str(checkout.python), weights_args,
                        flag_environment(request.port, request.listen, request.no_auth))
    if not ensure_all_weights(tool):
        raise StartupFailed("the model weights are missing or do not verify (see the message above)")
    settings.logs.mkdir(parents=True, exist_ok=True)
    settings.pid_file.parent.mkdir(parents=True, exist_ok=True)
    lock_fd = _take_start_lock(settings.pid_file)
    check_port_before_stopping(settings.host, settings.port, checkout)
    try:
        stop_recorded_instance(PidFile(settings.pid_file), checkout, settings.stop_timeout_s)
    except CouldNotStop:
        raise StartupFailed("the running instance could not be stopped") from None
    free_port_or_fail(settings.host, settings.port, checkout, settings.stop_timeout_s)
    command = [str(checkout.python), checkout.app, "--port", str(settings.port)]
    if request.config is not None:
        command += ["--config", str(request.config)]
    if request.listen:
        command.append("--listen")
    if request.no_auth:
        command.append("--no-auth")
    return Prepared(settings, command + list(request.app_args), lock_fd)


class StartAborted(Exception):
    """The app was started and had to be given up: the reason and the log's tail are printed already."""


class Interrupted(Exception):
    """A signal arrived while the app was starting."""


def _interrupt(signum: int, frame: object) -> None:
    raise Interrupted()


class _InterruptGuard:
    """While the app starts, a signal that would end the launcher gives up the start cleanly instead (the
    half-started app is stopped). A signal ignored when the launcher started stays ignored, as a shell's trap
    leaves it."""

    def __init__(self) -> None:
        self._previous: dict[signal.Signals, object] = {}

    def arm(self) -> None:
        for sig in INTERRUPTING:
            previous = signal.getsignal(sig)
            if previous is not signal.SIG_IGN:
                self._previous[sig] = previous
                signal.signal(sig, _interrupt)

    def disarm(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous.clear()


class _Start:
    """One background start: the app's process and log, and how to give up on it cleanly."""

    def __init__(self, prepared: Prepared, checkout: Checkout) -> None:
        self.settings = prepared.settings
        self.command = prepared.command
        self.checkout = checkout
        self.pid_file = PidFile(self.settings.pid_file)
        self.process: subprocess.Popen | None = None
        self.log: Path | None = None
        self.guard = _InterruptGuard()

    def abort(self, reason: str) -> StartAborted:
        """Stop the half-started app, print the reason and the log's tail; the caller raises what it returns."""
        self.guard.disarm()
        pid = self.process.pid if self.process else None
        if pid is not None and alive(pid) and is_our_app(pid, self.checkout):
            if not stop_process(pid, self.settings.stop_timeout_s):
                warn(f"could not stop the half-started app (PID {pid})")
        if pid is not None and self.pid_file.read() == pid:
            self.pid_file.remove()
        if self.process is not None:
            self.process.poll()  # reap it
        error(f"STARTUP_FAILED: {reason}")
        if self.log is not None and self.log.is_file():
            error(f"----- last {logs.TAIL_LINES} lines of {self.log} -----")
            sys.stderr.flush()
            sys.stderr.buffer.write(logs.tail(self.log.read_bytes()))
            sys.stderr.buffer.flush()
            error("----- end of log -----")
        return StartAborted(reason)

    def exit_code(self) -> int | None:
        """The app's exit code once it has exited (128 + N for signal N, as a shell says), else None."""
        assert self.process is not None
        code = self.process.poll()
        if code is None:
            return None
        return 128 - code if code < 0 else code

    def run(self) -> None:
        s = self.settings
        logs.rotate_logs(s.logs, s.keep_logs)
        self.log = logs.new_log_path(s.logs)
        self.log.write_text(logs.stamped(" ".join(self.command)))
        logs.link_newest(self.log)
        self.guard.arm()
        try:
            self._launch_and_wait()
        except Interrupted:
            raise self.abort("interrupted while starting") from None
        self.guard.disarm()
        with open(self.log, "a") as f:
            f.write(logs.stamped("ready"))
        say(startup_ok_line(s))

    def _launch_and_wait(self) -> None:
        s = self.settings
        # Its own session and process group: no terminal hang-ups, and stopped as a group.
        with open(self.log, "ab") as out:
            try:
                self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=out,
                                                stderr=subprocess.STDOUT, start_new_session=True,
                                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
            except OSError as exc:
                raise self.abort(f"could not run {self.command[0]}: {exc.strerror or exc}") from None
        pid = self.process.pid
        self.pid_file.write(pid)
        timeout = seconds_text(s.ready_timeout_s)
        say(f"started PID {pid}, log {self.log}; waiting up to {timeout} s for it to be ready")
        outcome = wait_until_ready(f"{local_url(s)}/readyz", s.port, self.exit_code, s.ready_timeout_s)
        if outcome.kind == "exited":
            rc = outcome.exit_code
            hint = {1: " (port taken?)", 2: " (invalid settings)"}.get(rc, "")
            raise self.abort(f"the app exited with code {rc} before it was ready{hint}")
        if outcome.kind == "failed":
            raise self.abort(f"the model failed to load: {outcome.detail or 'see the log'}")
        if outcome.kind == "timeout":
            raise self.abort(f"not ready after {timeout} s (last state: {outcome.detail or 'unknown'}); "
                             "raise launcher.ready_timeout_s if the machine is slow")


def start(request: StartRequest, checkout: Checkout) -> None:
    """Start in the background and return once /readyz says 200 (STARTUP_OK printed). Raises StartupFailed
    before the app runs, StartAborted after."""
    prepared = prepare(request, checkout)
    try:
        _Start(prepared, checkout).run()
    finally:
        os.close(prepared.lock_fd)


def foreground(request: StartRequest, checkout: Checkout) -> None:
    """Set up, then exec the app in this process (for systemd or Docker): the PID file holds this PID,
    which the app keeps."""
    prepared = prepare(request, checkout)
    PidFile(prepared.settings.pid_file).write(os.getpid())
    line = startup_ok_line(prepared.settings).replace("STARTUP_OK", "starting in the foreground on", 1)
    say(f"{line}  (ready when /readyz says 200)")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(prepared.command[0], prepared.command, {**os.environ, "PYTHONUNBUFFERED": "1"})
