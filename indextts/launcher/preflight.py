"""Checks before anything is written: free disk space (before the venv exists) and curl (before weights).

check_disk runs under the system python3 before the venv's packages are installed, so it reads the
manifest with the json module; check_curl runs in the venv and asks indextts.weights.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from .checkout import Checkout
from .messages import StartupFailed, warn

MIN_FREE_MB_FIRST_INSTALL = 1500  # torch CPU + gradio + the rest of the venv
MIN_FREE_MB_WEIGHTS = 500  # the float checkpoint (~330 MB) + the assembled ONNX while building
MIN_FREE_MB_RUN = 100  # logs and first outputs
CURL_INSTALL = "apt-get install -y curl"


def venv_works(checkout: Checkout) -> bool:
    """The venv's python starts (it is missing, or broken when the system python it points at changed)."""
    try:
        return subprocess.run([str(checkout.python), "-c", ""], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False


def required_weights_missing(cache_hub: Path) -> bool:
    """A required manifest entry's file is absent from ``cache_hub`` (its manifest, else the repo's).
    An optional entry does not count: the app starts without it. An unreadable manifest counts as nothing
    missing (the weights step reports it properly)."""
    own = cache_hub / "manifest.json"
    path = own if own.is_file() else Path(__file__).resolve().parents[2] / "cache_hub" / "manifest.json"
    try:
        entries = json.loads(path.read_text(encoding="utf-8")).get("entries", [])
        return any(not e.get("optional") and not (cache_hub / e["path"]).is_file() for e in entries)
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return False


def free_mb(folder: Path) -> int | None:
    """Megabytes available to this user on ``folder``'s filesystem (None when it cannot be measured)."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize // (1024 * 1024)


def check_disk(checkout: Checkout, environ: Mapping[str, str] | None = None) -> None:
    """Enough room in the checkout for what this run writes: the first install, building the weights, or
    only logs. $INDEXTTS_MIN_FREE_MB replaces the need. Raises StartupFailed."""
    env = os.environ if environ is None else environ
    root = checkout.root
    if not venv_works(checkout):
        need, what = MIN_FREE_MB_FIRST_INSTALL, "the first install (virtualenv)"
    elif required_weights_missing(root / "cache_hub"):
        need, what = MIN_FREE_MB_WEIGHTS, "building the model weights"
    else:
        need, what = MIN_FREE_MB_RUN, "logs"
    override = env.get("INDEXTTS_MIN_FREE_MB")
    if override:
        if not override.isdigit():
            warn(f"INDEXTTS_MIN_FREE_MB={override} is not a number of megabytes; ignored")
        else:
            need = int(override)
    have = free_mb(root)
    if have is None:
        warn("could not measure free disk space (df failed); continuing")
        return
    if have < need:
        raise StartupFailed(f"not enough disk space in {root}: {have} MB free, {need} MB needed for {what}; "
                            f"free some space (df -h {root})")


def check_curl(cache_hub: Path) -> None:
    """curl is needed only for required URL weights not downloaded yet: then its absence fails the start.
    For an optional one (the app starts without it) it is a warning, and the weights step skips it too."""
    if shutil.which("curl"):
        return
    from ..weights.location import manifest_path_for
    from ..weights.errors import WeightsError
    from ..weights.manifest import load_manifest

    try:
        entries = load_manifest(manifest_path_for(cache_hub)).entries
    except (WeightsError, OSError, ValueError):  # the weights step reports a broken manifest properly
        entries = []
    missing = [e for e in entries if e.source.kind == "url" and not (cache_hub / e.path).is_file()]
    required = [e.name for e in missing if not e.optional]
    optional = [e.name for e in missing if e.optional]
    if required:
        raise StartupFailed(f"curl not found, and it is needed to download: {', '.join(required)}; "
                            f"install it ({CURL_INSTALL})")
    if optional:
        warn(f"curl not found: the optional {', '.join(optional)} cannot be downloaded; the app starts "
             f"without it ({CURL_INSTALL} adds it)")
        return
    warn(f"curl not found: fine for now (no weights to download), but install it for URL weights ({CURL_INSTALL})")
