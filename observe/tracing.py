"""Traces: OpenTelemetry, exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set, and
nothing at all otherwise (no provider, no interceptor, no instrumentation: no cost).

One trace follows a form POST: the site's HTTP span (web/observe.py), the Temporal client's
update span, the worker's handler span and the activity's, joined through Temporal headers by
the SDK's TracingInterceptor. Span attributes are ids (workflow, run, update, activity) and
route templates, never a form's content; the site redacts URLs (web/observe.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind
from temporalio import client, worker
from temporalio.api.common.v1 import Payload
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor
from temporalio.contrib.opentelemetry._context import attached_context

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


class RequestTracing(TracingInterceptor):
    """The SDK's TracingInterceptor, whose update and signal spans are children of the request
    that sent them rather than of the request that started the journey (days before, perhaps),
    so one form POST is one trace: HTTP -> update -> handler -> activity. Subclassed as the
    SDK's docstring says to customize it."""

    def workflow_interceptor_class(
        self, input: worker.WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        super().workflow_interceptor_class(input)  # the extern functions it needs
        return RequestTracedWorkflow


class RequestTracedWorkflow(TracingWorkflowInboundInterceptor):
    @contextmanager
    def _sender(self, headers: Mapping[str, Payload]) -> Iterator[None]:
        """Runs under the context the message's own header carries."""
        carrier = self.payload_converter.from_payloads([headers[self.header_key]])[0]
        context = self._set_on_context(self.text_map_propagator.extract(carrier))
        with attached_context(context):
            yield

    async def handle_signal(self, input: worker.HandleSignalInput) -> None:
        if self.header_key not in input.headers:
            return await super().handle_signal(input)
        with self._sender(input.headers):
            self._completed_span(f"HandleSignal:{input.signal}", kind=SpanKind.SERVER)
            await self.next.handle_signal(input)

    def handle_update_validator(self, input: worker.HandleUpdateInput) -> None:
        if self.header_key not in input.headers:
            return super().handle_update_validator(input)
        with self._sender(input.headers):
            self._completed_span(f"ValidateUpdate:{input.update}", kind=SpanKind.SERVER)
            self.next.handle_update_validator(input)

    async def handle_update_handler(self, input: worker.HandleUpdateInput) -> Any:
        if self.header_key not in input.headers:
            return await super().handle_update_handler(input)
        with self._sender(input.headers):
            self._completed_span(f"HandleUpdate:{input.update}", kind=SpanKind.SERVER)
            return await self.next.handle_update_handler(input)


def provider_for(settings: Settings, service: str) -> TracerProvider | None:
    return tracer_provider(settings.otel_exporter_otlp_endpoint, service)


def temporal_interceptors(
    provider: TracerProvider | None,
) -> list[client.Interceptor]:
    """What every Temporal client of the service is made with; its workers inherit them."""
    found: list[client.Interceptor] = [RequestIds()]
    if provider is not None:
        found.append(RequestTracing(provider.get_tracer("cers")))
    return found
