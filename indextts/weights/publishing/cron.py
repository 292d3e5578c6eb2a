"""Crontab lines that run the link renewer daily and at boot, installed idempotently.

The block sits between two marker comments, so installing again replaces it
and leaves the user's other cron lines untouched. No secret goes into the
crontab: cron jobs find credentials through an AWS profile (~/.aws), named
with --profile (AWS_PROFILE=... on the line), or an instance role.
"""
from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from ..errors import DistributionError

BEGIN = "# BEGIN indextts-weights-renew (managed by: python -m indextts.weights cron install)"
END = "# END indextts-weights-renew"
DAILY_SCHEDULE = "17 4 * * *"  # once a day, off the hour
ENV_CRONTAB = "INDEXTTS_CRONTAB"  # the crontab program (tests point it at a fake)


def cron_block(repo: Path, python: Path, log_file: Path, profile: str | None = None,
               extra_args: list[str] | None = None) -> str:
    """The managed block: a daily line and an @reboot line, both appending to log_file."""
    env = f"AWS_PROFILE={shlex.quote(profile)} " if profile else ""
    args = " ".join(shlex.quote(a) for a in (extra_args or []))
    command = (f"cd {shlex.quote(str(repo))} && mkdir -p {shlex.quote(str(log_file.parent))} && "
               f"{env}{shlex.quote(str(python))} -m indextts.weights {args + ' ' if args else ''}refresh "
               f">> {shlex.quote(str(log_file))} 2>&1")
    command = command.replace("%", "\\%")  # cron turns a bare % into a newline
    return "\n".join([
        BEGIN,
        f"{DAILY_SCHEDULE} {command}",
        f"@reboot sleep 60 && {command}",  # after a long power-off the links may be stale: renew at boot
        END,
    ]) + "\n"


def merge_block(current: str, block: str) -> str:
    """Replace an existing managed block (or append one); other lines stay as they were."""
    kept, inside = [], False
    for line in current.splitlines():
        if line.strip() == BEGIN:
            inside = True
            continue
        if inside:
            inside = line.strip() != END
            continue
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    head = "\n".join(kept) + "\n" if kept else ""
    return head + block


def _crontab() -> str:
    return os.environ.get(ENV_CRONTAB, "crontab")


def read_crontab() -> str:
    try:
        proc = subprocess.run([_crontab(), "-l"], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise DistributionError("crontab not found: install cron (apt-get install -y cron) "
                                "or add the lines from: python -m indextts.weights cron print") from None
    if proc.returncode != 0:
        if "no crontab" in proc.stderr.lower():
            return ""
        raise DistributionError(f"crontab -l failed: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def install(block: str) -> str:
    """Write the merged crontab through `crontab -`; returns the new crontab text."""
    new = merge_block(read_crontab(), block)
    proc = subprocess.run([_crontab(), "-"], input=new, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise DistributionError(f"crontab - failed: {proc.stderr.strip() or proc.returncode}")
    return new
