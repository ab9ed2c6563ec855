"""Traces: OpenTelemetry, exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set, and
nothing at all otherwise (no provider, no interceptor, no instrumentation: no cost).

One trace follows a form POST: the site's HTTP span (web/observe.py), the Temporal client's
update span, the worker's handler span and the activity's, joined through Temporal headers by
the SDK's TracingInterceptor. Span attributes are ids (workflow, run, update, activity) and
route templates, never a form's content; the site redacts URLs (web/observe.py).
"""

from __future__ import annotations

from functools import cache

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio import client
from temporalio.contrib.opentelemetry import TracingInterceptor

from observe.requests import RequestIds
from settings import Settings


@cache
def tracer_provider(endpoint: str, service: str) -> TracerProvider | None:
    """The process's provider for OTLP ``endpoint`` (its base URL), made once; None: off."""
    if not endpoint:
        return None
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def provider_for(settings: Settings, service: str) -> TracerProvider | None:
    return tracer_provider(settings.otel_exporter_otlp_endpoint, service)


def temporal_interceptors(
    provider: TracerProvider | None,
) -> list[client.Interceptor]:
    """What every Temporal client of the service is made with; its workers inherit them."""
    found: list[client.Interceptor] = [RequestIds()]
    if provider is not None:
        found.append(TracingInterceptor(provider.get_tracer("cers")))
    return found
