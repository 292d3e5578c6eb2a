"""Errors a user can act on. Each message says what went wrong and what to do."""


class IndexTTSError(Exception):
    """Base class: the message is meant to be shown to the user as is."""


class InputError(IndexTTSError, ValueError):
    """The request itself is wrong (empty text, unknown voice, out-of-range value).

    ``field`` names the request field at fault in the engine's terms (``text``, ``voice``, ``speed``, ``lang``,
    ``pause_s``, ``max_tokens``, ``emotion``...), when one is; servers map it to their own parameter names."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class WeightsError(IndexTTSError):
    """Model files are missing, corrupt or cannot be built or fetched."""


class ConfigError(IndexTTSError):
    """Settings (config file, environment, flags) are invalid."""


class Cancelled(IndexTTSError):
    """Work stopped before its end because its caller cancelled it or the engine is closing."""
