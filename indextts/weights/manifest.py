"""The weights manifest: dataclasses, validation, JSON load and atomic save.

One entry per file under cache_hub/: where it goes (relative path), what it
must hash to (sha256, size) and how to get it (source: built from the pip
packages, or a URL that the launcher fetches), and whether it is optional
(`"optional": true`: the app runs without it; ensure warns instead of
failing when it cannot be built or fetched). Unknown keys are kept so a
newer writer (launcher, URL renewer) and this reader can share the file.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..atomic import atomic_output
from .errors import ManifestError

FORMAT = 1
SOURCE_KINDS = ("embedded", "url")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ENTRY_KEYS = {"name", "path", "sha256", "size", "source", "optional", "url", "expires_at", "object_key"}


@dataclass
class Source:
    """How to obtain a file: `embedded` (a named builder) or `url`."""

    kind: str
    builder: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        if self.builder is not None:
            data["builder"] = self.builder
        return {**data, **self.extra}


@dataclass
class Entry:
    """One file of the checkpoint."""

    name: str
    path: str  # relative to cache_hub/, POSIX separators
    sha256: str | None
    size: int | None
    source: Source
    url: str | None = None
    expires_at: str | None = None
    object_key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    optional: bool = False  # the app runs without it: ensure warns instead of failing when it is unavailable

    def resolve(self, root: Path) -> Path:
        """Absolute path under `root`; rejects anything that would leave it."""
        return resolve_inside(root, self.path)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name, "path": self.path, "sha256": self.sha256, "size": self.size,
            "source": self.source.to_json(),
        }
        if self.optional:  # written only when set: required entries keep their old form
            data["optional"] = True
        return {**data, "url": self.url, "expires_at": self.expires_at, "object_key": self.object_key,
                **self.extra}


@dataclass
class Manifest:
    """All entries, in file order; names are unique."""

    entries: list[Entry]
    format: int = FORMAT
    extra: dict[str, Any] = field(default_factory=dict)  # top-level keys kept as is (e.g. "distribution")

    def get(self, name: str) -> Entry:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise ManifestError(f"manifest has no entry named '{name}'")

    def to_json(self) -> dict[str, Any]:
        return {"format": self.format, **self.extra, "entries": [e.to_json() for e in self.entries]}


def check_relative_path(rel: str) -> None:
    """Reject absolute paths, '..', backslashes and empty parts (stay in cache_hub/)."""
    if not isinstance(rel, str) or not rel:
        raise ManifestError(f"invalid path {rel!r}: must be a non-empty string")
    parts = PurePosixPath(rel).parts
    bad = (rel.startswith("/") or "\\" in rel or ":" in rel
           or any(p in ("..", ".", "") for p in rel.split("/")) or not parts)
    if bad:
        raise ManifestError(f"invalid path {rel!r}: must be relative and stay inside cache_hub/")


def resolve_inside(root: Path, rel: str) -> Path:
    """Join and resolve `rel` under `root`, refusing escapes (also via symlinks)."""
    check_relative_path(rel)
    base = root.resolve()
    target = (base / rel).resolve()
    if target == base or base not in target.parents:
        raise ManifestError(f"path {rel!r} resolves outside {base}")
    return target


def _parse_source(raw: Any, where: str) -> Source:
    if not isinstance(raw, dict) or raw.get("kind") not in SOURCE_KINDS:
        raise ManifestError(f"{where}: source.kind must be one of {SOURCE_KINDS}")
    builder = raw.get("builder")
    if raw["kind"] == "embedded" and not isinstance(builder, str):
        raise ManifestError(f"{where}: an embedded source needs a 'builder' name")
    extra = {k: v for k, v in raw.items() if k not in ("kind", "builder")}
    return Source(kind=raw["kind"], builder=builder, extra=extra)


def _parse_entry(raw: Any, index: int) -> Entry:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise ManifestError(f"entry #{index}: must be an object with a string 'name'")
    where = f"entry '{raw['name']}'"
    check_relative_path(raw.get("path"))
    sha, size = raw.get("sha256"), raw.get("size")
    if sha is not None and not (isinstance(sha, str) and _SHA256.match(sha)):
        raise ManifestError(f"{where}: sha256 must be 64 lowercase hex digits or null")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise ManifestError(f"{where}: size must be a non-negative integer or null")
    source = _parse_source(raw.get("source"), where)
    optional = raw.get("optional", False)
    if not isinstance(optional, bool):
        raise ManifestError(f"{where}: optional must be true or false")
    if source.kind == "url" and not isinstance(raw.get("url"), str):
        raise ManifestError(f"{where}: a url source needs a 'url'")
    return Entry(
        name=raw["name"], path=raw["path"], sha256=sha, size=size, source=source,
        url=raw.get("url"), expires_at=raw.get("expires_at"), object_key=raw.get("object_key"),
        extra={k: v for k, v in raw.items() if k not in _ENTRY_KEYS}, optional=optional,
    )


def parse_manifest(data: Any) -> Manifest:
    """Validate decoded JSON and build a Manifest."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ManifestError(f"unsupported manifest: expected an object with \"format\": {FORMAT}")
    if not isinstance(data.get("entries"), list):
        raise ManifestError("manifest 'entries' must be a list")
    entries = [_parse_entry(raw, i) for i, raw in enumerate(data["entries"])]
    names = [e.name for e in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ManifestError(f"duplicate entry names: {', '.join(dupes)}")
    extra = {k: v for k, v in data.items() if k not in ("format", "entries")}
    return Manifest(entries=entries, extra=extra)


def load_manifest(path: Path) -> Manifest:
    """Read and validate a manifest file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"manifest not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc}") from None
    return parse_manifest(data)


def dump_manifest(manifest: Manifest) -> str:
    """Stable JSON text (2-space indent, trailing newline) for small diffs."""
    return json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n"


def save_manifest(manifest: Manifest, path: Path) -> None:
    """Write atomically so a crash never leaves a half manifest."""
    parse_manifest(manifest.to_json())  # never write something we could not read back
    with atomic_output(path) as out:
        out.write(dump_manifest(manifest).encode("utf-8"))
