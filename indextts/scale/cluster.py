"""``--address``: deploy the replicas to an existing Ray cluster (``ray://HOST:PORT``, Ray Client), remove them,
or ask how they are. Nothing runs on this machine afterwards: the cluster keeps the Serve application.

The settings are read here and shipped to the replicas as they are, so every path in them (paths.voices,
paths.outputs, paths.cache_hub ...) must name the same shared folder on every node (deploy/ray/README.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .options import APP_NAME, ScaleOptions

NOT_RUNNING = 3


def _connect(address: str) -> None:
    import ray

    ray.init(address=address, namespace=APP_NAME, log_to_driver=False)


def deploy(address: str, config: Path | None, app_argv: list[str]) -> int:
    """Deploy (or update) the application there; prints STARTUP_OK once every replica is running."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # app.py: the same flags as a local start
    import app as app_script

    from ..config import Settings
    from ..errors import ConfigError

    args = app_script.parse_args([*app_argv, *(["--config", str(config)] if config else [])])
    try:
        settings = Settings.load(args.config, overrides=app_script.overrides_from(args))
        options = ScaleOptions(args.replicas or 1, address=address).check()
    except (ConfigError, ValueError) as exc:
        print(f"STARTUP_FAILED: {exc}", file=sys.stderr)
        return 2
    from ray import serve

    from .deployment import build_application

    try:
        _connect(address)
        serve.start(http_options={"host": "0.0.0.0", "port": settings.server.port})
        serve.run(build_application(settings, options.replicas), name=APP_NAME, route_prefix="/", blocking=False)
    except (ConnectionError, RuntimeError) as exc:
        print(f"STARTUP_FAILED: could not deploy to the Ray cluster at {address}: {exc}\n"
              "(its nodes need this app and its weights installed, e.g. deploy/ray/Dockerfile; a cluster with "
              "token auth needs RAY_AUTH_MODE=token and its token here; the replicas' logs are the cluster's)",
              file=sys.stderr)
        return 1
    print(f"STARTUP_OK {APP_NAME} on the Ray cluster {address}: {options.replicas} replica(s), HTTP port "
          f"{settings.server.port} of the cluster's Serve proxy")
    return 0


def stop(address: str) -> int:
    from ray import serve

    _connect(address)
    serve.delete(APP_NAME)
    print("stopped")
    return 0


def status(address: str) -> int:
    from ray import serve

    _connect(address)
    app = serve.status().applications.get(APP_NAME)
    if app is None:
        print(f"not running (no application {APP_NAME!r} on {address})")
        return NOT_RUNNING
    replicas = ", ".join(f"{name}: " + ", ".join(f"{count} {getattr(state, 'value', state)}"
                                                  for state, count in d.replica_states.items())
                         for name, d in app.deployments.items())
    print(f"running on {address}: {getattr(app.status, 'value', app.status)} ({replicas})")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    app_argv: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, app_argv = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(prog="python -m indextts.scale",
                                     description="Deploy to / remove from / ask an existing Ray cluster.")
    parser.add_argument("action", choices=["deploy", "stop", "status"])
    parser.add_argument("--address", required=True, help="ray://HOST:PORT (Ray Client)")
    parser.add_argument("--config", type=Path, help="settings file (default: config.yaml)")
    args = parser.parse_args(argv)
    if args.action == "deploy":
        return deploy(args.address, args.config, app_argv)
    return stop(args.address) if args.action == "stop" else status(args.address)
