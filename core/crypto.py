"""Every payload Temporal holds for this service, encrypted: AES-256-GCM under a key ring.

The first key of the ring encrypts; every key decrypts, so a new key goes first and the old
ones stay until nothing they encrypted is still read (running journeys, the archive). Each
payload names its key in its metadata, and the workflow it belongs to: the workflow id is
part of what the cipher authenticates, so a payload copied out of one workflow's history
into a message to another does not decode there.

A payload that is not ours (plain JSON someone wrote, another workflow's, a key that is not
in the ring, a changed byte) is refused: ``PayloadRefused``. A codec made to read old
histories takes plain payloads as they are; see core/temporal.py for who gets which.

Each journey's own data key (issue 10, item 5). Given a ``DataKeyStore`` (db/datakeys.py),
a payload the SDK says belongs to a workflow is sealed under that workflow's data key: a
random AES-256 key, kept in the application database wrapped by the ring's current key.
Destroying it (erasure) makes every copy of that workflow's payloads unreadable at once:
Temporal's, the archive's, an export's. Such a payload's metadata names no ring key but
``encryption-data-key``, and its workflow, from which a reader with no context (the codec
server, a history being read) finds the key. Where the SDK gives no workflow (the codec
server's encode, a call with no workflow), and without a store, the ring key seals, as before;
ring-key payloads (histories recorded before data keys) keep decoding.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
WORKFLOW_ID = "encryption-workflow-id"
DATA_KEY = "encryption-data-key"  # "journey": sealed under the workflow's own data key
DATA_KEY_KIND = b"journey"
NONCE_BYTES = 12
KEY_BYTES = 32  # AES-256
KEY_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Bound into every ciphertext: the format, the key and the workflow, so none can be swapped.
AAD_PREFIX = b"cers-payload-v1"
DATA_KEY_AAD_PREFIX = b"cers-payload-data-key-v1"
WRAP_AAD_PREFIX = b"cers-data-key-wrap-v1"


class PayloadRefused(Exception):
    """A payload this service did not encrypt for this workflow. The message says why and
    never holds any of the payload."""


class DataKeyErased(PayloadRefused):
    """The workflow's data key was destroyed: its personal information was erased."""


class DataKeyStore(Protocol):
    """Each workflow's data key; db/datakeys.py keeps them in the application database."""

    async def cipher_for(self, workflow_id: str, *, create: bool) -> AESGCM:
        """The workflow's data key, made on first use when ``create``. Raises
        ``DataKeyErased`` for an erased one and ``PayloadRefused`` for one that is not
        there (when not ``create``) or that the ring cannot unwrap."""
        ...

    async def claim(self, workflow_id: str, journey_id: str) -> None:
        """A data key made now for a workflow about to start on a journey's behalf, filed
        under that journey (its erasure erases this key too)."""
        ...


class BadKeyRing(ValueError):
    """The ring's text is malformed; the message names the fault, never a key."""


@dataclass(frozen=True)
class KeyRing:
    """Key id -> 32-byte key, in order: the first one encrypts."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise BadKeyRing("the key ring is empty")
        ids = [key_id for key_id, _ in self.keys]
        if len(set(ids)) != len(ids):
            raise BadKeyRing("a key id appears twice in the key ring")
        for key_id, key in self.keys:
            if not KEY_NAME.fullmatch(key_id):
                raise BadKeyRing("a key id may hold only letters, digits, '.', '_' and '-'")
            if len(key) != KEY_BYTES:
                raise BadKeyRing(f"key {key_id} is not {KEY_BYTES} bytes (AES-256)")

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """``id:base64,id:base64``: the first encrypts. Either base64 alphabet."""
        keys = []
        for part in text.replace("\n", ",").split(","):
            if not part.strip():
                continue
            key_id, sep, encoded = part.strip().partition(":")
            if not sep:
                raise BadKeyRing("each key is written id:base64")
            try:
                key = base64.b64decode(encoded.replace("-", "+").replace("_", "/"), validate=True)
            except (binascii.Error, ValueError) as err:
                raise BadKeyRing(f"key {key_id.strip()} is not base64") from err
            keys.append((key_id.strip(), key))
        return cls(tuple(keys))

    @staticmethod
    def new_key_text(key_id: str) -> str:
        """A fresh random key, written as the ring writes it."""
        return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"

    @property
    def current(self) -> str:
        return self.keys[0][0]

    @cached_property
    def ciphers(self) -> dict[str, AESGCM]:
        return {key_id: AESGCM(key) for key_id, key in self.keys}

    def text(self) -> str:
        return ",".join(f"{i}:{base64.b64encode(k).decode()}" for i, k in self.keys)


def context_workflow_id(context: SerializationContext | None) -> str | None:
    """The workflow a payload belongs to, as the SDK says it; None when it does not say."""
    if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext):
        return context.workflow_id
    return None


def associated_data(key_id: str, workflow_id: str) -> bytes:
    return b"\0".join((AAD_PREFIX, key_id.encode(), workflow_id.encode()))


def data_key_associated_data(workflow_id: str) -> bytes:
    return b"\0".join((DATA_KEY_AAD_PREFIX, workflow_id.encode()))


def wrap_data_key(ring: KeyRing, workflow_id: str, key: bytes) -> tuple[str, bytes]:
    """The data key sealed by the ring's current key, bound to its workflow: (ring key, bytes)."""
    key_id = ring.current
    nonce = os.urandom(NONCE_BYTES)
    aad = b"\0".join((WRAP_AAD_PREFIX, key_id.encode(), workflow_id.encode()))
    return key_id, nonce + ring.ciphers[key_id].encrypt(nonce, key, aad)


