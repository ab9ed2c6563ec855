"""Operating the service: health and readiness, Prometheus metrics, OpenTelemetry traces, JSON
logs with a request id. Used by the site (web/observe.py) and the worker (worker.py); imports
neither."""
