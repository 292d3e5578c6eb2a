"""What the launcher reads from the settings (indextts.config: config.yaml, INDEXTTS_* and its own flags)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LaunchSettings:
    """The settings a start, stop or status needs."""

    host: str  # the address the app binds (0.0.0.0 with --listen)
    port: int
    listen: bool
    auth: bool  # server.auth_user is set
    logs: Path
    cache_hub: Path
    pid_file: Path
    ready_timeout_s: float
    stop_timeout_s: float
    keep_logs: int


class InvalidSettings(Exception):
    """The settings do not validate; the message says which value and where."""


class ListenWithoutAuth(Exception):
    """The only problem is --listen (or server.listen) without a password and without --no-auth."""


def server_overrides(port: int | None, listen: bool, no_auth: bool) -> dict[str, Any]:
    """The launcher's flags as a ``server:`` section that overrides the file and the environment."""
    server: dict[str, Any] = {}
    if port is not None:
        server["port"] = port
    if listen:
        server["listen"] = True
    if no_auth:
        server["allow_no_auth"] = True
    return server


def flag_environment(port: int | None, listen: bool, no_auth: bool) -> dict[str, str]:
    """The launcher's flags as INDEXTTS_SERVER__* variables, for the weights tool: it reads the same settings,
    and a flag may settle a rule in them (listen + --no-auth)."""
    env = {}
    if port is not None:
        env["INDEXTTS_SERVER__PORT"] = str(port)
    if listen:
        env["INDEXTTS_SERVER__LISTEN"] = "true"
    if no_auth:
        env["INDEXTTS_SERVER__ALLOW_NO_AUTH"] = "true"
    return env


def load_settings(config: Path | None, port: int | None, listen: bool, no_auth: bool) -> LaunchSettings:
    """Validated settings with the flags applied. Raises InvalidSettings with the validation message (which
    value, where), or ListenWithoutAuth when that is the only problem (the launcher words it itself)."""
    from ..config import Settings
    from ..errors import ConfigError

    server = server_overrides(port, listen, no_auth)
    try:
        s = Settings.load(config, overrides={"server": server} if server else None)
    except ConfigError as exc:
        try:
            Settings.load(config, overrides={"server": {**server, "listen": False}})
        except ConfigError:
            raise InvalidSettings(str(exc)) from None
        raise ListenWithoutAuth() from None
    return LaunchSettings(
        host=s.server.bind_host, port=s.server.port, listen=s.server.listen, auth=bool(s.server.auth_user),
        logs=Path(s.paths.logs), cache_hub=Path(s.paths.cache_hub), pid_file=Path(s.launcher.pid_file),
        ready_timeout_s=s.launcher.ready_timeout_s, stop_timeout_s=s.launcher.stop_timeout_s,
        keep_logs=s.launcher.keep_logs,
    )


def default_settings(root: Path, port: int | None) -> LaunchSettings:
    """The shipped defaults, for --stop and --status when the venv or the settings are unusable."""
    return LaunchSettings(host="127.0.0.1", port=port or 7860, listen=False, auth=False, logs=root / "logs",
                          cache_hub=root / "cache_hub", pid_file=root / "logs" / "app.pid",
                          ready_timeout_s=180, stop_timeout_s=15, keep_logs=10)


def settings_for_control(root: Path, config: Path | None, port: int | None) -> LaunchSettings:
    """The real settings when they load (without the LAN flags), else the defaults: stopping or asking about
    a running instance must work with a broken venv or a broken config file."""
    try:
        return load_settings(config, port, False, False)
    except Exception:  # noqa: BLE001 - any failure (no pydantic, bad file) means: the defaults
        return default_settings(root, port)


def seconds_text(value: float) -> str:
    """180.0 -> '180', 2.5 -> '2.5': how the launcher prints a timeout."""
    text = str(value)
    return text.removesuffix(".0")
