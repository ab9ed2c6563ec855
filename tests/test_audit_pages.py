"""The auditor's pages over HTTP, with a real worker and the real dev server: the timeline in
both languages, the raw history, the document to file, the Replay button, and a journey read
from the archive once Temporal has dropped it."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from activities.archive import canonical_json
from audit.readable import readable
from core.hashing import hash_secret
from core.temporal import payloads_in
from db.engine import make_engine
from db.staff import StaffRole, create_staff_member
from settings import Settings
from tests.archive_helpers import archive_now, archived, declined_journey, delete_from_temporal
from tests.changed_workflow import ChangedOnboardingWorkflow
from tests.conftest import MailCatcher, NewWorker, reader
from tests.journeys import (
    new_username,
    to_portal,
)
from tests.web_helpers import Browser, Page, browser, element
from web.audit import replay_workflows
from web.journeys import journey_id_of
from workflows import rules
from workflows.registry import WORKFLOWS

STAFF_PASSWORD = "Staff-Passw0rd-for-tests"


@asynccontextmanager
async def staff_browser(
    settings: Settings,
    client: Client,
    role: StaffRole = StaffRole.AUDITOR,
    workflows: Sequence[type] = WORKFLOWS,
) -> AsyncIterator[Browser]:
    """A staff member signed in through the staff sign-in page; ``workflows`` stand in for
    today's code behind the Replay button."""
    username = f"staff{new_username()}"
    engine = make_engine(settings.sqlalchemy_url)
    try:
        create_staff_member(engine, username, role, hash_secret(STAFF_PASSWORD), "Ana Auditor")
    finally:
        engine.dispose()
    async with browser(settings, client, overrides={replay_workflows: lambda: workflows}) as b:
        page = await b.get("/en/staff/sign-in")
        await b.submit(page, "sign-in", {"username": username, "password": STAFF_PASSWORD})
        yield b


async def finished_journey(
    client: Client, settings: Settings, smtp: MailCatcher
) -> tuple[str, str]:
    """A GCKey journey walked to the portal; its journey id and username."""
    username = new_username()
    handle = await to_portal(client, settings, smtp, username, language="fr")
    return journey_id_of(handle.id), username


def timeline_rows(page: Page) -> list[str]:
    return page.texts("table.timeline tbody td:nth-child(2)")


