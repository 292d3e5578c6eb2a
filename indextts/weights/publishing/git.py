"""`refresh --git-commit [--push]`: commit the renewed manifest and pages, nothing else."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..errors import DistributionError

COMMIT_MESSAGE = "weights: renew download links"


def git_commit(paths: list[Path], push: bool = False) -> str:
    """Commit only the manifest and docs (fixed message); optionally push. Returns a one-line summary."""
    if not paths:
        return "nothing to commit"
    cwd = paths[0].parent
    top = _git(["rev-parse", "--show-toplevel"], cwd).strip()
    rel = [os.path.relpath(p.resolve(), top) for p in paths]
    _git(["add", "--", *rel], Path(top))
    if not _git(["diff", "--cached", "--name-only", "--", *rel], Path(top)).strip():
        summary = "git: links unchanged, nothing committed"
    else:
        _git(["commit", "-q", "-m", COMMIT_MESSAGE, "--", *rel], Path(top))
        summary = f"git: committed {', '.join(rel)}"
    if push:
        _git(["push", "-q"], Path(top))
        summary += "; pushed"
    return summary


def _git(args: list[str], cwd: Path) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except FileNotFoundError:
        raise DistributionError("git is not installed (needed for --git-commit/--push)") from None
    except subprocess.TimeoutExpired:
        raise DistributionError(f"git {args[0]} timed out") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise DistributionError(f"git {args[0]} failed: {detail[-1] if detail else proc.returncode}")
    return proc.stdout
