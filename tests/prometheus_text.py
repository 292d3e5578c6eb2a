"""Reading one sample from a running app's /metrics (Prometheus text format)."""

from __future__ import annotations

import re

import httpx


def metric(url: str, name: str, default: float | None = None) -> float:
    """The value of the sample ``name`` (with its labels, e.g. 'x_total{source="ui"}') at ``url``/metrics;
    ``default`` when it is absent (a labelled counter appears on its first count), else an assertion."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    if match is None and default is not None:
        return default
    assert match, f"{name} not in /metrics"
    return float(match.group(1))
