"""The one data converter every Temporal client and worker of this service is made with.

Two kinds, from the same key ring:

- ``data_converter``: the worker, the site, the benchmarks, the tests. Everything it sends is
  encrypted; what it receives must be ours, or it is refused. ``accept_plaintext`` is the
  cut-over window (PAYLOAD_ACCEPT_PLAINTEXT), open only while journeys started before
  encryption move onto encrypted history (README, "Encryption in Temporal").
- ``history_converter``: what reads histories (the replayer, the auditor's pages, the
  archive): it also takes the plain payloads of histories recorded before encryption.

Both take the data-key store (db/datakeys.py) so each workflow's payloads are sealed under
its own key, and any workflow's read: every client and worker is given it here. Without one
(a client that only reads plain histories, the time-skipping tests) the ring key seals.

Failures go through the codec too: their message and stack trace travel in the encoded
attributes, so neither reaches Temporal in the clear.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from core.crypto import DataKeyStore, EncryptionCodec, KeyRing, PayloadRefused


def data_converter(
    ring: KeyRing, keys: DataKeyStore | None = None, *, accept_plaintext: bool = False
) -> DataConverter:
    return DataConverter(
        payload_codec=EncryptionCodec(ring, accept_plaintext=accept_plaintext, keys=keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def history_converter(ring: KeyRing, keys: DataKeyStore | None = None) -> DataConverter:
    return data_converter(ring, keys, accept_plaintext=True)


def reader_of(converter: DataConverter, ring: KeyRing) -> EncryptionCodec:
    """What reads histories with the keys a client or worker was made with (its ring and
    data-key store), plain payloads let through. A converter not made here (a test's plain
    client) reads with ``ring`` alone."""
    codec = converter.payload_codec
    if isinstance(codec, EncryptionCodec):
        return codec.reading(accept_plaintext=True)
    return EncryptionCodec(ring, accept_plaintext=True)


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every payload held anywhere in ``message``: event attributes, failures, memo, maps."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is not None:
                for entry in value.values():
                    yield from payloads_in(entry)
        elif field.is_repeated:
            for item in value:
                yield from payloads_in(item)
        else:
            yield from payloads_in(value)


def failures_in(message: Message) -> Iterator[Failure]:
    if isinstance(message, Failure):
        yield message
    for field, value in message.ListFields():
        if field.message_type is None or field.message_type.GetOptions().map_entry:
            continue
        for item in value if field.is_repeated else [value]:
            yield from failures_in(item)


async def decode_in_place(message: Message, codec: PayloadCodec) -> None:
    """Every payload in ``message`` (a history event, a description) decoded where it is, and
    every failure's message and stack trace put back from its encoded attributes. A payload
    the codec refuses stays as it was: a reader shows what it can."""
    for payload in list(payloads_in(message)):
        try:
            (decoded,) = await codec.decode([payload])
        except PayloadRefused:
            continue
        payload.CopyFrom(decoded)
    for failure in failures_in(message):
        attributes = failure.encoded_attributes
        if failure.HasField("encoded_attributes") and (
            attributes.metadata.get("encoding") == b"json/plain"
        ):
            said = json.loads(attributes.data)
            failure.message = str(said.get("message", ""))
            failure.stack_trace = str(said.get("stack_trace", ""))
            failure.ClearField("encoded_attributes")
