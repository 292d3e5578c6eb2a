"""--status and --stop: about the instance the PID file names. They work with the shipped defaults when the
venv or the settings are broken."""

from __future__ import annotations

from .checkout import Checkout
from .messages import error
from .processes import CouldNotStop, PidFile, alive, is_our_app, port_argument, stop_recorded_instance
from .readiness import describe_state
from .settings import LaunchSettings
from .urls import local_url

NOT_RUNNING = 3  # --status's exit code when no instance runs


def status(settings: LaunchSettings, checkout: Checkout) -> int:
    """Print whether the app runs (PID, URL, ready or its loading state); 0 when it runs, NOT_RUNNING else."""
    pid_file = PidFile(settings.pid_file)
    pid = pid_file.read()
    if pid is None:
        print("not running")
        return NOT_RUNNING
    if not alive(pid):
        print(f"not running (stale PID file {pid_file.path}: PID {pid} is gone)")
        return NOT_RUNNING
    if not is_our_app(pid, checkout):
        print(f"not running (PID file {pid_file.path} names PID {pid}, which is another program)")
        return NOT_RUNNING
    url = local_url(settings, port_argument(pid))
    print(f"running: PID {pid}, {url}, {describe_state(f'{url}/readyz')} (log: {settings.logs}/app.log)")
    return 0


def stop(settings: LaunchSettings, checkout: Checkout) -> int:
    """Stop the recorded instance if it is this app (SIGTERM, then SIGKILL); 1 when it survived."""
    pid_file = PidFile(settings.pid_file)
    pid = pid_file.read()
    if pid is None:
        print("not running")
        return 0
    try:
        stopped = stop_recorded_instance(pid_file, checkout, settings.stop_timeout_s)
    except CouldNotStop:
        error(f"STOP_FAILED: PID {pid} is still running")
        return 1
    print("stopped" if stopped == pid else "not running")
    return 0
