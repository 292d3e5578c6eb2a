"""CLI: python -m indextts.weights {ensure,status,verify,plan,publish,refresh,cron,has-credentials}.

Exit codes: 0 ok, 1 something is missing/corrupt/unbuildable or a link could
not be published/renewed, 2 bad usage or invalid settings. An optional entry
(the 54 official voices, built with npm) that is missing is reported, never
an error: `ensure` warns and exits 0, `verify` fails only if its file is
present but corrupt.

The weights folder is --cache-hub, else the app's (paths.cache_hub of the
settings, location.py). ensure/status/verify/plan are the runtime commands;
publish/refresh/cron/has-credentials load the operator tools (publishing/)
only when they run.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path

from ..config import Settings
from ..errors import ConfigError
from .ensure import EntryStatus, ensure_all, last_optional_failure, optional_hint, status
from .errors import WeightsError
from .links import RENEW_COMMAND, describe_expiry, format_span, format_time, link_needs_renewal, utcnow
from .location import default_cache_hub, manifest_path_for
from .manifest import load_manifest

# Commands that read the settings even with --cache-hub (curl settings, S3 endpoint, link lifetime, logs folder).
_NEEDS_SETTINGS = ("plan", "publish", "refresh", "cron")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m indextts.weights", description=__doc__.splitlines()[0])
    parser.add_argument("--cache-hub", type=Path, default=None,
                        help="weights folder (default: the app's, paths.cache_hub of the settings: config.yaml, "
                             "INDEXTTS_PATHS__CACHE_HUB)")
    parser.add_argument("--manifest", type=Path, default=None,
                        help="manifest file (default: <cache-hub>/manifest.json, else the repo's)")
    parser.add_argument("--config", type=Path, default=None,
                        help="settings file whose paths.cache_hub and weights: section apply (default: the repo's "
                             "config.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)
    ensure_help = ("verify every file; build missing or corrupt embedded ones. An optional one that cannot be "
                   "built (kokoro-voices-all needs Node.js and npm once) is a warning naming what is missing, "
                   "not an error")
    ensure = sub.add_parser("ensure", help=ensure_help, description=ensure_help)
    ensure.add_argument("--force", action="store_true", help="rebuild embedded files even if they verify")
    ensure.add_argument("--record", action="store_true",
                        help="maintainers: rebuild embedded files and write their sha256/size into the manifest")
    st = sub.add_parser("status", help="table of entries: present, verified, size, source")
    st.add_argument("--full", action="store_true", help="re-hash files even if a cached verification vouches")
    verify_help = ("re-hash every file; exit 1 if a required file is missing or corrupt, or an optional one "
                   "(e.g. kokoro-voices-all, the 54 voices built with npm) is present but corrupt; a missing "
                   "optional file is only reported (exit 0), since the app runs without it")
    sub.add_parser("verify", help=verify_help, description=verify_help)
    sub.add_parser("plan", help="for scripts/weights.sh: TSV of curl settings and the url entries to download")
    creds = sub.add_parser("has-credentials", help="exit 0 when boto3 finds AWS credentials (env or profile)")
    creds.add_argument("--profile", default=None, help="AWS profile (default: $AWS_PROFILE or the default chain)")
    pub = sub.add_parser("publish", help="upload the verified files to S3 (sha256 as metadata); record the keys")
    pub.add_argument("--bucket", required=True)
    pub.add_argument("--prefix", required=True, help="key prefix, e.g. indextts/kokoro-v1.0")
    pub.add_argument("--endpoint-url", default=None, help="S3-compatible endpoint (default: AWS)")
    pub.add_argument("--region", default=None)
    pub.add_argument("--profile", default=None)
    pub.add_argument("--only", nargs="+", metavar="NAME", help="publish only these entries")
    ref = sub.add_parser("refresh", help="mint presigned links; write them into the manifest and the docs")
    ref.add_argument("--expires-in", type=int, default=None, metavar="SECONDS",
                     help="link lifetime (default: weights.link_ttl_s; at most 604800 = 7 days)")
    ref.add_argument("--only-expiring", action="store_true",
                     help="renew only links that expire within weights.renew_margin_s")
    ref.add_argument("--prefer-url", action=argparse.BooleanOptionalAction, default=None,
                     help="switch published entries to source 'url' (default: weights.prefer_url)")
    ref.add_argument("--docs", nargs="*", default=None, metavar="FILE",
                     help="pages whose link markers to rewrite (default: weights.docs_with_links)")
    ref.add_argument("--profile", default=None)
    ref.add_argument("--git-commit", action="store_true", help="commit the manifest and docs (fixed message)")
    ref.add_argument("--push", action="store_true", help="with --git-commit: push as well")
    ref.add_argument("--print-cron", action="store_true", help="print the crontab lines and exit")
    ref.add_argument("--install-cron", action="store_true", help="add the crontab lines (idempotent) and exit")
    cr = sub.add_parser("cron", help="crontab lines that run refresh daily and at boot")
    cr.add_argument("action", choices=("print", "install"))
    cr.add_argument("--profile", default=None, help="AWS profile the cron job uses (written as AWS_PROFILE=...)")
    return parser


def _source_label(st: EntryStatus) -> str:
    src = st.entry.source
    label = f"embedded:{src.builder}" if src.kind == "embedded" else "url"
    return f"{label} (optional)" if st.entry.optional else label


def describe_age(epoch: object, now: dt.datetime) -> str:
    """'2026-11-28T16:30:00Z, 3m 12s ago' for a time.time() value."""
    if not isinstance(epoch, (int, float)):
        return "at an unknown time"
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)
    return f"{format_time(moment)}, {format_span(max(0, int((now - moment).total_seconds())))} ago"


def _print_table(rows: list[EntryStatus], root: Path) -> None:
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
    now = utcnow()
    for r in rows:
        if r.entry.optional and not r.verified:
            print(f"{r.entry.name} (optional): {optional_hint(r.entry, root, full=True)}")
            failed = last_optional_failure(r.entry, root)
            if failed:
                print(f"{r.entry.name}: the last attempt ({describe_age(failed.get('at'), now)}) failed: "
                      f"{failed.get('reason')}")
    for r in rows:
        if r.entry.url:
            print(f"{r.entry.name}: link {describe_expiry(r.entry.expires_at, now)}")
        elif r.entry.object_key:
            print(f"{r.entry.name}: published as {r.entry.object_key}, no link yet (run: {RENEW_COMMAND})")


def _plan(settings: Settings, root: Path, manifest_path: Path) -> int:
    """TSV lines for scripts/weights.sh ('-' stands for an empty field)."""
    w = settings.weights
    for key in ("curl_retries", "curl_retry_delay_s", "curl_retry_max_time_s", "curl_connect_timeout_s",
                "curl_max_time_s", "resume_attempts", "renew_margin_s"):
        print(f"setting\t{key}\t{getattr(w, key)}")
    manifest = load_manifest(manifest_path)
    now = utcnow()
    renew = any(link_needs_renewal(e, w.renew_margin_s, now) for e in manifest.entries)
    print(f"renew\t{'yes' if renew else 'no'}")
    rows = status(root, manifest_path=manifest_path)
    for r in rows:  # a download of these may fail: the launcher warns and goes on
        if r.entry.optional:
            print(f"optional\t{r.entry.name}")
    for r in rows:
        e = r.entry
        if e.source.kind != "url" or r.verified:
            continue
        if r.path is None or not e.sha256 or e.size is None:
            raise WeightsError(f"{e.name}: the manifest must record a valid path, sha256 and size "
                               f"before the file can be downloaded safely")
        print("\t".join(["fetch", e.name, str(r.path), e.url or "-", e.sha256, str(e.size),
                         e.expires_at or "-", (r.problem or "not verified").replace("\t", " ")]))
    return 0


def _operator_command(args: argparse.Namespace, settings: Settings, root: Path, manifest_path: Path) -> int:
    """publish, refresh, cron: the S3/git/crontab tools load only here."""
    from .publishing import commands  # noqa: PLC0415 (the runtime commands never need boto3, git or cron)

    if args.command == "publish":
        return commands.publish(args, settings, root, manifest_path)
    if args.command == "refresh":
        return commands.refresh(args, settings, manifest_path)
    return commands.cron_command(args.action, args, settings)


def _run(args: argparse.Namespace) -> int:
    if args.command == "has-credentials":
        from .publishing import commands  # noqa: PLC0415 (boto3's credential chain)

        return commands.has_credentials(args.profile)
    # One folder for the app and this tool: --cache-hub, else the settings' paths.cache_hub.
    settings = Settings.load(args.config) if args.cache_hub is None or args.command in _NEEDS_SETTINGS else None
    root = (args.cache_hub or settings.paths.cache_hub).resolve()
    manifest_path = args.manifest or manifest_path_for(root)
    if args.command == "plan":
        return _plan(settings, root, manifest_path)
    if args.command in _NEEDS_SETTINGS:
        return _operator_command(args, settings, root, manifest_path)
    if args.command == "ensure":
        results = ensure_all(root, manifest_path=args.manifest, record=args.record, force=args.force)
        for r in results:
            action = "missing (optional; see the warning above)" if r.action == "missing" else r.action
            print(f"{r.entry.name}: {action} {r.path} ({r.seconds:.1f} s)")
        return 0
    rows = status(root, manifest_path=args.manifest, full=args.command == "verify" or args.full)
    _print_table(rows, root)
    if args.command == "verify":
        bad = [r.entry.name for r in rows if not r.verified and (r.present or not r.entry.optional)]
        absent = [r.entry.name for r in rows if not r.verified and not r.present and r.entry.optional]
        if bad:
            print(f"FAILED: {', '.join(bad)}")
        elif absent:
            print(f"all required files verified; optional, not installed: {', '.join(absent)}")
        else:
            print("all files verified")
        return 1 if bad else 0
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    for noisy in ("botocore", "boto3", "s3transfer", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)  # "Found credentials in ..." is not news
    try:
        return _run(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except WeightsError as exc:
        root = args.cache_hub or default_cache_hub(args.config)
        print(f"error ({root}): {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # disk full, permissions: say which file, no traceback
        print(f"error: {exc.strerror or exc} ({exc.filename or 'cache_hub'})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
