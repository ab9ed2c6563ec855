"""The service's own metrics, in Prometheus's default registry (prometheus-client), and the
Temporal SDK's runtime with its own Prometheus endpoint.

Where each is counted:
- HTTP requests, by method, route template (never the path: it can hold a token) and status,
  with their latency: the site's middleware (web/observe.py).
- Sign-in outcomes: the site, from the journey's verdict (web/sign_in.py).
- E-mails sent, retried and failed, by the activity that sends them: the worker's sender.
- Journeys started and finished, by login method and outcome: the workflow itself, through
  the SDK's replay-safe workflow meter (workflows/metering.py), so on the worker's runtime
  endpoint (TEMPORAL_METRICS_BIND), once per event however often history is replayed.
- Open journeys by step: counted in Temporal's visibility when the worker is scraped
  (observe/open_journeys.py): the one count that survives a restart of every process.
"""

from __future__ import annotations

from email.message import EmailMessage

from prometheus_client import Counter, Histogram
from temporalio import activity
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from activities.email import Accepted, EmailSender
from settings import Settings

HTTP_REQUESTS = Counter(
    "cers_http_requests", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "cers_http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"]
)
SIGN_INS = Counter("cers_sign_ins", "GCKey sign-ins, by the journey's verdict", ["outcome"])
EMAILS_SENT = Counter("cers_emails_sent", "E-mails the mail server took", ["kind"])
EMAIL_RETRIES = Counter(
    "cers_email_retries", "Attempts to send an e-mail after one that failed", ["kind"]
)
EMAILS_FAILED = Counter("cers_emails_failed", "Attempts the mail server did not take", ["kind"])


class CountedSender:
    """An EmailSender that counts what it sends, by the activity sending it. A message is
    counted sent when the server takes it: whatever fails after that (the outbox's row) is
    not the mail server refusing it."""

    def __init__(self, sender: EmailSender) -> None:
        self._sender = sender

    async def send(self, message: EmailMessage, *, accepted: Accepted | None = None) -> str:
        kind, attempt = "other", 1
        if activity.in_activity():
            info = activity.info()
            kind, attempt = info.activity_type, info.attempt
        if attempt > 1:
            EMAIL_RETRIES.labels(kind).inc()
        taken = False

        async def counted() -> None:
            nonlocal taken
            taken = True
            EMAILS_SENT.labels(kind).inc()
            if accepted is not None:
                await accepted()

        try:
            return await self._sender.send(message, accepted=counted)
        except Exception:
            if not taken:
                EMAILS_FAILED.labels(kind).inc()
            raise


def temporal_runtime(settings: Settings) -> Runtime:
    """The process's Temporal runtime: the SDK's metrics (and the workflows' own) served on
    TEMPORAL_METRICS_BIND when it is set."""
    bind = settings.temporal_metrics_bind
    metrics = PrometheusConfig(bind_address=bind) if bind else None
    return Runtime(telemetry=TelemetryConfig(metrics=metrics))
