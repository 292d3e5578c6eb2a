"""Reading one sample from a running app's /metrics (Prometheus text format)."""

from __future__ import annotations

import re

import httpx


def metric(url: str, name: str) -> float:
    """The value of the sample ``name`` (with its labels, e.g. 'x_total{source="ui"}') at ``url``/metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))
