"""Errors a user can act on. Each message says what went wrong and what to do."""


class IndexTTSError(Exception):
    """Base class: the message is meant to be shown to the user as is."""


class InputError(IndexTTSError, ValueError):
    """The request itself is wrong (empty text, unknown voice, out-of-range value)."""


class WeightsError(IndexTTSError):
    """Model files are missing, corrupt or cannot be built or fetched."""


class ConfigError(IndexTTSError):
    """Settings (config file, environment, flags) are invalid."""


class Cancelled(IndexTTSError):
    """Work stopped before its end because its caller cancelled it or the engine is closing."""
