"""S3: uploading the verified files and minting presigned GET links to them.

`publish` uploads each verified file under <prefix>/<entry path> with its
sha256 as object metadata and records the object keys (and the non-secret
bucket/prefix/endpoint/region) in the manifest. `refresh` (the renewer, run
from cron) mints SigV4 presigned GET URLs and writes `url` and `expires_at`
into the manifest entries; the caller saves it atomically. boto3 is imported
on first use, so `--help` and the crontab tools work without it.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...config import MAX_LINK_TTL_S, WeightsSettings
from ..ensure import check_entry
from ..errors import DistributionError, ManifestError
from ..file_hash import VerificationStamps
from ..links import format_time, link_needs_renewal, utcnow
from ..manifest import Entry, Manifest

log = logging.getLogger(__name__)

DISTRIBUTION_KEY = "distribution"
SHA256_METADATA = "sha256"  # x-amz-meta-sha256
CREDENTIALS_HINT = ("AWS credentials with s3:GetObject on the weights prefix: AWS_ACCESS_KEY_ID + "
                    "AWS_SECRET_ACCESS_KEY in the environment, or AWS_PROFILE=<profile> (see deploy/iam/)")


@dataclass(frozen=True)
class Distribution:
    """Where the files are published (nothing secret)."""

    bucket: str
    prefix: str
    endpoint_url: str | None
    region: str

    def to_json(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "prefix": self.prefix, "endpoint_url": self.endpoint_url,
                "region": self.region}


@dataclass(frozen=True)
class Link:
    name: str
    url: str
    expires_at: str


# --- boto3 -----------------------------------------------------------------------

def _boto3() -> Any:
    try:
        import boto3  # noqa: PLC0415 (only the publisher and renewer need it)
    except ImportError:
        raise DistributionError("boto3 is not installed: pip install -r requirements.txt") from None
    return boto3


def session(profile: str | None = None) -> Any:
    boto3 = _boto3()
    from botocore.exceptions import ProfileNotFound  # noqa: PLC0415
    try:
        return boto3.Session(profile_name=profile) if profile else boto3.Session()
    except ProfileNotFound as exc:
        raise DistributionError(f"{exc}: check AWS_PROFILE / --profile and ~/.aws/config") from None


def find_credentials(profile: str | None = None) -> Any | None:
    """boto3's credential chain (environment, profile, role); None when there are none."""
    try:
        return session(profile).get_credentials()
    except DistributionError:
        return None
    except Exception as exc:  # noqa: BLE001 (a broken credential_process must read as "no credentials")
        log.warning("looking for AWS credentials failed: %s", type(exc).__name__)
        return None


def credentials_expiry(credentials: Any) -> dt.datetime | None:
    """When temporary credentials (STS, role, credential_process with Expiration) stop working."""
    expiry = getattr(credentials, "_expiry_time", None)
    if isinstance(expiry, dt.datetime):
        return expiry if expiry.tzinfo else expiry.replace(tzinfo=dt.timezone.utc)
    return None


def s3_client(sess: Any, endpoint_url: str | None, region: str) -> Any:
    from botocore.config import Config  # noqa: PLC0415
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                    retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60)
    return sess.client("s3", endpoint_url=endpoint_url or None, region_name=region, config=config)


def _client_error(exc: Exception, what: str) -> DistributionError:
    """A boto error as one line; never includes credentials (boto does not put them in messages)."""
    from botocore.exceptions import ClientError, NoCredentialsError  # noqa: PLC0415
    if isinstance(exc, NoCredentialsError):
        return DistributionError(f"{what}: no AWS credentials found. Provide {CREDENTIALS_HINT}")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return DistributionError(f"{what}: {err.get('Code', '?')}: {err.get('Message', '')}".rstrip(": "))
    return DistributionError(f"{what}: {type(exc).__name__}: {exc}")


def resolve_distribution(manifest: Manifest, settings: WeightsSettings, *, bucket: str | None = None,
                         prefix: str | None = None, endpoint_url: str | None = None,
                         region: str | None = None, sess: Any = None) -> Distribution:
    """Flags, then config, then what the manifest recorded at publish time, then the AWS defaults."""
    known = manifest.extra.get(DISTRIBUTION_KEY) or {}
    if not isinstance(known, dict):
        raise ManifestError(f"manifest '{DISTRIBUTION_KEY}' must be an object")
    bucket = bucket or known.get("bucket")
    if not bucket:
        raise DistributionError("no bucket: the manifest records none; publish first: "
                                "python -m indextts.weights publish --bucket BUCKET --prefix PREFIX")
    prefix = (prefix if prefix is not None else known.get("prefix") or "").strip("/")
    endpoint = (endpoint_url or settings.endpoint_url or known.get("endpoint_url")
                or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None)
    region = (region or settings.region or known.get("region")
              or (sess.region_name if sess is not None else None) or "us-east-1")
    return Distribution(bucket=bucket, prefix=prefix, endpoint_url=endpoint, region=region)


# --- publish -----------------------------------------------------------------------

