"""The weights step of a start: every manifest entry present and sha256-verified before the app starts.

The plan comes from ``python -m indextts.weights plan`` (curl settings, whether a link needs renewing, which
entries are optional, which URL entries to download); this module decides what to do with it: renew links
that expire soon (when AWS credentials exist), download each URL entry with scripts/fetch_weight.sh (curl,
resume, sha256, atomic rename), renew once and retry when a link turns out expired (403 "Request has
expired"), then ``ensure`` builds the embedded entries and verifies everything. An optional entry (the 54
official voices) that cannot be downloaded or built never fails it: a warning names what is missing.
Logs never show a link's query string (its signature): fetch_weight.sh prints the public part only.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .messages import error

FETCH_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fetch_weight.sh"
LINK_EXPIRED, REFUSED = 10, 11  # fetch_weight.sh's exit codes (12 network, 13 checksum, 1 other)

# The plan's curl settings (config.yaml weights:) and the variables fetch_weight.sh reads them from.
SETTING_VARIABLES = {
    "curl_retries": "WEIGHTS_CURL_RETRIES",
    "curl_retry_delay_s": "WEIGHTS_CURL_RETRY_DELAY_S",
    "curl_retry_max_time_s": "WEIGHTS_CURL_RETRY_MAX_TIME_S",
    "curl_connect_timeout_s": "WEIGHTS_CURL_CONNECT_TIMEOUT_S",
    "curl_max_time_s": "WEIGHTS_CURL_MAX_TIME_S",
    "resume_attempts": "WEIGHTS_RESUME_ATTEMPTS",
}


def say(message: str) -> None:
    print(f"weights: {message}", flush=True)


def _error(message: str) -> None:
    error(f"error: {message}")


@dataclass(frozen=True)
class Download:
    """A URL entry whose file is missing or does not verify."""

    name: str
    path: str
    url: str | None
    sha256: str
    size: str
    expires_at: str | None
    problem: str


@dataclass
class WeightsPlan:
    """What `python -m indextts.weights plan` says (TSV; '-' stands for an empty field)."""

    curl_environment: dict[str, str] = field(default_factory=dict)
    renew: bool = False
    optional: set[str] = field(default_factory=set)
    downloads: list[Download] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> "WeightsPlan":
        plan = cls()
        for line in text.splitlines():
            kind, _, rest = line.partition("\t")
            if kind == "setting":
                key, _, value = rest.partition("\t")
                if key in SETTING_VARIABLES:
                    plan.curl_environment[SETTING_VARIABLES[key]] = value.split("\t")[0]
            elif kind == "renew":
                plan.renew = rest.split("\t")[0] == "yes"
            elif kind == "optional":
                plan.optional.add(rest)
            elif kind == "fetch":
                name, path, url, sha256, size, expires_at, problem = (rest.split("\t", 6) + [""] * 7)[:7]
                plan.downloads.append(Download(name, path, None if url == "-" else url, sha256, size,
                                               None if expires_at == "-" else expires_at, problem))
        return plan


@dataclass(frozen=True)
class WeightsTool:
    """``python -m indextts.weights ARGS`` (ARGS: --cache-hub, --config) with the launcher's environment."""

    python: str
    args: Sequence[str]
    environment: Mapping[str, str]

    @property
    def command(self) -> list[str]:
        return [self.python, "-m", "indextts.weights", *self.args]

    @property
    def text(self) -> str:
        """The command as the messages show it (what a user runs by hand)."""
        return " ".join(self.command)

    def _run(self, *args: str, quiet: bool = False) -> bool:
        stderr = subprocess.DEVNULL if quiet else None
        return subprocess.run([*self.command, *args], env=dict(self.environment), stderr=stderr).returncode == 0

    def plan(self) -> WeightsPlan | None:
        """The plan, or None (the tool printed why)."""
        proc = subprocess.run([*self.command, "plan"], env=dict(self.environment), stdout=subprocess.PIPE,
                              text=True)
        return WeightsPlan.parse(proc.stdout) if proc.returncode == 0 else None

    def has_credentials(self) -> bool:
        return self._run("has-credentials", quiet=True)

    def refresh(self, *args: str) -> bool:
        return self._run("refresh", *args)

    def ensure(self) -> bool:
        return self._run("ensure")


