"""The persistence activities and the migrations, against real SQLite and PostgreSQL.

Every write is keyed by the journey, so Temporal may retry any of them: the tests run each
activity twice and check that the second run changes nothing a person could see.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect
from sqlmodel import Session, col, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.accounts import AccountActivities
from core.hashing import hash_secret, verify_secret
from core.normalize import normalize_answer
from db.engine import MIGRATIONS, make_engine, migrate
from db.models import GCKey, RecoveryAnswerRow, UserAccount
from workflows import rules
from workflows.activity_types import (
    IssueGCKeyInput,
    MarkEmailConfirmedInput,
    ReserveUsernameInput,
    StoreUserAccountInput,
)
from workflows.types import (
    NO_USERNAME,
    USERNAME_TAKEN,
    LoginMethod,
    Profile,
    RecoveryAnswer,
)

ISSUED = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
LATER = ISSUED + timedelta(minutes=5)
TABLES = {"gckey", "recovery_answer", "user_account"}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def accounts(engine: Engine) -> AccountActivities:
    return AccountActivities(engine)


async def reserve(accounts: AccountActivities, journey_id: str, username: str) -> str:
    result = await ActivityEnvironment().run(
        accounts.reserve_username, ReserveUsernameInput(journey_id, username)
    )
    return result.username


def answers(*texts: str, hint: str = "hint") -> list[RecoveryAnswer]:
    questions = ["first_pet", "first_school", "childhood_street"]
    return [
        RecoveryAnswer(q, hash_secret(normalize_answer(t)), f"{hint} {i}")
        for i, (q, t) in enumerate(zip(questions, texts, strict=True))
    ]


def issue_input(
    journey_id: str, password_hash: str, recovery: list[RecoveryAnswer], at: datetime
) -> IssueGCKeyInput:
    return IssueGCKeyInput(
        journey_id=journey_id,
        login_method=LoginMethod.GCKEY,
        password_hash=password_hash,
        recovery_answers=recovery,
        recovery_email="marie@example.ca",
        issued_at=at,
    )


def account_input(journey_id: str, at: datetime = ISSUED) -> StoreUserAccountInput:
    return StoreUserAccountInput(
        journey_id=journey_id,
        login_method=LoginMethod.GCKEY,
        profile=Profile(" Marie ", "Tremblay", "marie@example.ca", "", "America/Toronto", "fr"),
        created_at=at,
    )


async def test_reserving_again_for_the_same_journey_changes_nothing(
    accounts: AccountActivities, engine: Engine
) -> None:
    assert await reserve(accounts, "journey-a", "Exporter01") == "Exporter01"
    assert await reserve(accounts, "journey-a", "Exporter01") == "Exporter01"

    with Session(engine) as session:
        rows = session.exec(select(GCKey)).all()
    assert [(r.journey_id, r.username) for r in rows] == [("journey-a", "Exporter01")]


@pytest.mark.parametrize("other", ["EXPORTER01", "exporter01", "Exporter01"])
async def test_another_journey_cannot_take_a_reserved_username(
    accounts: AccountActivities, other: str
) -> None:
    await reserve(accounts, "journey-a", "Exporter01")

    with pytest.raises(ApplicationError) as raised:
        await reserve(accounts, "journey-b", other)
    # Final: the person is told at once to choose another name, with no retries.
    assert raised.value.type == USERNAME_TAKEN
    assert raised.value.non_retryable


async def test_a_journey_may_change_its_own_username(accounts: AccountActivities) -> None:
    await reserve(accounts, "journey-a", "Exporter01")
    assert await reserve(accounts, "journey-a", "Exporter02") == "Exporter02"

    # The name given up is free for someone else; the new one is held.
    assert await reserve(accounts, "journey-b", "exporter01") == "exporter01"
    with pytest.raises(ApplicationError) as raised:
        await reserve(accounts, "journey-b", "EXPORTER02")
    assert raised.value.type == USERNAME_TAKEN


async def test_issue_gckey_stores_the_hashes_once(
    accounts: AccountActivities, engine: Engine
) -> None:
    await reserve(accounts, "journey-a", "Exporter01")
    first = issue_input(
        "journey-a", hash_secret("Maple2Leaf9x"), answers("Rex", "Byng", "Elm"), ISSUED
    )
    retry = issue_input(
        "journey-a",
        hash_secret("Other9Pass"),
        answers("Max", "Glebe", "Oak", hint="changed"),
        LATER,
    )

    assert (await ActivityEnvironment().run(accounts.issue_gckey, first)).issued_at == ISSUED
    assert (await ActivityEnvironment().run(accounts.issue_gckey, retry)).issued_at == ISSUED

    with Session(engine) as session:
        gckey = session.get(GCKey, "journey-a")
        stored = session.exec(
            select(RecoveryAnswerRow)
            .where(RecoveryAnswerRow.journey_id == "journey-a")
            .order_by(col(RecoveryAnswerRow.position))
        ).all()
    assert gckey is not None and gckey.password_hash is not None
    assert gckey.issued_at == ISSUED and gckey.recovery_email == "marie@example.ca"
    # The person signs in with what they typed the first time, and only that.
    assert verify_secret(gckey.password_hash, "Maple2Leaf9x")
    assert not verify_secret(gckey.password_hash, "Other9Pass")
    assert [(r.question_id, r.hint) for r in stored] == [
        ("first_pet", "hint 0"),
        ("first_school", "hint 1"),
        ("childhood_street", "hint 2"),
    ]
    typed = ["Rex", "Byng", "Elm"]
    assert all(
        verify_secret(r.answer_hash, normalize_answer(a))
        for r, a in zip(stored, typed, strict=True)
    )


async def test_issue_gckey_needs_a_reserved_username(accounts: AccountActivities) -> None:
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(
            accounts.issue_gckey, issue_input("journey-z", hash_secret("x"), [], ISSUED)
        )
    assert raised.value.type == NO_USERNAME and raised.value.non_retryable


async def test_store_user_account_keeps_one_urn_per_journey(
    accounts: AccountActivities, engine: Engine
) -> None:
    env = ActivityEnvironment()
    a = await env.run(accounts.store_user_account, account_input("journey-a"))
    a_again = await env.run(accounts.store_user_account, account_input("journey-a", LATER))
    b = await env.run(accounts.store_user_account, account_input("journey-b"))

    assert a.urn == a_again.urn != b.urn
    assert rules.is_urn(a.urn) and rules.is_urn(b.urn)
    with Session(engine) as session:
        rows = session.exec(select(UserAccount).order_by(col(UserAccount.id))).all()
    assert [(r.journey_id, r.urn) for r in rows] == [("journey-a", a.urn), ("journey-b", b.urn)]
    assert rows[0].given_name == "Marie" and rows[0].created_at == ISSUED


async def test_email_confirmed_once(accounts: AccountActivities, engine: Engine) -> None:
    env = ActivityEnvironment()
    await env.run(accounts.store_user_account, account_input("journey-a"))

    first = await env.run(
        accounts.mark_email_confirmed, MarkEmailConfirmedInput("journey-a", ISSUED)
    )
    again = await env.run(
        accounts.mark_email_confirmed, MarkEmailConfirmedInput("journey-a", LATER)
    )

    assert first.confirmed_at == again.confirmed_at == ISSUED
    with Session(engine) as session:
        row = session.exec(select(UserAccount).where(UserAccount.journey_id == "journey-a")).one()
    assert row.email_confirmed_at == ISSUED


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


async def test_migrations_go_down_and_up_again(database_url: str) -> None:
    # The fixture migrated already; every worker start migrates again, which must be harmless.
    migrate(database_url)
    assert TABLES <= tables(database_url)

    command.downgrade(alembic_config(database_url), "base")
    assert not TABLES & tables(database_url)

    command.upgrade(alembic_config(database_url), "head")
    assert TABLES <= tables(database_url)
    engine = make_engine(database_url)
    try:
        assert await reserve(AccountActivities(engine), "journey-a", "Exporter01") == "Exporter01"
    finally:
        engine.dispose()
