"""The HTTP API's routes, one module per resource: probes, models, voices, speech, emotion. Each module's
``build(context)`` returns its router; ``..api`` assembles them and ``..error_boundary`` answers their errors."""
