"""Scale out on Ray Serve: the same OpenAI-compatible API served by N engine replicas behind Serve's HTTP proxy.

Optional: ray[serve] comes from requirements-ray.txt and is imported only here, only for ``app.py --replicas N``
(``./start_app.sh --replicas N``) or ``python -m indextts.scale``; the single-process app never imports ray.

- ``options.py``     what a scale-out asks for (replicas, CPUs and threads per replica, backpressure)
- ``replica_app.py`` one replica's FastAPI app: the single process's API routes (build_router), no page
- ``deployment.py``  the Serve deployment holding one engine, and the application builder (also KubeRay's)
- ``supervisor.py``  the process the launcher owns: its own local Ray instance, deploy, wait, clean stop
- ``cluster.py``     ``--address``: deploy to / remove from an existing Ray cluster
"""