Fetcher = Callable[[Download, Mapping[str, str]], "tuple[int, str]"]


def fetch_with_curl(download: Download, environment: Mapping[str, str]) -> tuple[int, str]:
    """One file with scripts/fetch_weight.sh: (its exit code, its one-line reason when it failed). Its output
    goes to this terminal as it comes (curl's progress bar too)."""
    with tempfile.NamedTemporaryFile("r", prefix="fetch-weight-", suffix=".err") as reason_file:
        env = {**environment, "WEIGHT_FETCH_ERROR_FILE": reason_file.name}
        rc = subprocess.run(["bash", str(FETCH_SCRIPT), download.url or "", download.path, download.sha256,
                             download.size, download.name], env=env).returncode
        reason = reason_file.read().strip()
    if rc != 0 and not reason:
        reason = f"{download.name}: {FETCH_SCRIPT.name} failed with exit code {rc}"
    return rc, reason


def _expired_help(name: str, expires_at: str | None, tool: WeightsTool) -> None:
    when = expires_at or "an unknown time (the manifest records none)"
    error(f"""error: the download link for '{name}' has expired (it was valid until {when}).
  The server answered 403 "Request has expired"; nothing was saved.
  Renew the links with AWS credentials that may read the published objects
  (AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY in the environment, or AWS_PROFILE=<profile>;
  the policy is deploy/iam/renewer-policy.json):
      {tool.text} refresh
  then run ./start_app.sh again. Without credentials, get a renewed manifest
  (cache_hub/manifest.json) from whoever publishes the weights, e.g. with git pull.""")


def ensure_all_weights(tool: WeightsTool, fetch: Fetcher = fetch_with_curl) -> bool:
    """Renew, download, verify (see the module's docstring). False after a message saying what to do."""
    plan = tool.plan()
    if plan is None:
        _error("could not read the weights manifest (see the message above)")
        return False
    credentials: bool | None = None
    if plan.renew:
        credentials = tool.has_credentials()
        if credentials:
            say("a download link has expired or expires soon; renewing it")
            if tool.refresh("--only-expiring"):
                plan = tool.plan()
                if plan is None:
                    return False
            else:
                say("could not renew the links ahead of time (see above); trying the current ones")
        else:
            say("a download link has expired or expires soon; it cannot be renewed here (no AWS credentials)")
    for attempt in (1, 2):
        expired: Download | None = None
        reason = ""
        for download in plan.downloads:
            say(f"{download.name}: {download.problem}")
            if download.url is None:
                _error(f"{download.name} has no download link in the manifest; maintainers: {tool.text} refresh")
                return False
            rc, reason = fetch(download, {**tool.environment, **plan.curl_environment})
            if rc == 0:
                continue
            if download.name in plan.optional:
                say(f"{download.name} (optional): {reason}; going on without it")
                continue
            if rc == LINK_EXPIRED:
                expired = download
                break
            _error(reason)
            if rc == REFUSED:
                error(f"  If the link was altered or revoked, renew it: {tool.text} refresh "
                      "(or get a renewed manifest).")
            return False
        if expired is None:
            break
        if attempt == 2:
            _error(f"{reason} even right after renewing it: check this machine's clock (date -u) and the server's")
            return False
        if credentials is None:
            credentials = tool.has_credentials()
        if not credentials:
            _expired_help(expired.name, expired.expires_at, tool)
            return False
        say(f"{reason}; renewing the links and retrying once")
        if not tool.refresh():
            _error("renewing the links failed (see the message above)")
            _expired_help(expired.name, expired.expires_at, tool)
            return False
        plan = tool.plan()
        if plan is None:
            return False
    if not tool.ensure():
        _error("the model weights could not be prepared (see the message above)")
        return False
    return True


def weights_tool(python: str, args: Sequence[str], extra_environment: Mapping[str, str] | None = None) -> WeightsTool:
    """The weights tool with this process's environment plus ``extra_environment``."""
    return WeightsTool(python, list(args), {**os.environ, **(extra_environment or {})})