async def test_the_timeline_of_a_finished_journey_in_english_and_french(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    async with new_worker(client, settings), staff_browser(settings, client) as b:
        journey_id, username = await finished_journey(client, settings, smtp)
        page = await b.get(f"/en/staff/journeys/{journey_id}/timeline")
        assert page.status == 200
        assert page.h1 == f"Timeline of journey {journey_id}"
        rows = timeline_rows(page)
        # The rule set the journey was checked against, as recorded when it started.
        assert rows[:2] == [
            f"Journey started, checked against rule set version {rules.RULES_VERSION}.",
            "Login choice: GCKey, in French.",
        ]
        for line in (
            f"Username chosen: {username}.",
            "Password set.",
            "Recovery answers set: 3 questions.",
            "Recovery e-mail address skipped.",
            "GCKey issued.",
            "E-mail address confirmed with link 1.",
        ):
            assert line in rows
        assert any(re.fullmatch(r"CERS user account created, URN [\d ]+\.", r) for r in rows)
        assert "read from Temporal" in page.text("main")
        times = [t.attributes.get("datetime") or "" for t in page.html.css("table time")]
        assert len(times) == len(rows)
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", t) for t in times)
        assert page.text("table.timeline caption").endswith("Times are in Eastern Time.")
        assert "argon2" not in page.response.text
        journey_page = await b.get(f"/en/staff/journeys/{journey_id}")
        assert journey_page.text(".rules-version") == rules.RULES_VERSION

        french = await b.get(f"/fr/staff/journeys/{journey_id}/timeline")
        rows = timeline_rows(french)
        assert french.h1 == f"Chronologie du parcours {journey_id}"
        # Page.texts folds every space, the no-break one before a colon too.
        assert rows[:2] == [
            f"Parcours commencé, vérifié selon les règles, version {rules.RULES_VERSION}.",
            "Choix d'ouverture de session : CléGC, en français.",
        ]
        assert "Mot de passe créé." in rows and "CléGC délivrée." in rows
        assert "argon2" not in french.response.text


# "binary/encrypted" as the JSON of a history writes metadata (base64).
ENCRYPTED_JSON = '"YmluYXJ5L2VuY3J5cHRlZA=="'


async def test_the_history_export_is_decoded_replays_and_the_document_carries_its_checksum(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    async with new_worker(client, settings), staff_browser(settings, client) as b:
        workflow_id = await declined_journey(client, settings)
        journey_id = journey_id_of(workflow_id)
        export = await b.http.get(f"/en/staff/journeys/{journey_id}/history.json")
        assert export.status_code == 200
        assert export.headers["content-disposition"].startswith("attachment; filename=")
        history = WorkflowHistory.from_json(workflow_id, export.text)
        # Temporal holds it encrypted; the export is the same events, decoded.
        fetched = await client.get_workflow_handle(workflow_id).fetch_history()
        assert [e.event_id for e in history.events] == [e.event_id for e in fetched.events]
        started = fetched.events[0].workflow_execution_started_event_attributes
        assert started.input.payloads[0].metadata["encoding"] == b"binary/encrypted"
        exported = history.events[0].workflow_execution_started_event_attributes
        assert exported.input.payloads[0].metadata["encoding"] == b"json/plain"
        # A downloaded export replays as it is, with no key at all.
        result = await Replayer(workflows=WORKFLOWS).replay_workflow(history)
        assert result.replay_failure is None

        document = Page(await b.http.get(f"/en/staff/journeys/{journey_id}/timeline.html"))
        assert document.status == 200
        assert document.h1 == f"Timeline of journey {journey_id}"
        assert document.text(".checksum") == hashlib.sha256(export.content).hexdigest()
        assert "Ana Auditor" in document.text("dl")
        assert document.texts("tbody td:nth-child(2)")[-1] == (
            "Journey ended: the terms and conditions were declined."
        )
        assert not document.html.css("link[rel=stylesheet], script, img")
        # Its one style element is allowed by its hash; nothing else may run or load.
        style = element(document.html, "style").text().encode()
        digest = base64.b64encode(hashlib.sha256(style).digest()).decode()
        policy = document.response.headers["content-security-policy"]
        assert f"style-src 'sha256-{digest}';" in policy
        assert "default-src 'none'; script-src 'none';" in policy
        assert "unsafe-inline" not in policy


async def test_the_replay_button_passes_with_todays_code_and_shows_a_changed_workflows_error(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    async with new_worker(client, settings):
        journey_id, _ = await finished_journey(client, settings, smtp)
        url = f"/en/staff/journeys/{journey_id}/timeline"
        async with staff_browser(settings, client, StaffRole.SUPPORT) as b:
            page = await b.submit(await b.get(url), "replay")
            assert page.text("#replay-title").startswith("Replay passed")
        changed = [ChangedOnboardingWorkflow]
        async with staff_browser(settings, client, workflows=changed) as b:
            page = await b.submit(await b.get(url), "replay")
            assert page.text("#replay-title").startswith("Replay failed")
            error = page.text(".replay-error")
            assert error.startswith("NondeterminismError: ")
            assert "[TMPRL1100] Nondeterminism error" in error


async def test_a_journey_temporal_has_dropped_is_read_and_replayed_from_the_archive(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    async with new_worker(client, settings), staff_browser(settings, client) as b:
        workflow_id = await declined_journey(client, settings)
        await archive_now(client, settings, workflow_id)
        await delete_from_temporal(client, workflow_id)
        url = f"/en/staff/journeys/{journey_id_of(workflow_id)}/timeline"
        page = await b.get(url)
        assert page.status == 200
        assert "read from the archive: Temporal no longer has it." in page.text("main")
        assert timeline_rows(page)[-1] == "Journey ended: the terms and conditions were declined."
        export = await b.http.get(url.replace("/timeline", "/history.json"))
        # The archive keeps the history encrypted; the export is decoded from it.
        kept = archived(settings)[workflow_id].history_json
        assert ENCRYPTED_JSON in kept and ENCRYPTED_JSON not in export.text
        keys = reader(client)
        decoded = await readable(WorkflowHistory.from_json(workflow_id, kept), keys)
        assert export.text == canonical_json(decoded)
        page = await b.submit(page, "replay")
        assert page.text("#replay-title").startswith("Replay passed")


async def test_no_hash_reaches_the_export_or_the_document(
    client: Client, settings: Settings, new_worker: NewWorker, smtp: MailCatcher
) -> None:
    """A journey whose history carries the password and recovery answer hashes (encrypted in
    Temporal): the auditor's export and filed document show neither, and say so."""
    async with new_worker(client, settings), staff_browser(settings, client) as b:
        journey_id, username = await finished_journey(client, settings, smtp)
        export = await b.http.get(f"/en/staff/journeys/{journey_id}/history.json")
        history = WorkflowHistory.from_json(f"onboarding-{journey_id}", export.text)
        said = b" ".join(p.data for e in history.events for p in payloads_in(e))
        assert username.encode() in said  # decoded for staff
        assert b'"password_hash":"[redacted]"' in said
        assert b'"answer_hash":"[redacted]"' in said
        assert b"argon2" not in said and "argon2" not in export.text
        assert (await Replayer(workflows=WORKFLOWS).replay_workflow(history)).replay_failure is None
        document = Page(await b.http.get(f"/en/staff/journeys/{journey_id}/timeline.html"))
        assert "Hashes redacted" in document.text("dl")
        assert document.text(".checksum") == hashlib.sha256(export.content).hexdigest()
        assert "argon2" not in document.response.text
        french = Page(await b.http.get(f"/fr/staff/journeys/{journey_id}/timeline.html"))
        assert "Hachages caviardés" in french.text("dl")
