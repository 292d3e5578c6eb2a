"""What a scale-out asks for, resolved against the settings: replicas, CPUs and torch threads per replica, and
the per-replica request limits Serve enforces. No ray import here: app.py uses it before ray is loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import Settings

APP_NAME = "indextts"  # the Serve application's name (one per Ray cluster for this app)
# Requests a replica takes beyond its generation slots and queue: probes and /metrics must still reach a replica
# whose generation queue is full, so Serve's own limit sits above the app's admission gate, which answers first
# with the app's 503 (OpenAI error shape and Retry-After).
PROBE_HEADROOM = 4


@dataclass(frozen=True)
class ScaleOptions:
    """``--replicas`` and ``--address``; CPUs per replica are scale.num_cpus_per_replica
    (--num-cpus-per-replica) and threads per replica engine.threads (--threads)."""

    replicas: int
    address: str | None = None  # ray://HOST:PORT of an existing cluster; None: our own local Ray instance

    def check(self) -> "ScaleOptions":
        """Raises ValueError naming the bad flag."""
        if self.replicas < 1 or self.replicas > 256:
            raise ValueError(f"--replicas must be from 1 to 256, got {self.replicas}")
        if self.address is not None and not self.address.startswith(("ray://", "auto")):
            raise ValueError(f"--address must be ray://HOST:PORT (Ray Client) or auto, got {self.address!r}")
        return self


def cluster_cpus(settings: Settings, options: ScaleOptions) -> int:
    """Logical CPUs our own Ray instance declares: exactly what the replicas reserve (Serve's proxy and
    controller reserve none), so N replicas always fit however many cores the machine has."""
    return max(1, math.ceil(options.replicas * settings.scale.num_cpus_per_replica))


def replica_threads(settings: Settings) -> int:
    """Torch threads per replica: engine.threads (--threads) when set, else the replica's CPU share (never
    "all cores" per replica: N replicas would each start one thread per core and fight over them)."""
    if settings.engine.threads > 0:
        return settings.engine.threads
    return max(1, int(settings.scale.num_cpus_per_replica))


def max_ongoing_requests(settings: Settings) -> int:
    """Serve's per-replica limit: the app's generation slots + its queue + probe headroom (see PROBE_HEADROOM)."""
    if settings.scale.max_ongoing_requests:
        return settings.scale.max_ongoing_requests
    return settings.server.concurrency_limit + settings.server.max_queue + PROBE_HEADROOM


def replica_settings(settings: Settings) -> Settings:
    """The settings every replica runs with: the caller's, with the per-replica thread count."""
    engine = settings.engine.model_copy(update={"threads": replica_threads(settings)})
    return settings.model_copy(update={"engine": engine})
