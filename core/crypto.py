"""Every payload Temporal holds for this service, encrypted: AES-256-GCM under a key ring.

The first key of the ring encrypts; every key decrypts, so a new key goes first and the old
ones stay until nothing they encrypted is still read (running journeys, the archive). Each
payload names its key in its metadata, and the workflow it belongs to: the workflow id is
part of what the cipher authenticates, so a payload copied out of one workflow's history
into a message to another does not decode there.

A payload that is not ours (plain JSON someone wrote, another workflow's, a key that is not
in the ring, a changed byte) is refused: ``PayloadRefused``. A codec made to read old
histories takes plain payloads as they are; see core/temporal.py for who gets which.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

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
NONCE_BYTES = 12
KEY_BYTES = 32  # AES-256
KEY_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Bound into every ciphertext: the format, the key and the workflow, so none can be swapped.
AAD_PREFIX = b"cers-payload-v1"


class PayloadRefused(Exception):
    """A payload this service did not encrypt for this workflow. The message says why and
    never holds any of the payload."""


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


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """AES-256-GCM over each whole payload (its metadata included), bound to its workflow.

    ``accept_plaintext``: a payload without our encoding is taken as it is, for reading
    histories recorded before encryption; otherwise it is refused. Without a serialization
    context (the codec server, a history being read), a payload decodes for whichever
    workflow it names; with one, only for that workflow.
    """

    def __init__(
        self,
        ring: KeyRing,
        *,
        accept_plaintext: bool = False,
        workflow_id: str | None = None,
    ) -> None:
        self.ring = ring
        self.accept_plaintext = accept_plaintext
        self.workflow_id = workflow_id

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        # A per-journey data key (issue 10, item 5) would be chosen here, from the same id.
        workflow_id = context_workflow_id(context)
        if workflow_id == self.workflow_id:
            return self
        return EncryptionCodec(
            self.ring, accept_plaintext=self.accept_plaintext, workflow_id=workflow_id
        )

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
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
        if payload.metadata.get("encoding") != ENCODING:
            if self.accept_plaintext:
                return payload
            raise PayloadRefused("a payload was not encrypted by this service")
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
