"""Operating the service: liveness and readiness."""
