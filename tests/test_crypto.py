"""The payload codec and its key ring, on their own: what decodes, what is refused and why, a
rotated ring, and the settings that make the ring (a development file readable by its owner
only; elsewhere a missing or malformed ring names the variable, never a value)."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext

from core.crypto import KEY_ID, WORKFLOW_ID, BadKeyRing, EncryptionCodec, KeyRing, PayloadRefused
from settings import PAYLOAD_KEYS_FILE, Settings

RING = KeyRing.parse(KeyRing.new_key_text("a"))
PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"given_name":"Marie"}')


def for_workflow(codec: EncryptionCodec, workflow_id: str) -> EncryptionCodec:
    return codec.with_context(WorkflowSerializationContext("default", workflow_id))


def test_a_payload_decodes_for_its_own_workflow_only() -> None:
    codec = for_workflow(EncryptionCodec(RING), "onboarding-1")
    sealed = codec.encrypt(PLAIN)
    assert b"Marie" not in sealed.SerializeToString()
    assert sealed.metadata[KEY_ID] == b"a" and sealed.metadata[WORKFLOW_ID] == b"onboarding-1"
    assert codec.decrypt(sealed) == PLAIN
    # The activity a workflow runs is the same workflow.
    activity = codec.with_context(
        ActivitySerializationContext("default", "1", None, None, "onboarding-1", None, True)
    )
    assert activity.decrypt(sealed) == PLAIN
    with pytest.raises(PayloadRefused, match="another workflow"):
        for_workflow(codec, "onboarding-2").decrypt(sealed)
    # Without a context (the codec server, a history read), it decodes for the one it names.
    assert EncryptionCodec(RING).decrypt(sealed) == PLAIN


def test_what_is_not_ours_is_refused_and_says_why_without_the_payload() -> None:
    codec = for_workflow(EncryptionCodec(RING), "onboarding-1")
    sealed = codec.encrypt(PLAIN)
    refusals = {
        "not encrypted": PLAIN,
        "for none": EncryptionCodec(RING).encrypt(PLAIN),  # what /codec/encode makes
        "not in the key ring": for_workflow(
            EncryptionCodec(KeyRing.parse(KeyRing.new_key_text("other"))), "onboarding-1"
        ).encrypt(PLAIN),
    }
    changed = Payload()
    changed.CopyFrom(sealed)
    changed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    refusals["does not decrypt"] = changed
    moved = Payload()
    moved.CopyFrom(sealed)
    moved.metadata[WORKFLOW_ID] = b"onboarding-2"  # relabelled for another workflow
    refusals["does not decrypt "] = moved
    for why, payload in refusals.items():
        target = for_workflow(codec, "onboarding-2") if payload is moved else codec
        with pytest.raises(PayloadRefused, match=why.strip()) as refused:
            target.decrypt(payload)
        assert "Marie" not in str(refused.value)


def test_old_plain_histories_read_only_where_plaintext_is_accepted() -> None:
    lenient = for_workflow(EncryptionCodec(RING, accept_plaintext=True), "onboarding-1")
    assert lenient.decrypt(PLAIN) == PLAIN
    assert lenient.encrypt(PLAIN).metadata["encoding"] == b"binary/encrypted"  # writes sealed


def test_a_rotated_ring_writes_with_the_new_key_and_reads_the_old() -> None:
    under_a = for_workflow(EncryptionCodec(RING), "onboarding-1").encrypt(PLAIN)
    rotated = KeyRing.parse(f"{KeyRing.new_key_text('b')},{RING.text()}")
    codec = for_workflow(EncryptionCodec(rotated), "onboarding-1")
    assert codec.decrypt(under_a) == PLAIN
    assert codec.encrypt(PLAIN).metadata[KEY_ID] == b"b"


@given(
    st.binary(max_size=2048),
    st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=80),
)
def test_any_payload_round_trips(data: bytes, workflow_id: str) -> None:
    payload = Payload(metadata={"encoding": b"binary/plain"}, data=data)
    codec = for_workflow(EncryptionCodec(RING), workflow_id)
    assert codec.decrypt(codec.encrypt(payload)) == payload


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("a", "id:base64"),
        ("a:!!!!", "not base64"),
        (f"a:{base64.b64encode(b'short').decode()}", "not 32 bytes"),
        (f"{RING.text()},{RING.text()}", "twice"),
        (f"a b:{base64.b64encode(os.urandom(32)).decode()}", "only letters"),
    ],
)
def test_a_malformed_ring_says_what_is_wrong_never_a_key(text: str, why: str) -> None:
    with pytest.raises(BadKeyRing, match=why) as refused:
        KeyRing.parse(text)
    for part in text.split(","):
        secret = part.partition(":")[2]
        assert not secret or secret not in str(refused.value)


def test_development_keeps_its_own_ring_readable_by_its_owner_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PAYLOAD_KEYS", raising=False)
    first = Settings(_env_file=None)  # type: ignore[call-arg]
    again = Settings(_env_file=None)  # type: ignore[call-arg]
    assert first.payload_ring == again.payload_ring and len(first.payload_ring.keys) == 1
    assert stat.S_IMODE((tmp_path / PAYLOAD_KEYS_FILE).stat().st_mode) == 0o600
    assert first.payload_keys.get_secret_value() not in repr(first)


@pytest.mark.parametrize("environment", ["test", "production"])
def test_outside_development_a_missing_or_malformed_ring_refuses_to_start(
    environment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.setenv("SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.delenv("PAYLOAD_KEYS", raising=False)
    with pytest.raises(ValidationError, match="PAYLOAD_KEYS must be set"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    short = base64.b64encode(b"sixteen byte key").decode()
    monkeypatch.setenv("PAYLOAD_KEYS", f"k1:{short}")
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert "PAYLOAD_KEYS" in str(refused.value) and short not in str(refused.value)
