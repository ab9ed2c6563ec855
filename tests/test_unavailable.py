"""Which Temporal failures are "try again in a moment" (the 503 page, nothing lost) rather than
a fault of the site: each as the SDK raises it, with the status bytes the server sends."""

from __future__ import annotations

from google.protobuf.any_pb2 import Any as AnyProto
from google.rpc.status_pb2 import Status  # type: ignore[import-untyped]
from temporalio.api.errordetails.v1 import NotFoundFailure, WorkflowNotReadyFailure
from temporalio.service import RPCError, RPCStatusCode

from web.temporal import is_unavailable


def rpc_error(status: RPCStatusCode, message: str, *details: object) -> RPCError:
    packed = []
    for detail in details:
        holder = AnyProto()
        holder.Pack(detail)  # type: ignore[arg-type]
        packed.append(holder)
    raw = Status(code=status.value, message=message, details=packed).SerializeToString()
    return RPCError(message, status, raw)


def test_a_workflow_not_ready_for_an_update_is_try_again() -> None:
    """Found by benchmarks/chaos.py stopping the worker while it held a workflow task: the
    person's press answered FAILED_PRECONDITION / WorkflowNotReady, shown as a bare 500."""
    not_ready = rpc_error(
        RPCStatusCode.FAILED_PRECONDITION,
        "Unable to perform workflow execution update due to Workflow Task in failed state.",
        WorkflowNotReadyFailure(),
    )
    assert is_unavailable(not_ready)


def test_other_refusals_are_not() -> None:
    assert not is_unavailable(rpc_error(RPCStatusCode.FAILED_PRECONDITION, "no"))
    assert not is_unavailable(rpc_error(RPCStatusCode.NOT_FOUND, "gone", NotFoundFailure()))
    assert not is_unavailable(rpc_error(RPCStatusCode.INVALID_ARGUMENT, "bad"))


def test_a_call_past_its_own_deadline_is_try_again() -> None:
    assert is_unavailable(rpc_error(RPCStatusCode.CANCELLED, "Timeout expired"))
    assert is_unavailable(rpc_error(RPCStatusCode.UNAVAILABLE, "connection refused"))