def publish(manifest: Manifest, root: Path, settings: WeightsSettings, *, bucket: str, prefix: str,
            endpoint_url: str | None = None, region: str | None = None, profile: str | None = None,
            names: list[str] | None = None) -> list[str]:
    """Upload verified files (skipping objects that already carry the same sha256); returns lines to print."""
    sess = session(profile)
    dist = resolve_distribution(manifest, settings, bucket=bucket, prefix=prefix, endpoint_url=endpoint_url,
                                region=region, sess=sess)
    client = s3_client(sess, dist.endpoint_url, dist.region)
    stamps = VerificationStamps(root)
    chosen = [manifest.get(n) for n in names] if names else manifest.entries
    report = []
    for entry in chosen:
        st = check_entry(root, entry, stamps, full=True)
        if entry.optional and not names and not st.present:
            report.append(f"{entry.name}: skipped (optional, not installed here; build it first to publish it)")
            continue
        if not st.verified or st.path is None:
            raise DistributionError(f"{entry.name}: cannot publish a file that does not verify ({st.problem}); "
                                    f"run: python -m indextts.weights ensure")
        key = f"{dist.prefix}/{entry.path}" if dist.prefix else entry.path
        if _object_sha256(client, dist.bucket, key) == entry.sha256:
            report.append(f"{entry.name}: already published as s3://{dist.bucket}/{key}")
        else:
            try:
                client.upload_file(str(st.path), dist.bucket, key,
                                   ExtraArgs={"Metadata": {SHA256_METADATA: entry.sha256 or ""},
                                              "ContentType": "application/octet-stream"})
            except Exception as exc:  # noqa: BLE001 (boto raises many types; all become one clear line)
                raise _client_error(exc, f"uploading {entry.name} to s3://{dist.bucket}/{key}") from None
            report.append(f"{entry.name}: uploaded {st.size} bytes to s3://{dist.bucket}/{key}")
        entry.object_key = key
    manifest.extra[DISTRIBUTION_KEY] = dist.to_json()
    return report


def _object_sha256(client: Any, bucket: str, key: str) -> str | None:
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except Exception:  # noqa: BLE001 (absent or not readable: upload it)
        return None
    return (head.get("Metadata") or {}).get(SHA256_METADATA)


# --- refresh -------------------------------------------------------------------------

def refresh(manifest: Manifest, settings: WeightsSettings, *, expires_in: int | None = None,
            profile: str | None = None, only_expiring: bool = False, prefer_url: bool | None = None,
            check_objects: bool = True, now: dt.datetime | None = None) -> tuple[list[Link], list[str]]:
    """Mint presigned GET URLs for every published entry; returns (new links, warnings).

    Entries are changed in place (url, expires_at and, with prefer_url, source
    kind "url"); the caller saves the manifest. With only_expiring, links that
    stay valid for longer than settings.renew_margin_s are kept.
    """
    now = now or utcnow()
    warnings: list[str] = []
    ttl = expires_in if expires_in is not None else settings.link_ttl_s
    if ttl > MAX_LINK_TTL_S:
        warnings.append(f"a presigned link lives at most 7 days: using {MAX_LINK_TTL_S} s instead of {ttl} s")
        ttl = MAX_LINK_TTL_S
    if ttl < 1:
        raise DistributionError(f"link lifetime must be at least 1 s (got {ttl})")
    published = [e for e in manifest.entries if e.object_key]
    if not published:
        raise DistributionError("no entry has an object_key: publish first: "
                                "python -m indextts.weights publish --bucket BUCKET --prefix PREFIX")
    todo = [e for e in published if not (only_expiring and not link_needs_renewal(e, settings.renew_margin_s, now))]
    if not todo:
        return [], warnings
    sess = session(profile)
    credentials = find_credentials(profile)
    if credentials is None:
        raise DistributionError(f"no AWS credentials found to sign the links. Provide {CREDENTIALS_HINT}")
    expires = now + dt.timedelta(seconds=ttl)
    cred_expiry = credentials_expiry(credentials)
    if cred_expiry is not None and cred_expiry < expires:
        warnings.append(
            f"the signing credentials ({getattr(credentials, 'method', 'temporary')}) expire at "
            f"{format_time(cred_expiry)}, before the links would ({format_time(expires)}): the links stop "
            f"working then. Sign with long-lived keys of a dedicated renewer user (deploy/iam/renewer-policy.json) "
            f"or renew more often than that.")
        expires = min(expires, cred_expiry)
    dist = resolve_distribution(manifest, settings, sess=sess)
    client = s3_client(sess, dist.endpoint_url, dist.region)
    use_url = settings.prefer_url if prefer_url is None else prefer_url
    links = []
    for entry in todo:
        if check_objects:
            _check_object(client, dist.bucket, entry)
        try:
            url = client.generate_presigned_url("get_object", Params={"Bucket": dist.bucket, "Key": entry.object_key},
                                                ExpiresIn=ttl)
        except Exception as exc:  # noqa: BLE001
            raise _client_error(exc, f"signing a link for {entry.name}") from None
        entry.url, entry.expires_at = url, format_time(expires)
        if use_url and entry.source.kind != "url":
            entry.source.kind = "url"  # the builder name stays: the file can still be built by hand
        links.append(Link(entry.name, url, entry.expires_at))
    return links, warnings


def _check_object(client: Any, bucket: str, entry: Entry) -> None:
    """HEAD (allowed by s3:GetObject): the object exists and carries the manifest's sha256."""
    try:
        head = client.head_object(Bucket=bucket, Key=entry.object_key)
    except Exception as exc:  # noqa: BLE001
        raise _client_error(exc, f"{entry.name}: checking s3://{bucket}/{entry.object_key} "
                                 f"(published? run: python -m indextts.weights publish)") from None
    remote = (head.get("Metadata") or {}).get(SHA256_METADATA)
    if remote is not None and remote != entry.sha256:
        raise DistributionError(f"{entry.name}: s3://{bucket}/{entry.object_key} holds sha256 {remote}, the manifest "
                                f"expects {entry.sha256}: publish the current file again")
    if entry.size is not None and head.get("ContentLength") not in (None, entry.size):
        raise DistributionError(f"{entry.name}: s3://{bucket}/{entry.object_key} is {head.get('ContentLength')} "
                                f"bytes, the manifest expects {entry.size}: publish the current file again")
