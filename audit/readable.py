"""A history as people may read it: its payloads decoded with the key ring, and every hash in
them (the password's, the recovery answers', a reset code's) replaced by ``[redacted]``.

Temporal and the archive keep the history encrypted, hashes and all; only this copy is shown
or exported, and an export's SHA-256 is over this copy. The fields stay, with a string in
place of each hash, so an exported history still replays.
"""

from __future__ import annotations

import json
from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import PayloadCodec

from core.temporal import decode_in_place, payloads_in

REDACTED = "[redacted]"


def is_hash(key: str) -> bool:
    return key.endswith("_hash")


def redact_hashes(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: REDACTED if is_hash(str(k)) and isinstance(v, str) else redact_hashes(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_hashes(v) for v in value]
    return value


def redact_event(event: HistoryEvent) -> None:
    for payload in payloads_in(event):
        if payload.metadata.get("encoding") != b"json/plain":
            continue
        try:
            value = json.loads(payload.data)
        except ValueError:
            continue
        redacted = redact_hashes(value)
        if redacted != value:
            payload.data = json.dumps(redacted, separators=(",", ":")).encode()


async def readable(history: WorkflowHistory, codec: PayloadCodec) -> WorkflowHistory:
    """A decoded, redacted copy; the history handed in is left as it was."""
    events = []
    for event in history.events:
        copy = HistoryEvent()
        copy.CopyFrom(event)
        await decode_in_place(copy, codec)
        redact_event(copy)
        events.append(copy)
    return WorkflowHistory(history.workflow_id, events)
