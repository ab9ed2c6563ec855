"""The request id: made (or taken from a trusted proxy) by the site for each request, on every
log line of that request, and carried in a Temporal header to the workflow call it makes and the
activities that call starts, whose log lines carry it too.

It is an opaque token (32 random hex digits, or a proxy's id of the same shape), never
anything about who sent the request. Headers are not encrypted by the payload codec; nothing
else is put in them.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from typing import Any

from temporalio import client, worker
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadConverter

REQUEST_ID: ContextVar[str | None] = ContextVar("cers_request_id", default=None)
HEADER = "cers-request-id"
# What a proxy's X-Request-ID must look like to be kept: short, no spaces, nothing a log
# line could be forged with.
SHAPE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_payloads = PayloadConverter.default


def new_request_id() -> str:
    """32 random hex digits, a uuid4's shape: ``secrets`` makes them without a UUID object."""
    return secrets.token_hex(16)


def acceptable(value: str) -> bool:
    return SHAPE.fullmatch(value) is not None


def with_request_id(headers: Any) -> Any:
    """``headers`` (a Temporal header mapping) with the current request id, if there is one."""
    request_id = REQUEST_ID.get()
    if request_id is None:
        return headers
    return {**headers, HEADER: _payloads.to_payload(request_id)}


def request_id_in(headers: Any) -> str | None:
    payload: Payload | None = headers.get(HEADER)
    if payload is None:
        return None
    value = _payloads.from_payload(payload, str)
    return value if isinstance(value, str) and acceptable(value) else None


class RequestIds(client.Interceptor, worker.Interceptor):
    """On the client: every workflow call made during a request carries its id. On the worker:
    the update, signal or query handler and the activities it starts run with that id."""

    def intercept_client(self, next: client.OutboundInterceptor) -> client.OutboundInterceptor:
        return _ClientOutbound(next)

    def intercept_activity(
        self, next: worker.ActivityInboundInterceptor
    ) -> worker.ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(
        self, input: worker.WorkflowInterceptorClassInput
    ) -> type[worker.WorkflowInboundInterceptor]:
        return _WorkflowInbound


class _ClientOutbound(client.OutboundInterceptor):
    async def start_workflow(
        self, input: client.StartWorkflowInput
    ) -> client.WorkflowHandle[Any, Any]:
        input.headers = with_request_id(input.headers)
        return await super().start_workflow(input)

    async def signal_workflow(self, input: client.SignalWorkflowInput) -> None:
        input.headers = with_request_id(input.headers)
        await super().signal_workflow(input)

    async def query_workflow(self, input: client.QueryWorkflowInput) -> Any:
        input.headers = with_request_id(input.headers)
        return await super().query_workflow(input)

    async def start_workflow_update(
        self, input: client.StartWorkflowUpdateInput
    ) -> client.WorkflowUpdateHandle[Any]:
        input.headers = with_request_id(input.headers)
        return await super().start_workflow_update(input)

    async def start_update_with_start_workflow(
        self, input: client.StartWorkflowUpdateWithStartInput
    ) -> client.WorkflowUpdateHandle[Any]:
        input.start_workflow_input.headers = with_request_id(input.start_workflow_input.headers)
        input.update_workflow_input.headers = with_request_id(input.update_workflow_input.headers)
        return await super().start_update_with_start_workflow(input)


class _ActivityInbound(worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: worker.ExecuteActivityInput) -> Any:
        token = REQUEST_ID.set(request_id_in(input.headers))
        try:
            return await super().execute_activity(input)
        finally:
            REQUEST_ID.reset(token)


class _WorkflowInbound(worker.WorkflowInboundInterceptor):
    """Each handler runs in its own task, so the id set here is that handler's alone (the run
    itself has none: what it does is not one request's doing). Nothing here changes what the
    workflow does: its commands replay the same with or without it."""

    def init(self, outbound: worker.WorkflowOutboundInterceptor) -> None:
        super().init(_WorkflowOutbound(outbound))

    async def handle_signal(self, input: worker.HandleSignalInput) -> None:
        token = REQUEST_ID.set(request_id_in(input.headers))
        try:
            await super().handle_signal(input)
        finally:
            REQUEST_ID.reset(token)

    def handle_update_validator(self, input: worker.HandleUpdateInput) -> None:
        token = REQUEST_ID.set(request_id_in(input.headers))
        try:
            super().handle_update_validator(input)
        finally:
            REQUEST_ID.reset(token)

    async def handle_update_handler(self, input: worker.HandleUpdateInput) -> Any:
        token = REQUEST_ID.set(request_id_in(input.headers))
        try:
            return await super().handle_update_handler(input)
        finally:
            REQUEST_ID.reset(token)


class _WorkflowOutbound(worker.WorkflowOutboundInterceptor):
    def start_activity(self, input: worker.StartActivityInput) -> Any:
        input.headers = with_request_id(input.headers)
        return super().start_activity(input)

    def start_local_activity(self, input: worker.StartLocalActivityInput) -> Any:
        input.headers = with_request_id(input.headers)
        return super().start_local_activity(input)
