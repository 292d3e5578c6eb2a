"""The start's port policy: another program's port is never taken over (it is named and left running);
a port held by a stale instance of this app is freed by stopping that instance."""

from __future__ import annotations

import time

from .checkout import Checkout
from .messages import StartupFailed, say
from .ports import PortState, port_holders, port_state
from .processes import describe_command, is_our_app, stop_process


def _foreign_holders(port: int, checkout: Checkout) -> list[str]:
    """'PID N: command' for each process listening on ``port`` that is not this app."""
    return [f"PID {pid}: {describe_command(pid)}" for pid in port_holders(port) if not is_our_app(pid, checkout)]


def _port_hidden(port: int) -> StartupFailed:
    return StartupFailed(f"port {port} is in use by a program this user cannot see (another user's process?); "
                         "choose another port with --port N")


def _refuse_port_of_others(host: str, port: int, checkout: Checkout) -> bool:
    """True when the port is free. Raises StartupFailed when another program holds it (named, left alone) or
    the host cannot be bound; False when this app, or nothing this user can see, holds it."""
    state = port_state(host, port)
    if state is PortState.FREE:
        return True
    if state is PortState.UNBINDABLE:
        raise StartupFailed(f"cannot bind {host}:{port} (not an address of this machine?); check server.host")
    foreign = _foreign_holders(port, checkout)
    if foreign:
        raise StartupFailed(f"port {port} is in use by another program ({'; '.join(foreign)}); it was left "
                            "running: stop it yourself, or start on another port with --port N")
    return False


def check_port_before_stopping(host: str, port: int, checkout: Checkout) -> None:
    """Runs before the running instance is stopped, so that a start that cannot have its port leaves that
    instance serving. Free, or held by this app, passes (free_port_or_fail stops it later)."""
    if _refuse_port_of_others(host, port, checkout):
        return
    if not port_holders(port):
        raise _port_hidden(port)


def free_port_or_fail(host: str, port: int, checkout: Checkout, stop_timeout_s: float,
                      release_tries: int = 30) -> None:
    """Make the port free: an own stale instance holding it (no PID file names it) is stopped; anything else
    holding it fails the start, named and left alone."""
    if _refuse_port_of_others(host, port, checkout):
        return
    for pid in port_holders(port):
        if is_our_app(pid, checkout):
            say(f"stopping an earlier instance of this app on port {port} (PID {pid})")
            if not stop_process(pid, stop_timeout_s):
                raise StartupFailed(f"could not stop the earlier instance (PID {pid}) on port {port}")
    # The stopped instance may take a moment to release the socket.
    tries = release_tries
    while port_state(host, port) is not PortState.FREE:
        tries -= 1
        if tries <= 0:
            raise _port_hidden(port)
        time.sleep(0.1)
