"""Download links recorded in the manifest: when they expire and whether they need renewing.

The launcher's `plan` and `status` read this; minting the links (S3
presigning) is an operator tool in publishing/, which the app never imports.
"""
from __future__ import annotations

import datetime as dt

from .manifest import Entry

RENEW_COMMAND = "python -m indextts.weights refresh"


def utcnow() -> dt.datetime:
    """The current UTC time to the second (the precision of the manifest's timestamps)."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def format_time(moment: dt.datetime) -> str:
    """'2026-11-28T10:00:00Z': the manifest's and the logs' form of a moment."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> dt.datetime | None:
    """ISO 8601 (a trailing Z allowed) -> aware datetime; None when absent or unreadable."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def format_span(seconds: int) -> str:
    """A duration as its two largest units: '6d 23h', '2h 5m', '3m 12s'."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {rest // 60}m"
    return f"{rest // 60}m {rest % 60}s"


def describe_expiry(expires_at: str | None, now: dt.datetime | None = None) -> str:
    """'expires 2026-11-28T10:00:00Z (in 6d 23h)' / 'EXPIRED 2026-... (2h ago)'."""
    moment = parse_time(expires_at)
    if moment is None:
        return "no expiry recorded"
    delta = int((moment - (now or utcnow())).total_seconds())
    span = format_span(abs(delta))
    return f"expires {expires_at} (in {span})" if delta > 0 else f"EXPIRED {expires_at} ({span} ago)"


def link_needs_renewal(entry: Entry, margin_s: int, now: dt.datetime | None = None) -> bool:
    """True when a published entry has no link or one that expires within the margin."""
    if not entry.object_key:
        return False
    moment = parse_time(entry.expires_at)
    if not entry.url or moment is None:
        return True
    return moment - (now or utcnow()) <= dt.timedelta(seconds=margin_s)
