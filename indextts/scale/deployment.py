"""The Serve deployment: each replica loads one engine (before Serve routes to it) and serves the API app of
``replica_app``; ``build_application`` sizes it from the settings, ``app_builder`` is the same for a RayService's
``import_path`` (deploy/ray/).

Why one FastAPI app per replica (``serve.ingress``) and no separate ingress deployment: the replica runs the very
routes of the single process (``build_router``), so every route (those added later included), status code and
error shape is the same with no forwarding code; Serve's HTTP proxy is the ingress and balances among replicas.
"""

from __future__ import annotations

import logging
from typing import Any

from ray import serve
from ray.serve import Application

from ..config import Settings
from ..server.engine_holder import EngineHolder
from .options import APP_NAME, max_ongoing_requests, replica_settings
from .replica_app import DeploymentReadiness, build_replica_app

log = logging.getLogger(__name__)
DEPLOYMENT_NAME = "TTSReplica"
HEALTH_CHECK_PERIOD_S = 10.0
# A replica being stopped lets its running generations finish for this long (a long text takes a while).
GRACEFUL_SHUTDOWN_S = 20.0


def _count_running(app_name: str, deployment_name: str) -> tuple[int, int]:
    """(replicas running, replicas wanted) of our deployment, from Serve's controller."""
    status = serve.status().applications.get(app_name)
    if status is None or deployment_name not in status.deployments:
        return 0, 0
    deployment = status.deployments[deployment_name]
    running = deployment.replica_states.get("RUNNING", 0)
    total = sum(deployment.replica_states.values())
    # HEALTHY: Serve reached the target count; until then it starts (or replaces) replicas
    wanted = running if deployment.status == "HEALTHY" else max(total, running + 1)
    return running, wanted


@serve.deployment(name=DEPLOYMENT_NAME, health_check_period_s=HEALTH_CHECK_PERIOD_S,
                  graceful_shutdown_timeout_s=GRACEFUL_SHUTDOWN_S)
@serve.ingress()
class TTSReplica:
    """One engine and the API around it. The constructor returns once the model is loaded and warm, so Serve
    starts routing to a replica only when it can speak (and a model that fails to load fails the replica)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.holder = EngineHolder(settings)
        self.holder.start()
        if not self.holder.wait():
            raise RuntimeError(f"the model failed to load: {self.holder.error}")
        context = serve.get_replica_context()
        self.replica_id = context.replica_id.unique_id
        self.readiness = DeploymentReadiness(lambda: _count_running(context.app_name, context.deployment))
        log.info("replica %s ready (%d torch threads)", self.replica_id, settings.engine.threads)

    def __serve_build_asgi_app__(self) -> Any:
        return build_replica_app(self.settings, self.holder, self.replica_id, self.readiness)


def build_application(settings: Settings, replicas: int) -> Application:
    """N replicas with the settings' resources and limits (every replica gets the same settings object)."""
    scale = settings.scale
    actor_options: dict[str, Any] = {"num_cpus": scale.num_cpus_per_replica}
    if scale.num_gpus_per_replica:
        actor_options["num_gpus"] = scale.num_gpus_per_replica
    deployment = TTSReplica.options(num_replicas=replicas, ray_actor_options=actor_options,
                                    max_ongoing_requests=max_ongoing_requests(settings),
                                    max_queued_requests=scale.max_queued_requests)
    return deployment.bind(replica_settings(settings))


def app_builder(args: dict[str, str]) -> Application:
    """For a RayService (``import_path: indextts.scale.deployment:app_builder``): ``args.config`` is the
    settings file inside the image (default: config.yaml beside app.py); the replica count and autoscaling come
    from the RayService's own ``deployments:`` entry, which overrides what is set here."""
    config = args.get("config")
    settings = Settings.load(config) if config else Settings.load()
    return build_application(settings, int(args.get("replicas", 1)))


__all__ = ["APP_NAME", "DEPLOYMENT_NAME", "TTSReplica", "app_builder", "build_application"]
