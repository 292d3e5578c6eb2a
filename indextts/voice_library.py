"""The voice library: saved (cloned or blended) voices on disk, and the fit cache.

Layout (``paths.voices``):
    voices/<name>/style.safetensors   {"pack": (510, 1, 256) float32}, like a stock voice pack
    voices/<name>/meta.json           kind, base voice, similarity, pitch, created, source sha256 ...
    voices/<name>/reference.wav       the trimmed, normalised reference clip (cloned voices)
    voices/.cache/<sha256>.steps<N>.safetensors + .json   one fit per clip content and step count (reused)
Every file is written atomically (temp + rename); a voice folder is built beside and renamed in.
Names: 1-40 of letters, digits, "_", "-", "." (not leading), so no name can escape the folder.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
import torch
from safetensors.torch import load_file, save_file

from . import disk_cache
from .atomic import atomic_path
from .errors import InputError
from .model import SAMPLE_RATE

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,39}$")
PACK_SHAPE = (510, 1, 256)
FILES = ("style.safetensors", "meta.json", "reference.wav")
MAX_ZIP_BYTES = 20 * 1024 * 1024


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_RE.match(name) or ".." in name:
        raise InputError(f"invalid voice name {name!r}: use 1-40 letters, digits, '_', '-' or '.', "
                         f"starting with a letter or digit")
    return name


def _check_pack(pack: torch.Tensor) -> torch.Tensor:
    pack = pack.detach().float().cpu().reshape(-1, 1, 256)
    if tuple(pack.shape) != PACK_SHAPE or not torch.isfinite(pack).all():
        raise InputError(f"a voice pack must be finite with shape {PACK_SHAPE}, got {tuple(pack.shape)}")
    return pack.contiguous()


class VoiceLibrary:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.RLock()
        # name -> (the file's identity when read, its pack). Another process (a Ray Serve replica) may save,
        # delete or replace a voice in the same folder: a pack is re-read when its file changed.
        self._packs: dict[str, tuple[tuple[int, int, int], torch.Tensor]] = {}
        # names that already mean another voice (set by the voice bank): why, or None when free
        self.reserved: Callable[[str], str | None] = lambda _name: None

    def check_new_name(self, name: str) -> str:
        """``name`` checked for a saved voice: valid, and not a name that means another voice."""
        name = check_name(name)
        reason = self.reserved(name)
        if reason:
            raise InputError(f"{reason}; pick another name")
        return name

    # ------------------------------------------------------------------ read
    @property
    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and NAME_RE.match(p.name) and (p / "style.safetensors").is_file())

    def __contains__(self, name: str) -> bool:
        return bool(NAME_RE.match(name or "")) and (self.root / name / "style.safetensors").is_file()

    def pack(self, name: str) -> torch.Tensor:
        with self._lock:
            if not NAME_RE.match(name or ""):
                raise InputError(f"no saved voice {name!r}")
            path = self.root / name / "style.safetensors"
            try:
                info = path.stat()
            except OSError:
                self._packs.pop(name, None)  # deleted (here or by another process)
                raise InputError(f"no saved voice {name!r}") from None
            identity = (info.st_ino, info.st_mtime_ns, info.st_size)  # a save renames a new folder in
            cached = self._packs.get(name)
            if cached is None or cached[0] != identity:
                cached = (identity, _check_pack(load_file(str(path))["pack"]))
                self._packs[name] = cached
            return cached[1]

    def meta(self, name: str) -> dict:
        if name not in self:
            raise InputError(f"no saved voice {name!r}")
        try:
            return json.loads((self.root / name / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"kind": "cloned"}

    def list(self) -> list[dict]:
        return [{"name": n, **self.meta(n)} for n in self.names]

    # ------------------------------------------------------------------ write
    def save(self, name: str, pack: torch.Tensor, meta: dict, reference: np.ndarray | None = None,
             sample_rate: int = SAMPLE_RATE, overwrite: bool = False) -> dict:
        name = self.check_new_name(name)
        pack = _check_pack(pack)
        with self._lock:
            if name in self and not overwrite:
                raise InputError(f"a voice named {name!r} already exists; pick another name or delete it first")
            self.root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=self.root))
            try:
                save_file({"pack": pack}, str(staging / "style.safetensors"))
                meta = {**meta, "name": name, "created": meta.get("created") or time.strftime("%Y-%m-%dT%H:%M:%S")}
                (staging / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
                if reference is not None:
                    sf.write(staging / "reference.wav", reference, sample_rate, subtype="PCM_16")
                target = self.root / name
                if target.exists():
                    shutil.rmtree(target)
                staging.rename(target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            self._packs.pop(name, None)  # re-read from the new file (and its identity) on first use
        return meta

    def delete(self, name: str) -> None:
        name = check_name(name)
        with self._lock:
            if name not in self:
                raise InputError(f"no saved voice {name!r}")
            trash = self.root / f".deleted.{name}.{time.time_ns()}"
            (self.root / name).rename(trash)  # atomic: the voice is gone at once
            shutil.rmtree(trash, ignore_errors=True)
            self._packs.pop(name, None)

    def rename(self, old: str, new: str) -> None:
        old, new = check_name(old), self.check_new_name(new)
        with self._lock:
            if old not in self:
                raise InputError(f"no saved voice {old!r}")
            if (self.root / new).exists():
                raise InputError(f"a voice named {new!r} already exists")
            (self.root / old).rename(self.root / new)
            meta = self.meta(new)
            meta["name"] = new
            with atomic_path(self.root / new / "meta.json") as tmp:
                tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
            self._packs.pop(old, None)

    def export_zip(self, name: str) -> bytes:
        if name not in self:
            raise InputError(f"no saved voice {name!r}")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for fname in FILES:
                path = self.root / name / fname
                if path.is_file():
                    zf.write(path, fname)
        return buf.getvalue()

    def import_zip(self, data: bytes, name: str | None = None, overwrite: bool = False) -> str:
        """A zip made by export_zip (flat: style.safetensors, meta.json, optional reference.wav)."""
        if len(data) > MAX_ZIP_BYTES:
            raise InputError(f"the voice archive is larger than {MAX_ZIP_BYTES // 2**20} MB")
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                members = {i.filename: i for i in zf.infolist()}
                if "style.safetensors" not in members:
                    raise InputError("not a voice archive: style.safetensors is missing")
                if sum(i.file_size for i in members.values() if i.filename in FILES) > 4 * MAX_ZIP_BYTES:
                    raise InputError("the voice archive unpacks too large")
                content = {f: zf.read(f) for f in FILES if f in members}  # only known names: no traversal
        except (zipfile.BadZipFile, OSError) as exc:
            raise InputError(f"not a valid .zip voice archive ({exc})") from None
        try:
            from safetensors.torch import load as load_bytes

            pack = load_bytes(content["style.safetensors"])["pack"]
        except Exception as exc:  # malformed safetensors: any parse error means a bad upload
            raise InputError(f"the archive's style.safetensors is unreadable ({exc})") from None
        meta = {}
        if "meta.json" in content:
            try:
                meta = json.loads(content["meta.json"].decode("utf-8"))
                meta = meta if isinstance(meta, dict) else {}
            except (ValueError, UnicodeDecodeError):
                meta = {}
        reference, sample_rate = None, SAMPLE_RATE
        if "reference.wav" in content:
            try:
                reference, sample_rate = sf.read(io.BytesIO(content["reference.wav"]), dtype="float32")
            except (sf.LibsndfileError, RuntimeError):
                reference = None
        name = self.check_new_name(name or str(meta.get("name") or ""))
        self.save(name, pack, {**meta, "imported": True}, reference, sample_rate, overwrite=overwrite)
        return name

    # ------------------------------------------------------------------ fit cache
    def _fit_base(self, sha256: str, steps: int) -> Path:
        return self.root / ".cache" / f"{sha256}.steps{int(steps)}"  # a fit with other steps is another fit

    def cached_fit(self, sha256: str, steps: int) -> tuple[torch.Tensor, dict] | None:
        """The fit of the clip with this content made with ``steps`` descent steps, or None."""
        base = self._fit_base(sha256, steps)
        try:
            pack = load_file(str(base.with_name(base.name + ".safetensors")))["pack"]
            meta = json.loads(base.with_name(base.name + ".json").read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError):
            return None
        disk_cache.touch(base.with_name(base.name + ".safetensors"), base.with_name(base.name + ".json"))
        return _check_pack(pack), meta

    def store_fit(self, sha256: str, steps: int, pack: torch.Tensor, meta: dict) -> None:
        base = self._fit_base(sha256, steps)
        with atomic_path(base.with_name(base.name + ".safetensors")) as tmp:
            save_file({"pack": _check_pack(pack)}, str(tmp))
        with atomic_path(base.with_name(base.name + ".json")) as tmp:
            tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        disk_cache.prune(base.parent, disk_cache.MAX_FITS)


def blend(a: torch.Tensor, b: torch.Tensor, weight_b: float) -> torch.Tensor:
    """(1 - w) * a + w * b, row by row."""
    if not 0.0 <= weight_b <= 1.0:
        raise InputError(f"blend weight must be 0-1, got {weight_b}")
    return (1 - weight_b) * a.reshape(PACK_SHAPE) + weight_b * b.reshape(PACK_SHAPE)
