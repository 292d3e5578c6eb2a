"""Settings: defaults <- config.yaml <- INDEXTTS_* environment <- explicit overrides.

Everything is merged first and validated once, so a bad value anywhere gives
one clear message naming the key and where it can be fixed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .model_facts import MAX_TOKENS
from .pydantic_errors import field_problems

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config.yaml"
ENV_PREFIX = "INDEXTTS_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EngineSettings(_Section):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"  # the decoder's, on CUDA (the CPU runs fp32 + int8)
    fp16: bool = False  # older spelling of precision: fp16
    int8: bool = True
    compile: bool = True
    cache_audio_s: float = Field(0.0, ge=0.0, le=36_000.0)
    threads: int = Field(0, ge=0, le=256)
    default_voice: str | None = None  # one voice for every text; unset: by the text's language (below)
    default_voice_en: str = "af_heart"  # English text (or mostly English, with lang auto)
    default_voice_zh: str = "zf_xiaobei"  # Mandarin text
    max_chars: int = Field(5000, ge=1, le=200_000)
    max_tokens_per_segment: int = Field(400, ge=16, le=MAX_TOKENS)
    segment_pause_s: float = Field(0.25, ge=0.0, le=5.0)
    stream_first_tokens: int = Field(48, ge=0, le=MAX_TOKENS)
    # English words inside Chinese, with a stock Mandarin voice: how far their style moves toward the paired
    # English voice (af_heart / am_michael), 0 = off (bench/RESULTS.md, "English inside Chinese")
    english_in_chinese_blend: float = Field(0.5, ge=0.0, le=1.0)

    @property
    def decoder_precision(self) -> str:
        """``precision``, with the older ``fp16: true`` read as fp16."""
        return "fp16" if self.fp16 and self.precision == "fp32" else self.precision


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(7860, ge=1, le=65535)
    listen: bool = False  # bind 0.0.0.0 for the LAN; then auth is required
    auth_user: str | None = None
    auth_password: SecretStr | None = None
    allow_no_auth: bool = False  # explicit opt-out for --listen without auth
    concurrency_limit: int = Field(8, ge=1, le=64)
    max_queue: int = Field(16, ge=1, le=1000)
    max_upload_mb: int = Field(20, ge=1, le=1024)
    # one API generation may run this long (queue wait included); it stops at the next segment. 0 = no limit
    request_timeout_s: float = Field(600.0, ge=0, le=86400)
    # origins of browser apps allowed to call the API cross-origin ("*" = any); empty = none (off)
    cors_origins: list[str] = []

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # from the environment: "http://a:3000,http://b" ("" = none)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value if value is not None else []

    @field_validator("cors_origins")
    @classmethod
    def _origins_exact(cls, origins: list[str]) -> list[str]:
        # a browser sends its origin as scheme://host[:port]; anything else (a path, a trailing slash)
        # would never match and CORS would stay silently off for it
        for origin in origins:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError(f"{origin!r} is not an origin: write scheme://host[:port] (no path, no "
                                 f"trailing slash), e.g. http://localhost:3000, or \"*\" for any origin")
        return origins

    @model_validator(mode="after")
    def _lan_needs_auth(self) -> "ServerSettings":
        if bool(self.auth_user) != bool(self.auth_password and self.auth_password.get_secret_value()):
            raise ValueError(
                "auth needs both server.auth_user and server.auth_password (or INDEXTTS_SERVER__AUTH_USER / "
                "INDEXTTS_SERVER__AUTH_PASSWORD); only one of them is set"
            )
        if self.listen and not self.allow_no_auth and not (self.auth_user and self.auth_password):
            raise ValueError(
                "listening on the LAN requires auth: set server.auth_user and server.auth_password "
                "(or INDEXTTS_SERVER__AUTH_USER / INDEXTTS_SERVER__AUTH_PASSWORD), or pass --no-auth"
            )
        return self

    @property
    def bind_host(self) -> str:
        return "0.0.0.0" if self.listen else self.host


class OutputSettings(_Section):
    keep_files: int = Field(500, ge=1, le=1_000_000)  # oldest generations beyond this are deleted
    keep_mb: int = Field(2000, ge=1, le=1_000_000)


class PathSettings(_Section):
    cache_hub: Path = Path("cache_hub")
    outputs: Path = Path("outputs")
    logs: Path = Path("logs")
    voices: Path = Path("voices")
    glossary: Path = Path("glossary.yaml")  # readings set by the user (indextts/glossary_store.py)
    batches: Path | None = None  # batch jobs (indextts/batch/store.py); None: <outputs>/batches
    presets: Path = Path("presets")  # named speech settings, one JSON file each (indextts/presets.py)


MAX_LINK_TTL_S = 7 * 24 * 3600  # SigV4 presigned URLs live at most 7 days


class WeightsSettings(_Section):
    """Download links (S3 presigned) and how the launcher fetches them with curl."""

    link_ttl_s: int = Field(MAX_LINK_TTL_S, ge=1, le=MAX_LINK_TTL_S)  # lifetime of minted links
    renew_margin_s: int = Field(86400, ge=0, le=MAX_LINK_TTL_S)  # renew links expiring sooner than this
    prefer_url: bool = False  # refresh switches published entries to source "url" (download, not build)
    docs_with_links: list[str] = ["docs/DOWNLOADS.md"]  # files whose link markers refresh rewrites
    endpoint_url: str | None = None  # S3 endpoint (None: the manifest's, else AWS_ENDPOINT_URL, else AWS)
    region: str | None = None
    curl_retries: int = Field(5, ge=0, le=100)
    curl_retry_delay_s: int = Field(0, ge=0, le=600)  # 0: curl's exponential backoff (1, 2, 4 ... s)
    curl_retry_max_time_s: int = Field(120, ge=1, le=86400)
    curl_connect_timeout_s: int = Field(15, ge=1, le=600)
    curl_max_time_s: int = Field(3600, ge=1, le=7 * 86400)  # one curl run, whole transfer
    resume_attempts: int = Field(5, ge=0, le=100)  # reruns with -C - after a dropped connection

    @field_validator("docs_with_links", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # from the environment: "a.md,b.md" ("" = none)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value if value is not None else []


class LauncherSettings(_Section):
    """What start_app.sh needs: how long to wait for /readyz, how to stop, what to keep."""

    ready_timeout_s: float = Field(180.0, gt=0, le=3600)  # model load + warm-up must finish within this
    stop_timeout_s: float = Field(15.0, gt=0, le=600)  # SIGTERM, then SIGKILL after this long
    keep_logs: int = Field(10, ge=1, le=10_000)  # logs/app-<timestamp>.log files kept (newest)
    pid_file: Path = Path("logs/app.pid")  # relative to the config file's folder


class ScaleSettings(_Section):
    """Ray Serve replicas (./start_app.sh --replicas N; indextts/scale). The replica count is a flag."""

    num_cpus_per_replica: float = Field(1.0, gt=0, le=256)  # Ray CPUs each replica reserves (--num-cpus-per-replica)
    num_gpus_per_replica: float = Field(0.0, ge=0, le=16)  # Ray GPUs each replica reserves (0: CPU replicas)
    # Serve's limit of requests in one replica; 0 = server.concurrency_limit + server.max_queue + 4 (the app's
    # own queue answers first, with its 503 and Retry-After)
    max_ongoing_requests: int = Field(0, ge=0, le=10_000)
    max_queued_requests: int = Field(-1, ge=-1, le=100_000)  # waiting in Serve's proxy for a replica; -1 = no limit


class Settings(_Section):
    engine: EngineSettings = EngineSettings()
    server: ServerSettings = ServerSettings()
    outputs: OutputSettings = OutputSettings()
    paths: PathSettings = PathSettings()
    launcher: LauncherSettings = LauncherSettings()
    weights: WeightsSettings = WeightsSettings()
    scale: ScaleSettings = ScaleSettings()

    @classmethod
    def load(
        cls,
        config_file: Path | None = None,
        overrides: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> "Settings":
        """Merge all sources and validate; raises ConfigError with a readable message.

        ``overrides`` uses the same nesting as the file: {"engine": {"device": "cpu"}}.
        """
        path = Path(config_file) if config_file else DEFAULT_CONFIG
        from_file = _read_yaml(path, explicit=config_file is not None)
        from_env = _from_env(os.environ if environ is None else environ)
        stored = _deep_merge(from_file, from_env)
        merged = _deep_merge(stored, dict(overrides or {}))
        errors: list[Any] = []
        try:
            settings = cls.model_validate(merged)
        except ValidationError as exc:
            errors = list(exc.errors())
        # A flag hides a bad value in the file or environment only for this run: the next run
        # without the flag, or another tool reading the same file, would fail later and blame
        # something else. So each stored value must be valid on its own. (Rules across keys are
        # checked on the merged result only: a flag such as --no-auth may settle them.)
        reported = {tuple(err["loc"]) for err in errors}
        errors += [err for err in _value_errors(cls, stored) if tuple(err["loc"]) not in reported]
        if errors:
            raise ConfigError(_describe(errors, path, from_file, from_env))
        return settings._resolved(path.resolve().parent)

    def _resolved(self, base: Path) -> "Settings":
        paths = {name: (value if value is None or value.is_absolute() else base / value)
                 for name, value in self.paths}
        pid_file = self.launcher.pid_file if self.launcher.pid_file.is_absolute() else base / self.launcher.pid_file
        return self.model_copy(update={"paths": PathSettings(**paths),
                                       "launcher": self.launcher.model_copy(update={"pid_file": pid_file})})


def _read_yaml(path: Path, explicit: bool) -> dict[str, Any]:
    if not path.exists():
        if explicit:
            raise ConfigError(f"config file not found: {path}")
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections (engine:, paths:), not {type(data).__name__}")
    return data


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """INDEXTTS_ENGINE__DEVICE=cpu -> {"engine": {"device": "cpu"}}; pydantic coerces the strings."""
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        tree.setdefault(section, {})[key] = value
    return tree


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _value_errors(cls: type[BaseModel], stored: dict[str, Any]) -> list[Any]:
    """Errors of single values (wrong type, out of range, unknown key) in the file + environment."""
    try:
        cls.model_validate(stored)
    except ValidationError as exc:
        return [err for err in exc.errors() if not _is_rule_across_keys(err)]
    return []


def _is_rule_across_keys(err: Mapping[str, Any]) -> bool:
    return err["type"] == "value_error" and len(err["loc"]) < 2  # raised by a section's model_validator


def _origin(loc: list[str], path: Path, from_file: Mapping[str, Any], from_env: Mapping[str, Any]) -> str:
    """Where the value at ``loc`` came from; the environment wins over the file, flags over both."""
    env = ENV_PREFIX + "__".join(loc[:2]).upper()
    if _has_key(from_env, loc[:2]):
        return f"from the environment variable {env}"
    if _has_key(from_file, loc[:1]) and (len(loc) < 2 or _has_key(from_file, loc[:2])):
        return f"in {path}" + (f"; fix it there or override it with {env}" if len(loc) >= 2 else "")
    return "from a command-line flag"


def _has_key(tree: Mapping[str, Any], keys: list[str]) -> bool:
    for key in keys:
        if not isinstance(tree, Mapping) or key not in tree:
            return False
        tree = tree[key]
    return True


def _describe(errors: list[Any], path: Path, from_file: Mapping[str, Any], from_env: Mapping[str, Any]) -> str:
    lines = [f"invalid settings (from {path}, {ENV_PREFIX}* environment variables or flags):"]
    for err, problem in zip(errors, field_problems(errors)):
        loc = list(problem.location)
        if _is_rule_across_keys(err):  # the message says what to set
            lines.append(f"  {'.'.join(loc)}: {problem.message}")
            continue
        lines.append(f"  {'.'.join(loc)}: {problem.message} "
                     f"(got {problem.shown_value} {_origin(loc, path, from_file, from_env)})")
    return "\n".join(lines)
