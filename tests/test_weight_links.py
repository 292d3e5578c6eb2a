"""Weight links end to end: publish -> refresh -> curl download, against a real S3 server.

Real processes throughout: the CLI (`python -m indextts.weights`), bash
(`scripts/weights.sh: ensure_all_weights`), curl, and SeaweedFS (`weed mini`,
which checks SigV4 signatures and link expiry). A small fake weight set (a
3 MB file and a 1 kB file in a temp cache_hub with its own manifest) keeps
it quick; the repo's manifest and docs are never written.
"""
from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from indextts.weights.links import parse_time
from indextts.weights.publishing.cron import BEGIN, END, merge_block
from indextts.weights.publishing.doc_links import rewrite_doc
from indextts.weights.manifest import load_manifest

from conftest import clean_env, free_port
from s3_server import S3Server, S3Unavailable

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
BIG, SMALL = "blob-model", "blob-config"


# --- fixtures and helpers -----------------------------------------------------------

@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory):
    server = S3Server(tmp_path_factory.mktemp("s3"))
    try:
        server.start()
    except S3Unavailable as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


def base_env(hub: Path, **extra: str) -> dict[str, str]:
    """No credentials at all unless a test adds them; quick curl settings; the repo docs untouched."""
    env = clean_env("AWS_")
    env.update({
        "AWS_CONFIG_FILE": str(hub / "no-aws-config"), "AWS_SHARED_CREDENTIALS_FILE": str(hub / "no-aws-creds"),
        "AWS_EC2_METADATA_DISABLED": "true", "INDEXTTS_PATHS__CACHE_HUB": str(hub),
        "INDEXTTS_WEIGHTS__DOCS_WITH_LINKS": "", "INDEXTTS_WEIGHTS__CURL_RETRIES": "2",
        "INDEXTTS_WEIGHTS__CURL_RETRY_MAX_TIME_S": "10", "INDEXTTS_WEIGHTS__CURL_CONNECT_TIMEOUT_S": "3",
        "INDEXTTS_WEIGHTS__CURL_MAX_TIME_S": "60", "INDEXTTS_WEIGHTS__RESUME_ATTEMPTS": "3",
    })
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([PY, "-m", "indextts.weights", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def ensure_all_weights(env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real launcher function, in bash, as start_app.sh calls it."""
    return subprocess.run(["bash", "-c", 'set -euo pipefail; source scripts/weights.sh; ensure_all_weights "$0"', PY],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


class Hub:
    """A temp cache_hub with two files and its own manifest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest = root / "manifest.json"
        self.data = {BIG: os.urandom(3 * 1024 * 1024 + 123), SMALL: b'{"fake": "config"}\n' * 50}
        self.rel = {BIG: "fake/v1/model.bin", SMALL: "fake/v1/config.json"}
        entries = []
        for name, blob in self.data.items():
            self.path(name).parent.mkdir(parents=True, exist_ok=True)
            self.path(name).write_bytes(blob)
            entries.append({"name": name, "path": self.rel[name], "sha256": hashlib.sha256(blob).hexdigest(),
                            "size": len(blob), "source": {"kind": "embedded", "builder": "test-fixture"},
                            "url": None, "expires_at": None, "object_key": None})
        self.manifest.write_text(json.dumps({"format": 1, "entries": entries}, indent=2), encoding="utf-8")

    def path(self, name: str) -> Path:
        return self.root / self.rel[name]

    def entry(self, name: str):  # noqa: ANN201
        return load_manifest(self.manifest).get(name)

    def remove_files(self) -> None:
        for name in self.data:
            self.path(name).unlink(missing_ok=True)

    def assert_downloaded(self) -> None:
        for name, blob in self.data.items():
            assert self.path(name).read_bytes() == blob
        leftovers = [p.name for p in self.root.rglob("*") if p.name.endswith((".part", ".err"))]
        assert leftovers == []

    def assert_nothing_taken(self, name: str) -> None:
        assert not self.path(name).exists()
        part = self.path(name).with_name(self.path(name).name + ".part")
        assert not part.exists() or part.stat().st_size < len(self.data[name])
        if part.exists():  # only genuine bytes of the file may stay, to be resumed
            assert self.data[name].startswith(part.read_bytes())
        assert not part.with_name(part.name + ".err").exists()


def publish_and_refresh(s3: S3Server, hub: Hub, prefix: str, *refresh_args: str,
                        endpoint: str | None = None) -> dict[str, str]:
    env = base_env(hub.root, **s3.credentials_env())
    cli(env, "publish", "--bucket", s3.bucket, "--prefix", prefix, "--endpoint-url", endpoint or s3.endpoint)
    cli(env, "refresh", "--prefer-url", *refresh_args)
    return env


def no_secret(s3: S3Server, *texts: str) -> None:
    for text in texts:
        assert s3.secret_key not in text


# --- the main path ------------------------------------------------------------------

def test_publish_refresh_download_verify(s3: S3Server, tmp_path: Path) -> None:
    hub = Hub(tmp_path / "hub")
    env = base_env(hub.root, **s3.credentials_env())
    pub = cli(env, "publish", "--bucket", s3.bucket, "--prefix", "t/main", "--endpoint-url", s3.endpoint)
    assert "uploaded" in pub.stdout and "refresh" in pub.stdout
    head = s3.client().head_object(Bucket=s3.bucket, Key="t/main/fake/v1/model.bin")
    assert head["Metadata"]["sha256"] == hub.entry(BIG).sha256 and head["ContentLength"] == len(hub.data[BIG])
    data = json.loads(hub.manifest.read_text())
    assert data["distribution"] == {"bucket": s3.bucket, "prefix": "t/main", "endpoint_url": s3.endpoint,
                                    "region": "us-east-1"}
    assert [e["object_key"] for e in data["entries"]] == ["t/main/fake/v1/model.bin", "t/main/fake/v1/config.json"]
    again = cli(env, "publish", "--bucket", s3.bucket, "--prefix", "t/main", "--endpoint-url", s3.endpoint)
    assert again.stdout.count("already published") == 2  # idempotent: nothing uploaded twice

    doc = tmp_path / "DOWNLOADS.md"
    doc.write_text(f"# Downloads\n\n- <!-- weights:{BIG} -->old<!-- /weights:{BIG} -->\n- untouched line\n")
    ref = cli(env, "refresh", "--prefer-url", "--docs", str(doc))
    entry = hub.entry(BIG)
    assert entry.source.kind == "url" and entry.source.builder == "test-fixture"
    assert "X-Amz-Signature=" in entry.url and "X-Amz-Expires=604800" in entry.url
    assert 6.9 * 86400 < (parse_time(entry.expires_at) - parse_time(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))).total_seconds() <= 7 * 86400
    text = doc.read_text()
    assert f"[model.bin]({entry.url})" in text and "untouched line" in text and "old" not in text
    assert "X-Amz-Signature" not in ref.stdout + ref.stderr  # logs name entries and expiry, never the links
    status = cli(env, "status")
    assert f"{BIG}: link expires {entry.expires_at}" in status.stdout

    hub.remove_files()
    proc = ensure_all_weights(env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    hub.assert_downloaded()
    assert "sha256 verified" in proc.stdout and "X-Amz-Signature" not in proc.stdout + proc.stderr
    assert f"{BIG}: verified" in proc.stdout  # the final `ensure` pass
    second = cli(env, "refresh", "--docs", str(doc))  # idempotent: a valid manifest and page each time
    assert load_manifest(hub.manifest).get(BIG).url in doc.read_text()
    no_secret(s3, pub.stdout, pub.stderr, ref.stdout, ref.stderr, second.stdout, proc.stdout, proc.stderr,
              hub.manifest.read_text(), doc.read_text())


def test_repo_manifest_goes_through_the_launcher_function() -> None:
    """The repo's own entries are embedded: built or verified locally, no network needed."""
    env = clean_env("AWS_")
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
    proc = ensure_all_weights(env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("kokoro-model", "kokoro-voices", "kokoro-config"):
        assert f"{name}: " in proc.stdout
    page = (REPO / "docs" / "DOWNLOADS.md").read_text()
    for name in ("kokoro-model", "kokoro-voices", "kokoro-config"):
        assert f"<!-- weights:{name} -->" in page and f"<!-- /weights:{name} -->" in page


# --- expiry ----------------------------------------------------------------------------

def test_expired_link_is_renewed_and_retried(s3: S3Server, tmp_path: Path) -> None:
    hub = Hub(tmp_path / "hub")
    env = publish_and_refresh(s3, hub, "t/expire", "--expires-in", "2")
    old = hub.entry(BIG).url
    hub.remove_files()
    time.sleep(3)
    proc = ensure_all_weights(env)  # the manifest knows it expired: renewed before any download
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "a download link has expired or expires soon; renewing it" in proc.stdout
    hub.assert_downloaded()
    assert hub.entry(BIG).url != old and "X-Amz-Expires=604800" in hub.entry(BIG).url
    no_secret(s3, proc.stdout, proc.stderr)


def test_link_refused_as_expired_is_renewed_and_retried_once(s3: S3Server, tmp_path: Path) -> None:
    """The manifest's expires_at says the link is fine (a clock behind), S3 answers 403 'Request has expired'."""
    hub = Hub(tmp_path / "hub")
    env = publish_and_refresh(s3, hub, "t/expire403", "--expires-in", "2")
    data = json.loads(hub.manifest.read_text())
    for e in data["entries"]:
        e["expires_at"] = "2099-01-01T00:00:00Z"
    hub.manifest.write_text(json.dumps(data))
    old = hub.entry(BIG).url
    hub.remove_files()
    time.sleep(3)
    proc = ensure_all_weights(env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "expires soon" not in proc.stdout
    assert f"{BIG}: the link has expired (HTTP 403: Request has expired); renewing the links and retrying once" in proc.stdout
    hub.assert_downloaded()
    assert hub.entry(BIG).url != old and hub.entry(BIG).expires_at != "2099-01-01T00:00:00Z"
    no_secret(s3, proc.stdout, proc.stderr)


def test_expired_link_without_credentials_names_the_renew_command(s3: S3Server, tmp_path: Path) -> None:
    hub = Hub(tmp_path / "hub")
    publish_and_refresh(s3, hub, "t/nocreds", "--expires-in", "2")
    expires_at = hub.entry(BIG).expires_at
    hub.remove_files()
    time.sleep(3)
    env = base_env(hub.root)  # no credentials anywhere
    assert cli(env, "has-credentials", check=False).returncode == 1
    proc = ensure_all_weights(env)
    assert proc.returncode == 1
    err = proc.stderr
    assert f"the download link for '{BIG}' has expired (it was valid until {expires_at})" in err
    assert "-m indextts.weights refresh" in err and "AWS_ACCESS_KEY_ID" in err and "AWS_PROFILE" in err
    assert "Request has expired" in err and "Traceback" not in err
    hub.assert_nothing_taken(BIG)


def test_links_expiring_soon_are_renewed_ahead_of_time(s3: S3Server, tmp_path: Path) -> None:
    hub = Hub(tmp_path / "hub")
    env = publish_and_refresh(s3, hub, "t/ahead", "--expires-in", "3600")  # inside the default 1-day margin
    old = hub.entry(BIG).url
    proc = ensure_all_weights(env)  # files present: nothing to download, but the links get renewed
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "expires soon; renewing" in proc.stdout
    assert hub.entry(BIG).url != old and "X-Amz-Expires=604800" in hub.entry(BIG).url
    again = ensure_all_weights(env)
    assert again.returncode == 0 and "expires soon" not in again.stdout  # fresh links are left alone


def test_credentials_expiring_before_the_links_are_warned_about(s3: S3Server, tmp_path: Path) -> None:
    """An AWS profile whose credential_process hands out keys valid for one more hour."""
    hub = Hub(tmp_path / "hub")
    publish_and_refresh(s3, hub, "t/sts")
    expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    helper = tmp_path / "creds.sh"
    helper.write_text("#!/bin/sh\nprintf '%s' '" + json.dumps({
        "Version": 1, "AccessKeyId": s3.access_key, "SecretAccessKey": s3.secret_key, "Expiration": expiry}) + "'\n")
    helper.chmod(0o700)
    config = tmp_path / "aws-config"
    config.write_text(f"[profile renewer]\ncredential_process = {helper}\nregion = us-east-1\n")
    env = base_env(hub.root, AWS_CONFIG_FILE=str(config), AWS_PROFILE="renewer")
    assert cli(env, "has-credentials").returncode == 0
    proc = cli(env, "refresh")
    assert "signing credentials" in proc.stderr and f"expire at {expiry}" in proc.stderr
    assert hub.entry(BIG).expires_at == expiry  # the manifest tells the truth about when the link dies
    no_secret(s3, proc.stdout, proc.stderr)


# --- broken links and downloads ---------------------------------------------------------

def _set_url(hub: Hub, name: str, url: str) -> None:
    data = json.loads(hub.manifest.read_text())
    for e in data["entries"]:
        if e["name"] == name:
            e["url"] = url
    hub.manifest.write_text(json.dumps(data), encoding="utf-8")


def test_tampered_signature_fails_clearly_and_saves_nothing(s3: S3Server, tmp_path: Path) -> None:
    hub = Hub(tmp_path / "hub")
    env = publish_and_refresh(s3, hub, "t/tamper")
    url = hub.entry(BIG).url
    sig = url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    _set_url(hub, BIG, url[:sig] + ("0" if url[sig] != "0" else "1") + url[sig + 1:])
    hub.remove_files()
    proc = ensure_all_weights(env)
    assert proc.returncode == 1
    assert "the server refused the download (HTTP 403 SignatureDoesNotMatch" in proc.stderr
    assert "refresh" in proc.stderr and "X-Amz-Signature" not in proc.stdout + proc.stderr
    hub.assert_nothing_taken(BIG)
    assert not hub.path(BIG).with_name("model.bin.part").exists()


def test_truncated_download_is_resumed(s3: S3Server, tmp_path: Path) -> None:
    hub = Hub(tmp_path / "hub")
    env = publish_and_refresh(s3, hub, "t/resume")
    hub.remove_files()
    part = hub.path(BIG).with_name("model.bin.part")
    part.write_bytes(hub.data[BIG][:1_000_000])
    proc = ensure_all_weights(env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{BIG}: resuming at 1000000 of {len(hub.data[BIG])} bytes" in proc.stdout
    hub.assert_downloaded()


def test_complete_part_file_is_taken_without_a_request(s3: S3Server, tmp_path: Path) -> None:
    """A .part that already holds every byte (S3 would answer 416 to a resume) is verified and renamed."""
    hub = Hub(tmp_path / "hub")
    env = publish_and_refresh(s3, hub, "t/complete")
    hub.path(BIG).rename(hub.path(BIG).with_name("model.bin.part"))
    proc = ensure_all_weights(env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "resuming" not in proc.stdout
    hub.assert_downloaded()


def test_stale_part_from_another_file_is_downloaded_again(s3: S3Server, tmp_path: Path) -> None:
    hub = Hub(tmp_path / "hub")
    env = publish_and_refresh(s3, hub, "t/stale")
    hub.remove_files()
    hub.path(BIG).with_name("model.bin.part").write_bytes(b"\0" * 500_000)
    proc = ensure_all_weights(env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "downloading it again from the start" in proc.stdout
    hub.assert_downloaded()


class CuttingProxy:
    """TCP proxy to the S3 server; once armed, it drops the next connection after `cut` response bytes."""

    def __init__(self, upstream_port: int, cut: int) -> None:
        self.upstream, self.cut, self.armed, self.cuts = upstream_port, cut, False, 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            limit = self.cut if self.armed else None
            if self.armed:
                self.armed, self.cuts = False, self.cuts + 1
            threading.Thread(target=self._handle, args=(client, limit), daemon=True).start()

    def _handle(self, client: socket.socket, limit: int | None) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream))

        def pump(src: socket.socket, dst: socket.socket, budget: int | None) -> None:
            sent = 0
            try:
                while chunk := src.recv(65536):
                    if budget is not None and sent + len(chunk) >= budget:
                        dst.sendall(chunk[: budget - sent])
                        break
                    dst.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass
            for s in (client, upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=pump, args=(client, upstream, None), daemon=True).start()
        pump(upstream, client, limit)
        client.close()
        upstream.close()

    def close(self) -> None:
        self.sock.close()


def test_dropped_connection_resumes(s3: S3Server, tmp_path: Path) -> None:
    proxy = CuttingProxy(s3.port, cut=1_500_000)
    try:
        hub = Hub(tmp_path / "hub")
        # Links signed for the proxy's address (SigV4 signs the Host), the bytes relayed unchanged.
        env = publish_and_refresh(s3, hub, "t/drop", endpoint=f"http://127.0.0.1:{proxy.port}")
        hub.remove_files()
        proxy.armed = True
        proc = ensure_all_weights(env)
    finally:
        proxy.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proxy.cuts == 1, proc.stdout
    assert "connection was dropped before the file was complete" in proc.stdout and "resuming at" in proc.stdout
    hub.assert_downloaded()


def test_corrupted_file_on_disk_is_fetched_again(s3: S3Server, tmp_path: Path) -> None:
    hub = Hub(tmp_path / "hub")
    env = publish_and_refresh(s3, hub, "t/corrupt")
    assert ensure_all_weights(env).returncode == 0  # verified once (a stamp is recorded)
    path = hub.path(BIG)
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(12345)
        byte = f.read(1)
        f.seek(12345)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime
    proc = ensure_all_weights(env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{BIG}: sha256 mismatch (corrupt file)" in proc.stdout and "sha256 verified" in proc.stdout
    hub.assert_downloaded()


def test_server_down_gives_bounded_retries_then_a_clear_failure(s3: S3Server, tmp_path: Path) -> None:
    hub = Hub(tmp_path / "hub")
    env = publish_and_refresh(s3, hub, "t/down")
    port = free_port()  # nothing listens there
    _set_url(hub, BIG, hub.entry(BIG).url.replace(f":{s3.port}/", f":{port}/"))
    hub.remove_files()
    start = time.monotonic()
    proc = ensure_all_weights(env)
    elapsed = time.monotonic() - start
    assert proc.returncode == 1
    assert "could not connect: the server is down" in proc.stderr and "after 2 retries" in proc.stderr
    assert elapsed < 30  # curl's 2 retries with backoff (1 s, 2 s), no endless loop
    hub.assert_nothing_taken(BIG)


def test_html_page_is_never_saved_as_a_weight(tmp_path: Path) -> None:
    """A captive portal or proxy answering 200 with a web page."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = b"<html><body>Please log in to the Wi-Fi</body></html>" * 100
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dest = tmp_path / "w" / "model.bin"
        proc = subprocess.run(["bash", str(REPO / "scripts" / "fetch_weight.sh"),
                               f"http://127.0.0.1:{server.server_address[1]}/model.bin?X-Amz-Signature=abc",
                               str(dest), "0" * 64, "1000"], capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 11
    assert "sent a web page (text/html) instead of the file; nothing was saved" in proc.stderr
    assert list(dest.parent.iterdir()) == []


# --- settings, docs, cron, git ---------------------------------------------------------------

def test_link_lifetime_is_capped_at_seven_days(s3: S3Server, tmp_path: Path) -> None:
    hub = Hub(tmp_path / "hub")
    env = publish_and_refresh(s3, hub, "t/cap", "--expires-in", "999999")
    assert "X-Amz-Expires=604800" in hub.entry(BIG).url
    proc = cli({**env, "INDEXTTS_WEIGHTS__LINK_TTL_S": "999999"}, "refresh", check=False)
    assert proc.returncode == 2 and "weights.link_ttl_s" in proc.stderr and "INDEXTTS_WEIGHTS__LINK_TTL_S" in proc.stderr


def test_refresh_without_credentials_or_publish_says_what_to_do(tmp_path: Path) -> None:
    hub = Hub(tmp_path / "hub")
    proc = cli(base_env(hub.root), "refresh", check=False)
    assert proc.returncode == 1 and "publish first" in proc.stderr and "Traceback" not in proc.stderr
    data = json.loads(hub.manifest.read_text())
    data["distribution"] = {"bucket": "b", "prefix": "p", "endpoint_url": "http://127.0.0.1:9", "region": "us-east-1"}
    data["entries"][0]["object_key"] = "p/x"
    hub.manifest.write_text(json.dumps(data))
    proc = cli(base_env(hub.root), "refresh", check=False)
    assert proc.returncode == 1 and "no AWS credentials found" in proc.stderr and "AWS_PROFILE" in proc.stderr


def test_doc_markers_are_rewritten_only_when_changed(tmp_path: Path) -> None:
    hub = Hub(tmp_path / "hub")
    manifest = load_manifest(hub.manifest)
    manifest.get(BIG).url, manifest.get(BIG).expires_at = "https://s3.example/b/k?X-Amz-Signature=1", "2030-01-01T00:00:00Z"
    doc = tmp_path / "d.md"
    doc.write_text(f"a <!-- weights:{BIG} -->x<!-- /weights:{BIG} --> b <!-- weights:other -->keep<!-- /weights:other -->\n")
    assert rewrite_doc(doc, manifest) is True
    first = doc.read_text()
    assert "https://s3.example/b/k?X-Amz-Signature=1" in first and "keep" in first and first.startswith("a ")
    assert rewrite_doc(doc, manifest) is False and doc.read_text() == first


def fake_crontab(tmp_path: Path) -> tuple[dict[str, str], Path]:
    store = tmp_path / "crontab.txt"
    tool = tmp_path / "bin" / "crontab"
    tool.parent.mkdir()
    tool.write_text(f"""#!/bin/sh
if [ "$1" = -l ]; then [ -f '{store}' ] || {{ echo "no crontab for $(id -un)" >&2; exit 1; }}; cat '{store}'; exit 0; fi
if [ "$1" = - ]; then cat > '{store}'; exit 0; fi
exit 2
""")
    tool.chmod(0o755)
    return {"PATH": f"{tool.parent}:{os.environ['PATH']}"}, store


def test_cron_print_and_idempotent_install(tmp_path: Path) -> None:
    hub = Hub(tmp_path / "hub")
    extra, store = fake_crontab(tmp_path)
    env = base_env(hub.root, **extra)
    printed = cli(env, "refresh", "--print-cron").stdout
    lines = [line for line in printed.splitlines() if not line.startswith("#")]
    assert len(lines) == 2 and lines[0].startswith("17 4 * * * ") and lines[1].startswith("@reboot ")
    for line in lines:
        assert f"cd {REPO}" in line and "-m indextts.weights refresh" in line and "logs/renew.log 2>&1" in line
    assert not store.exists()  # printing never touches the crontab
    store.write_text("MAILTO=me\n0 * * * * /usr/bin/true\n")
    cli(env, "cron", "install", "--profile", "renewer")
    cli(env, "refresh", "--install-cron", "--profile", "renewer")
    text = store.read_text()
    assert text.startswith("MAILTO=me\n0 * * * * /usr/bin/true\n")
    assert text.count(BEGIN) == 1 and text.count(END) == 1 and text.count("@reboot") == 1
    assert "AWS_PROFILE=renewer" in text and "AWS_SECRET" not in text
    assert merge_block(text, "X\n").count(BEGIN) == 0


def test_git_commit_records_only_manifest_and_docs(s3: S3Server, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    hub = Hub(repo / "cache_hub")
    doc = repo / "docs" / "DOWNLOADS.md"
    doc.parent.mkdir(parents=True)
    doc.write_text(f"<!-- weights:{BIG} --><!-- /weights:{BIG} -->\n")
    (repo / "other.txt").write_text("not to be committed\n")
    git_env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, env=git_env, check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    git("add", "cache_hub/manifest.json", "docs/DOWNLOADS.md")
    git("commit", "-q", "-m", "init")
    env = base_env(hub.root, **s3.credentials_env(), **{k: v for k, v in git_env.items() if k.startswith("GIT_")})
    cli(env, "publish", "--bucket", s3.bucket, "--prefix", "t/git", "--endpoint-url", s3.endpoint)
    proc = cli(env, "refresh", "--docs", str(doc), "--git-commit")
    assert "git: committed" in proc.stdout
    assert git("log", "-1", "--format=%s").strip() == "weights: renew download links"
    assert sorted(git("show", "--name-only", "--format=", "HEAD").split()) == ["cache_hub/manifest.json", "docs/DOWNLOADS.md"]
    assert "other.txt" in git("status", "--porcelain")
    no_secret(s3, git("log", "-p"))
