"""The user's glossary on disk: readings set once (``{term, lang, reading}``) that every reader of text
applies through the engine (page, API, CLI, streaming, batch).

One YAML file (``paths.glossary``, default ``glossary.yaml`` beside config.yaml)::

    entries:
    - {term: 行长, lang: zh, reading: hang2 zhang3}
    - {term: Kokoro, lang: en, reading: /kˈOkəɹO/}

The term is the key: one reading per term, exactly as written (``US`` and ``us`` are two terms), so ``put``
replaces the entry of the same term whatever its language, and ``delete`` takes the term alone. Every entry
passes ``check_entry`` on its way in (from the API, the page, the CLI, an import or the file itself).
Writes are atomic (temp file + rename); the file is read again whenever it changes on disk (modification
time, size, inode), so the CLI and a running app see each other's edits at their next request.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import threading
from pathlib import Path
from typing import Any, Iterable

import yaml

from .atomic import atomic_path
from .errors import ConfigError, InputError
from .text.glossary import GlossaryEntry, check_entry

log = logging.getLogger(__name__)

FORMATS = ("csv", "yaml")
FIELDS = ("term", "lang", "reading")
FILE_HEADER = ("# IndexTTS glossary: how the text frontend reads these terms. Edit it on the page (Glossary),\n"
               "# through /v1/glossary, or with `python -m indextts glossary`; Chinese readings are TONE3 pinyin,\n"
               "# one syllable per character; English readings are /Kokoro phonemes/ or a respelling.\n")


class GlossaryFileError(ConfigError):
    """The glossary file on disk is not a glossary (hand-edited into bad YAML or a bad entry): the message
    names the file and the entry; fix or delete the file."""


def entry_dict(entry: GlossaryEntry) -> dict[str, str]:
    """An entry as the API, the file and the exports write it."""
    return {"term": entry.term, "lang": entry.lang, "reading": entry.reading}


def checked(term: Any, lang: Any, reading: Any, where: str = "") -> GlossaryEntry:
    """``check_entry`` for values from outside (a file, a form, a JSON body): each must be a string;
    ``where`` ("row 3: ") goes before the message so an import names its bad row."""
    for field, value in (("term", term), ("lang", lang), ("reading", reading)):
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"{where}'{field}' is required (a non-empty string), got {value!r}", field=field)
    try:
        return check_entry(term, lang, reading)
    except InputError as exc:
        if not where:
            raise
        raise InputError(f"{where}{exc}", field=exc.field) from None


def parse_entries(data: str, fmt: str) -> list[GlossaryEntry]:
    """Entries from CSV (a header row naming term, lang, reading) or YAML (``entries:`` holding a list of
    {term, lang, reading}, or the list alone), each checked. A bad or repeated entry is an InputError
    naming its row (CSV: its line; YAML: its 1-based position)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown glossary format {fmt!r}; use csv or yaml", field="format")
    rows = _csv_rows(data) if fmt == "csv" else _yaml_rows(data)
    entries: list[GlossaryEntry] = []
    seen: dict[str, str] = {}
    for where, row in rows:
        unknown = [key for key in row if key not in FIELDS]
        if unknown:
            raise InputError(f"{where}: unknown field {unknown[0]!r}; an entry has {', '.join(FIELDS)}",
                             field=str(unknown[0]))
        entry = checked(row.get("term"), row.get("lang"), row.get("reading"), f"{where}: ")
        if entry.term in seen:
            raise InputError(f"{where}: {entry.term!r} is already given in {seen[entry.term]}; one reading per "
                             f"term", field="term")
        seen[entry.term] = where
        entries.append(entry)
    return entries


