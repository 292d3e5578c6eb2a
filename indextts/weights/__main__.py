"""CLI: python -m indextts.weights {ensure,status,verify}.

Exit codes: 0 ok, 1 something is missing/corrupt/unbuildable, 2 bad usage.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .ensure import EntryStatus, default_cache_hub, ensure_all, status
from .errors import WeightsError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m indextts.weights", description=__doc__.splitlines()[0])
    parser.add_argument("--cache-hub", type=Path, default=None,
                        help="weights folder (default: $INDEXTTS_CACHE_HUB or <repo>/cache_hub)")
    parser.add_argument("--manifest", type=Path, default=None,
                        help="manifest file (default: <cache-hub>/manifest.json, else the repo's)")
    sub = parser.add_subparsers(dest="command", required=True)
    ensure = sub.add_parser("ensure", help="verify every file; build missing or corrupt embedded ones")
    ensure.add_argument("--force", action="store_true", help="rebuild embedded files even if they verify")
    ensure.add_argument("--record", action="store_true",
                        help="maintainers: rebuild embedded files and write their sha256/size into the manifest")
    st = sub.add_parser("status", help="table of entries: present, verified, size, source")
    st.add_argument("--full", action="store_true", help="re-hash files even if a cached verification vouches")
    sub.add_parser("verify", help="re-hash every file; exit 1 if any is missing or corrupt")
    return parser


def _source_label(st: EntryStatus) -> str:
    src = st.entry.source
    return f"embedded:{src.builder}" if src.kind == "embedded" else f"url (expires {st.entry.expires_at or '?'})"


def _print_table(rows: list[EntryStatus]) -> None:
    header = ("entry", "path", "present", "verified", "size", "source")
    table = [header] + [
        (r.entry.name, r.entry.path, "yes" if r.present else "no", "yes" if r.verified else "no",
         str(r.size) if r.size is not None else "-", _source_label(r))
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    for r in rows:
        if r.problem:
            print(f"{r.entry.name}: {r.problem}")


def _run(args: argparse.Namespace) -> int:
    if args.command == "ensure":
        results = ensure_all(args.cache_hub, manifest_path=args.manifest, record=args.record, force=args.force)
        for r in results:
            print(f"{r.entry.name}: {r.action} {r.path} ({r.seconds:.1f} s)")
        return 0
    rows = status(args.cache_hub, manifest_path=args.manifest, full=args.command == "verify" or args.full)
    _print_table(rows)
    if args.command == "verify":
        bad = [r.entry.name for r in rows if not r.verified]
        print(f"FAILED: {', '.join(bad)}" if bad else "all files verified")
        return 1 if bad else 0
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        return _run(args)
    except WeightsError as exc:
        root = args.cache_hub or default_cache_hub()
        print(f"error ({root}): {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # disk full, permissions: say which file, no traceback
        print(f"error: {exc.strerror or exc} ({exc.filename or 'cache_hub'})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
