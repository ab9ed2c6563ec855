"""The codec server the Temporal Web UI calls, over HTTP against the real app, worker and dev
server: who gets plaintext (staff, from the UI's origin), who does not (anonymous, an exporter,
another origin), CORS for the UI's origin only, and what `temporal workflow show` prints of a
finished journey without it (ciphertext)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from core.temporal import payloads_in
from devstack.servers import BIN
from settings import Settings
from tests.conftest import MailCatcher, NewWorker
from tests.journeys import new_username, to_portal
from tests.staff_helpers import Staff, staff_sign_in
from tests.web_helpers import browser, sign_up

UI = "http://127.0.0.1:8233"
JSON = {"Content-Type": "application/json", "X-Namespace": "default"}


def as_json(payloads: list[Payload]) -> dict[str, Any]:
    """The body the UI sends: protobuf JSON of a Payloads message."""
    return {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in payloads
        ]
    }


def plaintext_of(body: dict[str, Any]) -> str:
    return " ".join(base64.b64decode(p.get("data", "")).decode("latin-1") for p in body["payloads"])


async def journey_payloads(client: Client, workflow_id: str) -> list[Payload]:
    """Every payload of the journey's history that goes through the codec. Not the search
    attributes, nor what Temporal's core writes in markers for itself (a patch's name, a
    local activity's number, type and times); a local activity's result does."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    found = []
    for event in history.events:
        marker = event.marker_recorded_event_attributes
        if marker.marker_name:
            found += [
                p for name, ps in marker.details.items() if name == "result" for p in ps.payloads
            ]
        else:
            found += [p for p in payloads_in(event) if "type" not in p.metadata]
    return found


