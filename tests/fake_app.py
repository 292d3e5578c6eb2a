"""A stand-in for app.py, for testing start_app.sh fast (no model, no torch).

Takes app.py's flags (--config --host --port --listen --no-auth --device --fp16
--threads --log-level) and answers GET /healthz (always 200) and GET /readyz
like the real app: 503 {"status": "loading"} until ready, then 200
{"status": "ready", ...}. Exits 1 when the port is taken, 2 for --listen
without --no-auth (it has no auth settings). Behaviour comes from the environment:

    FAKE_APP_MODE      ready (default) | never (503 forever) | crash (exit 3 at start)
                       | failed (/readyz 503 {"status": "failed", "error": ...})
    FAKE_APP_READY_AFTER  seconds until ready (default 0)
    FAKE_APP_IGNORE_TERM  1: ignore SIGTERM (the launcher must escalate to SIGKILL)

It prints its argv on start, so tests can see what the launcher passed.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> int:
    p = argparse.ArgumentParser(prog="fake_app.py")
    p.add_argument("--config")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--listen", action="store_true")
    p.add_argument("--no-auth", action="store_true")
    p.add_argument("--device")
    p.add_argument("--precision")
    p.add_argument("--fp16", action="store_true")
    p.add_argument("--threads", type=int)
    p.add_argument("--log-level")
    args = p.parse_args()
    print(f"fake_app argv: {json.dumps(sys.argv[1:])}", flush=True)

    mode = os.environ.get("FAKE_APP_MODE", "ready")
    if mode == "crash":
        print("fake_app: boom, cannot start (simulated crash)", file=sys.stderr, flush=True)
        return 3
    if args.listen and not args.no_auth:
        print("error: listening on the LAN requires auth", file=sys.stderr, flush=True)
        return 2
    if os.environ.get("FAKE_APP_IGNORE_TERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    ready_at = time.monotonic() + float(os.environ.get("FAKE_APP_READY_AFTER", "0"))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path == "/healthz":
                self._json(200, {"status": "ok"})
            elif self.path == "/readyz":
                if mode == "failed":
                    self._json(503, {"status": "failed", "error": "simulated: model file missing"})
                elif mode == "never" or time.monotonic() < ready_at:
                    self._json(503, {"status": "loading", "error": None})
                else:
                    self._json(200, {"status": "ready", "model": "fake", "device": "cpu", "version": "0"})
            else:
                self._json(404, {"detail": "not found"})

        def _json(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: object) -> None:
            pass

    host = "0.0.0.0" if args.listen else args.host
    try:
        server = ThreadingHTTPServer((host, args.port), Handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"error: port {args.port} is already in use", file=sys.stderr, flush=True)
            return 1
        raise
    print(f"fake_app serving on http://{host}:{args.port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