def format_entries(entries: Iterable[GlossaryEntry], fmt: str) -> str:
    """Entries as CSV (header + one row each) or YAML (the glossary file's own form)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown glossary format {fmt!r}; use csv or yaml", field="format")
    if fmt == "yaml":
        return FILE_HEADER + yaml.safe_dump({"entries": [entry_dict(e) for e in entries]}, allow_unicode=True,
                                            sort_keys=False, default_flow_style=None, width=1000)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    writer.writerows((e.term, e.lang, e.reading) for e in entries)
    return out.getvalue()


def _csv_rows(data: str) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(data.lstrip("\ufeff")), skipinitialspace=True)  # Excel writes a BOM
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in FIELDS if name not in header]
    if missing:
        raise InputError(f"the CSV's first row must name the columns {', '.join(FIELDS)} (missing: "
                         f"{', '.join(missing)}; got {', '.join(header) or 'nothing'})", field="file")
    reader.fieldnames = header
    rows = []
    for row in reader:
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue  # blank line
        if None in row:  # more cells than columns
            raise InputError(f"line {reader.line_num}: more cells than the {len(header)} columns", field="file")
        rows.append((f"line {reader.line_num}", {k: v.strip() if isinstance(v, str) else v for k, v in row.items()}))
    return rows


def _yaml_rows(data: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        tree = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", field="file") from None
    if tree is None:
        return []
    items = tree.get("entries") if isinstance(tree, dict) and set(tree) <= {"entries"} else tree
    if items is None:
        return []
    if not isinstance(items, list):
        raise InputError("the YAML must hold 'entries:' with a list of {term, lang, reading} (or that list alone)",
                         field="file")
    rows = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise InputError(f"entry {number}: expected a mapping with {', '.join(FIELDS)}, got {item!r}",
                             field="file")
        # a hand-written `term: 2024` is the number 2024 to YAML: the text it was typed as
        rows.append((f"entry {number}", {k: str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                                         for k, v in item.items()}))
    return rows


class GlossaryStore:
    """The glossary file as a thread-safe list of checked entries. ``entries()`` is a snapshot (a tuple),
    read again from disk when the file has changed since it was last read."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._entries: tuple[GlossaryEntry, ...] = ()
        self._signature: tuple[int, int, int] | None = None
        self._bad_signature: tuple[int, int, int] | None = None  # a broken file already reported in the log
        with self._lock:
            self._refresh(strict=True)  # a bad file at start is a clear error, not a silent empty glossary

    # -- reading ---------------------------------------------------------------------------
    def entries(self) -> tuple[GlossaryEntry, ...]:
        """Every entry, in the file's order. A file broken on disk after start keeps the last good entries
        (a warning in the log): a running app goes on speaking while the file is fixed."""
        with self._lock:
            self._refresh(strict=False)
            return self._entries

    def get(self, term: str) -> GlossaryEntry | None:
        return next((e for e in self.entries() if e.term == term), None)

    def export_text(self, fmt: str) -> str:
        """The glossary as CSV or YAML (the form ``import_text`` takes back)."""
        return format_entries(self.entries(), fmt)

    # -- writing ---------------------------------------------------------------------------
    def put(self, entry: GlossaryEntry) -> bool:
        """Add ``entry`` (checked again), or replace the entry of the same term in its place; True when one
        was replaced."""
        entry = checked(entry.term, entry.lang, entry.reading)
        with self._lock:
            current = list(self._current())
            index = next((i for i, e in enumerate(current) if e.term == entry.term), None)
            if index is None:
                current.append(entry)
            else:
                current[index] = entry
            self._write(current)
        return index is not None

    def delete(self, term: str) -> GlossaryEntry | None:
        """Remove the entry of ``term`` (exactly as written); the removed entry, or None when there was none."""
        with self._lock:
            current = list(self._current())
            found = next((e for e in current if e.term == term), None)
            if found is not None:
                current.remove(found)
                self._write(current)
        return found

    def import_text(self, data: str, fmt: str, replace: bool = False) -> int:
        """Entries from CSV or YAML text (``parse_entries``), all checked before anything is written: one bad
        row changes nothing. Merged by term (an imported term replaces the stored one), or with ``replace``
        the whole glossary becomes the import. Returns how many entries were imported."""
        imported = parse_entries(data, fmt)
        with self._lock:
            merged = [] if replace else list(self._current())
            positions = {e.term: i for i, e in enumerate(merged)}
            for entry in imported:
                if entry.term in positions:
                    merged[positions[entry.term]] = entry
                else:
                    positions[entry.term] = len(merged)
                    merged.append(entry)
            self._write(merged)
        return len(imported)

    # -- the file --------------------------------------------------------------------------
    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def _refresh(self, strict: bool) -> None:
        """Read the file again when its signature changed (the lock is held)."""
        signature = self._stat()
        if signature == self._signature:
            return
        try:
            self._entries = tuple(self._read())
            self._signature, self._bad_signature = signature, None
        except GlossaryFileError as exc:
            if strict:
                raise
            if signature != self._bad_signature:
                log.warning("%s; the last good glossary (%d entries) stays in use", exc, len(self._entries))
                self._bad_signature = signature

    def _current(self) -> tuple[GlossaryEntry, ...]:
        """The entries on disk now, for a change (the lock is held): a broken file is not overwritten."""
        self._refresh(strict=True)
        return self._entries

    def _read(self) -> list[GlossaryEntry]:
        try:
            data = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise GlossaryFileError(f"cannot read the glossary file {self.path}: {exc}") from None
        try:
            return parse_entries(data, "yaml")
        except InputError as exc:
            raise GlossaryFileError(f"the glossary file {self.path} is not valid: {exc}. Fix it or delete it "
                                    f"(paths.glossary)") from None

    def _write(self, entries: list[GlossaryEntry]) -> None:
        with atomic_path(self.path) as tmp:
            tmp.write_text(format_entries(entries, "yaml"), encoding="utf-8")
        self._entries = tuple(entries)
        self._signature, self._bad_signature = self._stat(), None
