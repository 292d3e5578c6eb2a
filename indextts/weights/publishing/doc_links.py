"""The download pages' link markers: `<!-- weights:NAME -->...<!-- /weights:NAME -->`.

`refresh` rewrites what is between the markers of each entry with its
current presigned link, size and sha256, so the pages (weights.docs_with_links,
e.g. docs/DOWNLOADS.md) always show links that work.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from ...atomic import atomic_output
from ..manifest import Entry, Manifest

log = logging.getLogger(__name__)

_MARKER = re.compile(r"(<!-- weights:(?P<name>[A-Za-z0-9_.-]+) -->)(?P<body>.*?)(<!-- /weights:(?P=name) -->)",
                     re.DOTALL)


def render_link(entry: Entry) -> str:
    """The text between an entry's markers: its link, size and sha256, or a note that it has none yet."""
    name = entry.path.rsplit("/", 1)[-1]
    if not entry.url:
        return f"{name}: no download link yet (maintainers: publish, then refresh)"
    size = f"{entry.size / 1e6:.1f} MB, " if entry.size else ""
    return f"[{name}]({entry.url}) ({size}sha256 `{entry.sha256}`, link expires {entry.expires_at})"


def rewrite_doc(path: Path, manifest: Manifest) -> bool:
    """Replace the body of each `<!-- weights:NAME -->...<!-- /weights:NAME -->`; True when the file changed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        log.warning("%s: not found; no links rewritten there", path)
        return False
    entries = {e.name: e for e in manifest.entries}

    def replace(match: re.Match[str]) -> str:
        entry = entries.get(match.group("name"))
        if entry is None:
            return match.group(0)
        return f"{match.group(1)}{render_link(entry)}{match.group(4)}"

    new = _MARKER.sub(replace, text)
    if new == text:
        return False
    with atomic_output(path) as out:
        out.write(new.encode("utf-8"))
    return True
