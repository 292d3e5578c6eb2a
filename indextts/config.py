"""Settings: defaults <- config.yaml <- INDEXTTS_* environment <- explicit overrides.

Everything is merged first and validated once, so a bad value anywhere gives
one clear message naming the key and where it can be fixed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from .errors import ConfigError

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
    max_tokens_per_segment: int = Field(400, ge=16, le=510)
    segment_pause_s: float = Field(0.25, ge=0.0, le=5.0)
    stream_first_tokens: int = Field(48, ge=0, le=510)

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


class Settings(_Section):
    engine: EngineSettings = EngineSettings()
    server: ServerSettings = ServerSettings()
    outputs: OutputSettings = OutputSettings()
    paths: PathSettings = PathSettings()
    launcher: LauncherSettings = LauncherSettings()
    weights: WeightsSettings = WeightsSettings()

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
        merged = _deep_merge(_read_yaml(path, explicit=config_file is not None), _from_env(environ or os.environ))
        merged = _deep_merge(merged, dict(overrides or {}))
        try:
            settings = cls.model_validate(merged)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, path)) from None
        return settings._resolved(path.resolve().parent)

    def _resolved(self, base: Path) -> "Settings":
        paths = {name: (value if value.is_absolute() else base / value) for name, value in self.paths}
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


def _describe(exc: ValidationError, path: Path) -> str:
    lines = [f"invalid settings (from {path}, {ENV_PREFIX}* environment variables or flags):"]
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        message = err["msg"].removeprefix("Value error, ")
        if len(loc) < 2:  # a rule across keys: the message says what to set
            lines.append(f"  {'.'.join(loc)}: {message}")
            continue
        shown = "(hidden)" if "password" in loc[-1] else repr(err.get("input"))
        env = ENV_PREFIX + "__".join(loc).upper()
        lines.append(f"  {'.'.join(loc)}: {message} (got {shown}; set it in the file or with {env})")
    return "\n".join(lines)