async def test_only_staff_from_the_temporal_ui_get_plaintext(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    settings.temporal_ui_origin = UI
    staff = Staff(settings)
    async with new_worker(client, settings):
        username = new_username()
        handle = await to_portal(client, settings, smtp, username)
        payloads = await journey_payloads(client, handle.id)
        body = as_json(payloads)
        # What Temporal holds: no name, username or e-mail anywhere.
        assert [p for p in payloads if p.metadata["encoding"] != b"binary/encrypted"] == []
        assert "Tremblay" not in plaintext_of(body) and username not in plaintext_of(body)

        async with browser(settings, client) as anonymous:
            said = await anonymous.http.post(
                "/codec/decode", json=body, headers={**JSON, "Origin": UI}
            )
            assert said.status_code == 401
            assert said.json() == {"error": "sign in as staff on the site first"}
            assert "Tremblay" not in said.text

        async with browser(settings, client) as exporter:
            await sign_up(exporter, "en", new_username())
            said = await exporter.http.post(
                "/codec/decode", json=body, headers={**JSON, "Origin": UI}
            )
            assert said.status_code == 403 and "Tremblay" not in said.text

        async with browser(settings, client) as b:
            await staff_sign_in(b, staff.auditor)
            said = await b.http.post("/codec/decode", json=body, headers={**JSON, "Origin": UI})
            assert said.status_code == 200
            assert said.headers["access-control-allow-origin"] == UI
            assert said.headers["access-control-allow-credentials"] == "true"
            assert said.headers["cache-control"] == "no-store"
            decoded = said.json()
            assert len(decoded["payloads"]) == len(payloads)
            plain = plaintext_of(decoded)
            assert "Tremblay" in plain and username in plain and "@example.ca" in plain

            # Another site's page, or no page at all, gets nothing, cookie or not.
            for headers in ({**JSON, "Origin": "https://evil.example"}, JSON):
                said = await b.http.post("/codec/decode", json=body, headers=headers)
                assert said.status_code == 403 and "Tremblay" not in said.text
                assert "access-control-allow-origin" not in said.headers
            # Not JSON (a form another site could post): refused before anything is read.
            said = await b.http.post(
                "/codec/decode", content=json.dumps(body), headers={"Origin": UI}
            )
            assert said.status_code == 415
            said = await b.http.post(
                "/codec/decode", content=b"{nonsense", headers={**JSON, "Origin": UI}
            )
            assert said.status_code == 400
            other = {**JSON, "Origin": UI, "X-Namespace": "another"}
            said = await b.http.post("/codec/decode", json=body, headers=other)
            assert said.status_code == 403


async def test_encode_round_trips_for_staff(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    settings.temporal_ui_origin = UI
    staff = Staff(settings)
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"note":"from the UI"}')
    async with browser(settings, client) as b:
        said = await b.http.post(
            "/codec/encode", json=as_json([plain]), headers={**JSON, "Origin": UI}
        )
        assert said.status_code == 401
        await staff_sign_in(b, staff.support)
        said = await b.http.post(
            "/codec/encode", json=as_json([plain]), headers={**JSON, "Origin": UI}
        )
        assert said.status_code == 200
        (sealed,) = said.json()["payloads"]
        assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
        assert b"from the UI" not in base64.b64decode(sealed["data"])
        said = await b.http.post(
            "/codec/decode", json={"payloads": [sealed]}, headers={**JSON, "Origin": UI}
        )
        assert plaintext_of(said.json()) == '{"note":"from the UI"}'


async def test_cors_preflight_answers_the_temporal_ui_alone(
    client: Client, settings: Settings
) -> None:
    settings.temporal_ui_origin = UI
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace",
    }
    async with browser(settings, client) as b:
        said = await b.http.options("/codec/decode", headers={**preflight, "Origin": UI})
        assert said.status_code == 200
        assert said.headers["access-control-allow-origin"] == UI
        assert said.headers["access-control-allow-credentials"] == "true"
        assert "POST" in said.headers["access-control-allow-methods"]
        allowed = said.headers["access-control-allow-headers"].lower()
        assert "content-type" in allowed and "x-namespace" in allowed
        said = await b.http.options(
            "/codec/decode", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert said.status_code == 400
        assert "access-control-allow-origin" not in said.headers
        # The rest of the site is not opened to the UI's origin.
        said = await b.http.options("/en/staff/journeys", headers={**preflight, "Origin": UI})
        assert "access-control-allow-origin" not in said.headers
        page = await b.http.get("/en/login", headers={"Origin": UI})
        assert "access-control-allow-origin" not in page.headers


async def test_with_no_origin_configured_nobody_gets_plaintext(
    client: Client, settings: Settings
) -> None:
    staff = Staff(settings)
    async with browser(settings, client) as b:
        await staff_sign_in(b, staff.auditor)
        said = await b.http.post("/codec/decode", json={"payloads": []}, headers=JSON)
        assert said.status_code == 403


async def test_temporal_workflow_show_prints_no_name_email_or_username(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    """The CLI, as anyone who can reach Temporal would run it, without the codec."""
    async with new_worker(client, settings):
        username = new_username()
        handle = await to_portal(client, settings, smtp, username)
        state = await handle.query("journey")
        address = state["profile"]["email"]
    shown = await asyncio.create_subprocess_exec(
        str(BIN / "temporal"),
        *("workflow", "show", "--workflow-id", handle.id, "--output", "json"),
        *("--address", client.service_client.config.target_host),
        *("--namespace", client.namespace),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await shown.communicate()
    assert shown.returncode == 0, err.decode()
    text = out.decode()
    assert "workflowExecutionUpdateAccepted" in text or "WORKFLOW_EXECUTION_UPDATE" in text
    decoded_somewhere = text + " ".join(
        base64.b64decode(chunk).decode("latin-1") for chunk in _base64_strings(json.loads(text))
    )
    for secret in (username, address, "Marie", "Tremblay", "argon2id"):
        assert secret not in decoded_somewhere, secret


def _base64_strings(value: Any) -> list[str]:
    """Every string in the CLI's JSON that decodes as base64: payload data and metadata."""
    found: list[str] = []
    if isinstance(value, dict):
        for v in value.values():
            found += _base64_strings(v)
    elif isinstance(value, list):
        for v in value:
            found += _base64_strings(v)
    elif isinstance(value, str) and len(value) % 4 == 0:
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            return []
        found.append(value)
    return found
