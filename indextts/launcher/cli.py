"""The command line: ``python -m indextts.launcher ACTION [--port N] [--listen] [--no-auth] [--config FILE]
[-- APP_FLAGS...]``.

Actions: start (replacing a running instance), restart (the same: every check runs before the running
instance is stopped), stop, status, foreground (set up, then exec the app). start_app.sh validates the
flags and prints the usage; this parser takes them as start_app.sh passes them. Internal helpers:
``check-disk`` (before the venv exists, under the system python3), ``weights [WEIGHTS_ARGS...]`` (the
weights step alone: scripts/weights.sh's ensure_all_weights) and ``port-holders PORT``.

Exit codes: 0 ok; 1 STARTUP_FAILED / STOP_FAILED; 2 bad usage; 3 --status: not running.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from .checkout import Checkout
from .messages import StartupFailed, error

ACTIONS = ("start", "restart", "stop", "status", "foreground")


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"--port must be a number from 1 to 65535, got '{text}'")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m indextts.launcher", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("--port", type=_port, default=None, help="port to serve on (default: server.port)")
    parser.add_argument("--listen", action="store_true", help="serve on the LAN (0.0.0.0); needs auth")
    parser.add_argument("--no-auth", action="store_true", help="with --listen: allow it without a password")
    parser.add_argument("--config", type=Path, default=None, help="settings file, also passed to the app")
    return parser


def _run_action(argv: list[str], checkout: Checkout) -> int:
    launcher_argv, app_args = argv, []
    if "--" in argv:
        cut = argv.index("--")
        launcher_argv, app_args = argv[:cut], argv[cut + 1:]
    args = _parser().parse_args(launcher_argv)
    config = args.config.absolute() if args.config is not None else None
    os.chdir(checkout.root)  # the app, the weights tool and relative settings paths see the checkout
    if args.action in ("stop", "status"):
        from .control import status, stop
        from .settings import settings_for_control

        settings = settings_for_control(checkout.root, config, args.port)
        return (status if args.action == "status" else stop)(settings, checkout)

    from .start import StartAborted, StartRequest, foreground, start

    request = StartRequest(port=args.port, listen=args.listen, no_auth=args.no_auth, config=config,
                           app_args=app_args)
    try:
        (foreground if args.action == "foreground" else start)(request, checkout)
    except StartAborted:
        return 1
    return 0


def _weights(argv: list[str]) -> int:
    from .weights_step import ensure_all_weights, weights_tool

    return 0 if ensure_all_weights(weights_tool(sys.executable, argv)) else 1


def _port_holders(argv: list[str]) -> int:
    from .ports import port_holders

    if len(argv) != 1 or not argv[0].isdigit():
        error("usage: python -m indextts.launcher port-holders PORT")
        return 2
    for pid in port_holders(int(argv[0])):
        print(pid)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # ordered with stderr and children
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # a closed pipe ends the launcher, as it ends a shell
    checkout = Checkout.from_environment()
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if command == "check-disk":
            from .preflight import check_disk

            check_disk(checkout)
            return 0
        if command == "weights":
            return _weights(rest)
        if command == "port-holders":
            return _port_holders(rest)
        return _run_action(argv, checkout)
    except StartupFailed as exc:
        error(f"STARTUP_FAILED: {exc}")
        return 1
    except OSError as exc:  # a folder or file the launcher must write: say which, no traceback
        error(f"STARTUP_FAILED: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        return 1
    except KeyboardInterrupt:
        return 130
