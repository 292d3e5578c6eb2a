"""Start IndexTTS WebUI: settings -> engine (loaded in the background) -> UI + API on one port.

    python app.py                      # http://127.0.0.1:7860
    python app.py --port 8000 --device cpu --threads 2
    python app.py --listen             # LAN: needs server.auth_user/auth_password (or --no-auth)

Settings come from config.yaml, then INDEXTTS_<SECTION>__<KEY> environment
variables, then these flags. Exit codes: 0 stopped, 1 could not serve (port
taken), 2 invalid settings.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="app.py", description="IndexTTS WebUI: local text-to-speech, UI and API.")
    p.add_argument("--config", type=Path, help="settings file (default: config.yaml beside app.py)")
    p.add_argument("--host", help="interface to bind (default 127.0.0.1; --listen overrides it)")
    p.add_argument("--port", type=int, help="port (default 7860)")
    p.add_argument("--listen", action="store_true", default=None,
                   help="bind 0.0.0.0 so the LAN can connect; requires auth unless --no-auth")
    p.add_argument("--no-auth", action="store_true", default=None,
                   help="allow --listen without a user and password (anyone on the network can use it)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"],
                   help="where the model runs (auto: the GPU when PyTorch sees one, falling back to the CPU "
                        "if the GPU cannot start the model)")
    p.add_argument("--precision", choices=["fp32", "fp16", "bf16"],
                   help="the decoder's precision on a GPU (fp16/bf16: faster, less memory; the CPU always runs "
                        "fp32 with int8 convolutions)")
    p.add_argument("--fp16", action="store_true", default=None, help="same as --precision fp16")
    p.add_argument("--threads", type=int, help="CPU threads for torch (0 = all cores)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    scale = p.add_argument_group("scale out on Ray Serve (needs requirements-ray.txt; API only, no page)")
    scale.add_argument("--replicas", type=int, help="serve the API from N engine replicas on a Ray instance of "
                                                     "its own (--threads is then per replica)")
    scale.add_argument("--num-cpus-per-replica", type=float, help="Ray CPUs each replica reserves (default 1)")
    return p.parse_args(argv)


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    server = {k: v for k, v in {"host": args.host, "port": args.port, "listen": args.listen,
                                "allow_no_auth": args.no_auth}.items() if v is not None}
    engine = {k: v for k, v in {"device": args.device, "precision": args.precision, "fp16": args.fp16,
                                "threads": args.threads}.items() if v is not None}
    scale = {"num_cpus_per_replica": args.num_cpus_per_replica} if args.num_cpus_per_replica is not None else {}
    return {key: value for key, value in {"server": server, "engine": engine, "scale": scale}.items() if value}


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from indextts.config import Settings
    from indextts.errors import ConfigError

    try:
        settings = Settings.load(args.config, overrides=overrides_from(args))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = settings.server
    host, port = server.bind_host, server.port
    try:
        free = port_free(host, port)
    except OSError as exc:
        print(f"error: cannot bind {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if not free:
        print(f"error: port {port} is already in use (on {host}); stop the program using it "
              f"or choose another port with --port", file=sys.stderr)
        return 1

    if args.replicas is not None:  # only here is ray imported: the single process never loads it
        from indextts.scale.options import ScaleOptions

        try:
            options = ScaleOptions(args.replicas).check()
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        from indextts.scale.supervisor import serve_replicas

        return serve_replicas(settings, options)

    from indextts.model import host_memory

    host_memory.configure()  # before the server's threads start (each would get its own malloc arena)
    import uvicorn

    from indextts.server.app import create_app, gradio_temp_dir

    os.environ["GRADIO_TEMP_DIR"] = str(gradio_temp_dir(settings))  # before gradio is imported
    app = create_app(settings)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"IndexTTS WebUI on http://{shown}:{port}  (API: /v1/audio/speech, docs: /docs, ready: /readyz)",
          flush=True)
    if server.listen:
        lan = _lan_address()
        print(f"listening on the LAN: http://{lan or '<this machine>'}:{port}"
              f"{'  (auth required)' if server.auth_user else '  (NO AUTH: --no-auth)'}", flush=True)
    config = uvicorn.Config(app, host=host, port=port, log_level=args.log_level, access_log=False,
                            timeout_graceful_shutdown=5)
    uv_server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal: make that a clean
    # exit (buffered log lines flushed, exit code 0) instead of death by signal or a KeyboardInterrupt.
    signal.signal(signal.SIGTERM, _stop)
    try:
        uv_server.run()
    except (KeyboardInterrupt, _Stopped):
        print("stopped", flush=True)
        return 0
    if not uv_server.started:  # lost a race for the port after our check, or another startup failure
        print(f"error: could not serve on {host}:{port} (port {port} taken? choose another with --port)",
              file=sys.stderr)
        return 1
    return 0


class _Stopped(Exception):
    pass


def _stop(_signum, _frame) -> None:
    raise _Stopped


def _lan_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("10.255.255.255", 1))  # no packet is sent; picks the outgoing interface
            return sock.getsockname()[0]
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
