"""Where the weights live: the cache_hub folder and the manifest that describes it.

The app (Engine.load), the launcher and `python -m indextts.weights` take the
folder from one place, the settings' `paths.cache_hub` (config.yaml, then
INDEXTTS_PATHS__CACHE_HUB), so the CLI verifies and builds exactly where the
app reads. An explicit folder (`--cache-hub DIR`, or the `cache_hub`
argument of the API) names another one.
"""
from __future__ import annotations

from pathlib import Path

from ..config import PROJECT_ROOT, Settings

REPO_ROOT = PROJECT_ROOT
REPO_CACHE_HUB = REPO_ROOT / "cache_hub"  # holds the shipped manifest.json
MANIFEST_NAME = "manifest.json"


def default_cache_hub(config_file: Path | None = None) -> Path:
    """The app's weights folder: `paths.cache_hub` of the settings (default: the repo's config.yaml).

    Raises ConfigError when the settings are invalid, as the app would.
    """
    return Settings.load(config_file).paths.cache_hub


def manifest_path_for(root: Path) -> Path:
    """<root>/manifest.json; a cache_hub elsewhere without one uses the repo's."""
    own = root / MANIFEST_NAME
    return own if own.is_file() else REPO_CACHE_HUB / MANIFEST_NAME
