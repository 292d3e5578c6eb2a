"""The operator commands of `python -m indextts.weights`: publish, refresh, cron, has-credentials.

__main__ parses the arguments (so `--help` lists every command) and imports
this module only when one of these commands runs. Output lines and exit
codes are part of the launcher's contract (scripts/weights.sh reads them).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...config import PROJECT_ROOT, Settings
from ..links import RENEW_COMMAND, format_time, utcnow
from ..manifest import load_manifest, save_manifest
from . import cron, doc_links, git, s3


def has_credentials(profile: str | None) -> int:
    """Exit status 0 when boto3 finds AWS credentials (environment, profile, role), else 1."""
    creds = s3.find_credentials(profile)
    if creds is None:
        print("no AWS credentials found", file=sys.stderr)
        return 1
    print(f"AWS credentials found ({getattr(creds, 'method', 'unknown source')})", file=sys.stderr)
    return 0


def publish(args: argparse.Namespace, settings: Settings, root: Path, manifest_path: Path) -> int:
    """Upload the verified files of `root` and record their object keys in the manifest."""
    manifest = load_manifest(manifest_path)
    report = s3.publish(manifest, root, settings.weights, bucket=args.bucket, prefix=args.prefix,
                        endpoint_url=args.endpoint_url, region=args.region, profile=args.profile,
                        names=args.only)
    save_manifest(manifest, manifest_path)
    for line in report:
        print(line)
    print(f"object keys recorded in {manifest_path}; now mint the links: {RENEW_COMMAND}")
    return 0


def refresh(args: argparse.Namespace, settings: Settings, manifest_path: Path) -> int:
    """Mint links, save the manifest, rewrite the pages' markers, optionally commit (and push)."""
    if args.print_cron or args.install_cron:
        return cron_command("install" if args.install_cron else "print", args, settings)
    manifest = load_manifest(manifest_path)
    links, warnings = s3.refresh(manifest, settings.weights, expires_in=args.expires_in, profile=args.profile,
                                 only_expiring=args.only_expiring, prefer_url=args.prefer_url)
    stamp = format_time(utcnow())
    for warning in warnings:
        print(f"{stamp} warning: {warning}", file=sys.stderr)
    if not links:
        print(f"{stamp} refresh: every link is valid for more than {settings.weights.renew_margin_s} s; nothing to do")
        return 0
    save_manifest(manifest, manifest_path)
    for link in links:
        print(f"{stamp} refresh: {link.name}: new link, expires {link.expires_at}")
    docs = args.docs if args.docs is not None else settings.weights.docs_with_links
    changed = [manifest_path]
    for doc in docs:
        path = Path(doc) if Path(doc).is_absolute() else PROJECT_ROOT / doc
        if doc_links.rewrite_doc(path, manifest):
            print(f"{stamp} refresh: rewrote the links in {path}")
            changed.append(path)
    print(f"{stamp} refresh: manifest {manifest_path} updated")
    if args.git_commit or args.push:
        print(f"{stamp} {git.git_commit(changed, push=args.push)}")
    return 0


def cron_command(action: str, args: argparse.Namespace, settings: Settings) -> int:
    """`cron print|install`: the renewer's crontab block, with the folders and settings given on this command line."""
    extra = []
    if args.cache_hub:
        extra += ["--cache-hub", str(args.cache_hub.resolve())]
    if args.manifest:
        extra += ["--manifest", str(args.manifest.resolve())]
    if args.config:
        extra += ["--config", str(args.config.resolve())]
    block = cron.cron_block(PROJECT_ROOT, Path(sys.executable), settings.paths.logs / "renew.log",
                            profile=args.profile, extra_args=extra)
    if action == "print":
        print(block, end="")
        return 0
    cron.install(block)
    print(f"installed in the crontab (daily at 04:17 and at boot), logging to {settings.paths.logs / 'renew.log'}:")
    print(block, end="")
    return 0
