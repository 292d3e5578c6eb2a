"""Settings: file, environment and overrides merge in order; bad values name the key."""

from pathlib import Path

import pytest

from indextts.config import Settings
from indextts.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file_resolve_paths_beside_the_config(tmp_path):
    settings = Settings.load(write(tmp_path, ""), environ={})
    assert settings.engine.device == "auto"
    assert settings.paths.cache_hub == tmp_path / "cache_hub"


def test_environment_overrides_file_and_overrides_win(tmp_path):
    path = write(tmp_path, "engine:\n  device: cpu\n  threads: 1\n")
    env = {"INDEXTTS_ENGINE__THREADS": "2", "INDEXTTS_ENGINE__SEGMENT_PAUSE_S": "0.5", "OTHER": "x"}
    settings = Settings.load(path, overrides={"engine": {"threads": 3}}, environ=env)
    assert (settings.engine.device, settings.engine.threads, settings.engine.segment_pause_s) == ("cpu", 3, 0.5)


def test_invalid_value_names_the_key_and_the_variable(tmp_path):
    path = write(tmp_path, "engine:\n  max_tokens_per_segment: 9000\n")
    with pytest.raises(ConfigError, match=r"engine\.max_tokens_per_segment.*INDEXTTS_ENGINE__MAX_TOKENS_PER_SEGMENT"):
        Settings.load(path, environ={})


def test_unknown_key_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match=r"engine\.devcie"):
        Settings.load(write(tmp_path, "engine:\n  devcie: cpu\n"), environ={})


def test_bad_yaml_and_missing_file_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        Settings.load(write(tmp_path, "engine: [unclosed\n"), environ={})
    with pytest.raises(ConfigError, match="config file not found"):
        Settings.load(tmp_path / "nope.yaml", environ={})


def test_shipped_config_is_valid():
    engine = Settings.load(environ={}).engine
    assert (engine.default_voice, engine.default_voice_en, engine.default_voice_zh) == (None, "af_heart", "zf_xiaobei")


def test_lan_without_auth_is_refused_and_secrets_are_not_echoed(tmp_path):
    path = write(tmp_path, "server:\n  listen: true\n")
    with pytest.raises(ConfigError, match="requires auth") as info:
        Settings.load(path, environ={})
    assert "(got" not in str(info.value)
    ok = Settings.load(path, environ={"INDEXTTS_SERVER__AUTH_USER": "me", "INDEXTTS_SERVER__AUTH_PASSWORD": "s3cret"})
    assert ok.server.bind_host == "0.0.0.0" and "s3cret" not in repr(ok)
    with pytest.raises(ConfigError) as info:
        Settings.load(path, environ={"INDEXTTS_SERVER__AUTH_USER": "me", "INDEXTTS_SERVER__AUTH_PASSWORD": ["x"]})
    assert "(hidden)" in str(info.value)


def test_bad_value_in_the_file_is_reported_even_when_an_override_replaces_it(tmp_path):
    # `port: "abc"` with --port must fail here, naming the file, not later in another tool that blames the weights.
    path = write(tmp_path, 'server:\n  port: "abc"\nengine:\n  device: gpu\n')
    with pytest.raises(ConfigError) as info:
        Settings.load(path, overrides={"server": {"port": 8000}, "engine": {"device": "cpu"}}, environ={})
    message = str(info.value)
    assert f"server.port: Input should be a valid integer, unable to parse string as an integer (got 'abc' in {path}" \
        in message
    assert f"engine.device: Input should be 'auto', 'cpu' or 'cuda' (got 'gpu' in {path}" in message


def test_message_says_where_the_bad_value_came_from(tmp_path):
    path = write(tmp_path, "engine:\n  threads: two\n")
    with pytest.raises(ConfigError, match=r"engine\.threads: .*\(got 'x' from the environment variable "
                                          r"INDEXTTS_ENGINE__THREADS\)"):
        Settings.load(path, environ={"INDEXTTS_ENGINE__THREADS": "x"})
    with pytest.raises(ConfigError, match=r"server\.port: .*\(got 99999 from a command-line flag\)"):
        Settings.load(write(tmp_path, ""), overrides={"server": {"port": 99999}}, environ={})


def test_rule_across_keys_may_be_settled_by_an_override(tmp_path):
    path = write(tmp_path, "server:\n  listen: true\n")  # alone: refused (LAN without auth)
    settings = Settings.load(path, overrides={"server": {"allow_no_auth": True}}, environ={})
    assert settings.server.listen and settings.server.allow_no_auth