def unwrap_data_key(ring: KeyRing, workflow_id: str, key_id: str, wrapped: bytes) -> bytes:
    cipher = ring.ciphers.get(key_id)
    if cipher is None:
        raise PayloadRefused(f"a data key's ring key {key_id[:64]!r} is not in the key ring")
    aad = b"\0".join((WRAP_AAD_PREFIX, key_id.encode(), workflow_id.encode()))
    try:
        return cipher.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
    except InvalidTag as err:
        raise PayloadRefused("a data key does not unwrap: changed, or not ours") from err


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """AES-256-GCM over each whole payload (its metadata included), bound to its workflow.

    ``accept_plaintext``: a payload without our encoding is taken as it is, for reading
    histories recorded before encryption; otherwise it is refused. Without a serialization
    context (the codec server, a history being read), a payload decodes for whichever
    workflow it names; with one, only for that workflow. ``keys``: where each workflow's data
    key is kept; without it, everything is sealed with the ring key.
    """

    def __init__(
        self,
        ring: KeyRing,
        *,
        accept_plaintext: bool = False,
        workflow_id: str | None = None,
        keys: DataKeyStore | None = None,
    ) -> None:
        self.ring = ring
        self.accept_plaintext = accept_plaintext
        self.workflow_id = workflow_id
        self.keys = keys

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        # The SDK names the workflow for a client's call to one (start, update, signal,
        # query) and on the worker for its tasks and activities: that workflow's data key.
        workflow_id = context_workflow_id(context)
        if workflow_id == self.workflow_id:
            return self
        return self.reading(workflow_id=workflow_id)

    def reading(
        self, *, workflow_id: str | None = None, accept_plaintext: bool | None = None
    ) -> EncryptionCodec:
        """The same ring and store, for another workflow or with plaintext let through."""
        lenient = self.accept_plaintext if accept_plaintext is None else accept_plaintext
        return EncryptionCodec(
            self.ring, accept_plaintext=lenient, workflow_id=workflow_id, keys=self.keys
        )

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if self.keys is None or not self.workflow_id or not payloads:
            return [self.encrypt(p) for p in payloads]
        # One look-up per call (cached by the store): every payload here is this workflow's.
        cipher = await self.keys.cipher_for(self.workflow_id, create=True)
        return [self.seal_with(cipher, self.workflow_id, p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [await self.open(p) for p in payloads]

    @staticmethod
    def seal_with(cipher: AESGCM, workflow_id: str, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = cipher.encrypt(
            nonce, payload.SerializeToString(), data_key_associated_data(workflow_id)
        )
        metadata = {
            "encoding": ENCODING,
            DATA_KEY: DATA_KEY_KIND,
            WORKFLOW_ID: workflow_id.encode(),
        }
        return Payload(metadata=metadata, data=nonce + sealed)

    async def open(self, payload: Payload) -> Payload:
        """Any payload of ours: under a workflow's data key, or the ring's."""
        if payload.metadata.get(DATA_KEY) is None or payload.metadata.get("encoding") != ENCODING:
            return self.decrypt(payload)
        bound = payload.metadata.get(WORKFLOW_ID, b"").decode(errors="replace")
        if self.workflow_id is not None and bound != self.workflow_id:
            raise PayloadRefused("a payload was encrypted for another workflow, or for none")
        if payload.metadata[DATA_KEY] != DATA_KEY_KIND or not bound:
            raise PayloadRefused("a payload names a data key this service does not make")
        if self.keys is None:
            raise PayloadRefused("a payload is under a journey's data key, and no store is here")
        cipher = await self.keys.cipher_for(bound, create=False)
        data = payload.data
        try:
            plain = cipher.decrypt(
                data[:NONCE_BYTES], data[NONCE_BYTES:], data_key_associated_data(bound)
            )
        except InvalidTag as err:
            raise PayloadRefused("a payload does not decrypt: changed, or not ours") from err
        return Payload.FromString(plain)

    def encrypt(self, payload: Payload) -> Payload:
        """Under the ring's current key: where no workflow's data key applies."""
        key_id = self.ring.current
        bound = self.workflow_id or ""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.ring.ciphers[key_id].encrypt(
            nonce, payload.SerializeToString(), associated_data(key_id, bound)
        )
        metadata = {"encoding": ENCODING, KEY_ID: key_id.encode()}
        if bound:
            metadata[WORKFLOW_ID] = bound.encode()
        return Payload(metadata=metadata, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        """A ring-key payload (or plain, when let through); a data-key one is ``open``'s."""
        if payload.metadata.get("encoding") != ENCODING:
            if self.accept_plaintext:
                return payload
            raise PayloadRefused("a payload was not encrypted by this service")
        if DATA_KEY in payload.metadata:
            raise PayloadRefused("a payload is under a journey's data key: open it")
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        bound = payload.metadata.get(WORKFLOW_ID, b"").decode(errors="replace")
        if self.workflow_id is not None and bound != self.workflow_id:
            raise PayloadRefused("a payload was encrypted for another workflow, or for none")
        cipher = self.ring.ciphers.get(key_id)
        if cipher is None:
            raise PayloadRefused(f"a payload's key {key_id[:64]!r} is not in the key ring")
        data = payload.data
        try:
            plain = cipher.decrypt(
                data[:NONCE_BYTES], data[NONCE_BYTES:], associated_data(key_id, bound)
            )
        except InvalidTag as err:
            raise PayloadRefused("a payload does not decrypt: changed, or not ours") from err
        return Payload.FromString(plain)
