"""pydantic's validation errors read once, for every place that shows them to a user.

The settings loader (config.py) and the HTTP API (server/error_boundary.py) word their sentences
differently (a list of settings with where each came from; one OpenAI-style error), but both need the
same three things from each error: which field, what is wrong with it, and the value as it may be shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

VALUE_ERROR_PREFIX = "Value error, "  # pydantic's prefix for a validator's own message, which says it all


@dataclass(frozen=True)
class FieldProblem:
    """One validation error: ``location`` (the keys down to the value), pydantic's error ``kind``
    (``missing``, ``extra_forbidden``...), the ``message`` and the ``value`` that failed."""

    location: tuple[str, ...]
    kind: str
    message: str
    value: Any

    @property
    def field(self) -> str | None:
        """The location as a dotted name (``server.port``, ``turns[0].voice``); None when the error is about the
        whole input."""
        return ".".join(self.location).replace(".[", "[") or None

    @property
    def shown_value(self) -> str:
        """The failing value as a message may show it: its repr, or ``(hidden)`` for a password."""
        if self.location and "password" in self.location[-1]:
            return "(hidden)"
        return repr(self.value)


def field_problems(errors: Iterable[Mapping[str, Any]], drop: Iterable[str] = ()) -> list[FieldProblem]:
    """``ValidationError.errors()`` as FieldProblems, in order. ``drop``: location parts that name no
    field of the user's (FastAPI puts a request body's fields under "body")."""
    dropped = frozenset(drop)
    return [FieldProblem(location=tuple(f"[{part}]" if isinstance(part, int) else str(part)
                                        for part in err.get("loc", ()) if part not in dropped),
                         kind=str(err.get("type", "")),
                         message=str(err.get("msg", "invalid value")).removeprefix(VALUE_ERROR_PREFIX),
                         value=err.get("input"))
            for err in errors]
