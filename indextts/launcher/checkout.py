"""This checkout's files the launcher needs: the repository root, the venv python and the app script."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Checkout:
    """Where this checkout keeps what the launcher starts and recognises as its own app."""

    root: Path
    python: Path  # the venv's python, unresolved: it is a symlink to the system python3
    app: str  # the app script, every symlink resolved (as readlink -m does)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, root: Path = ROOT) -> "Checkout":
        """The venv is $INDEXTTS_VENV (default .venv, relative to the root), as scripts/bootstrap.sh has it;
        the app is app.py unless $INDEXTTS_LAUNCHER_APP names another script (the launcher tests' fake app)."""
        env = os.environ if environ is None else environ
        venv = env.get("INDEXTTS_VENV") or ".venv"
        venv_dir = Path(venv) if venv.startswith("/") else root / venv.removeprefix("./")
        app = env.get("INDEXTTS_LAUNCHER_APP") or str(root / "app.py")
        return cls(root=root, python=venv_dir / "bin" / "python", app=os.path.realpath(app))
