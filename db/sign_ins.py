"""The lock rules of GCKey sign-in, counted in the application database: the site decides a
sign-in here without waiting on its journey (a journey long parked is not in the worker's
cache, and an update to it would wait for a replay), then tells the journey what was decided.

Exact under concurrency: each decision reads the count with its version and writes the next
count only if the version is unchanged (one UPDATE ... WHERE version = read), else reads
again. Fifty simultaneous wrong passwords are counted one at a time, on SQLite and PostgreSQL
alike, and lock the GCKey once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from db.models import GCKey, GCKeySignIns
from workflows.types import JourneyState, SignInDecidedInput, SignInOutcome

# Far more than any real contention: each retry means another sign-in was counted meanwhile.
RETRIES = 200


@dataclass(frozen=True)
class LockRules:
    lock_after_failures: int
    lock_for: timedelta
    expire_after: timedelta


@dataclass(frozen=True)
class Verdict:
    outcome: SignInOutcome
    news: SignInDecidedInput | None  # what the journey is told; None when nothing changed


@dataclass(frozen=True)
class Tally:
    version: int = 0
    failed_sign_ins: int = 0
    locked_until: datetime | None = None
    locks: int = 0
    failures_that_locked: int = 0
    attempts_while_locked: int = 0
    last_attempt_while_locked_at: datetime | None = None
    last_signed_in_at: datetime | None = None


def decide(
    tally: Tally, matched: bool, now: datetime, rules: LockRules, last_use: datetime | None
) -> tuple[SignInOutcome, Tally]:
    """The journey's record_sign_in (workflows/access.py), as a pure function of the count:
    an expired GCKey opens to nothing and counts nothing; while locked every attempt is
    counted and answered as locked, whatever the password; a match ends the run of failures;
    the failure that completes the run locks."""
    if last_use is not None and now >= last_use + rules.expire_after:
        return SignInOutcome.EXPIRED, tally
    if tally.locked_until is not None and now < tally.locked_until:
        return SignInOutcome.LOCKED, replace(
            tally,
            attempts_while_locked=tally.attempts_while_locked + 1,
            last_attempt_while_locked_at=now,
        )
    if matched:
        return SignInOutcome.SIGNED_IN, replace(
            tally, failed_sign_ins=0, locked_until=None, last_signed_in_at=now
        )
    failed = tally.failed_sign_ins + 1
    if failed < rules.lock_after_failures:
        return SignInOutcome.FAILED, replace(tally, failed_sign_ins=failed)
    return SignInOutcome.LOCKED, replace(
        tally,
        failed_sign_ins=0,
        failures_that_locked=failed,
        locks=tally.locks + 1,
        locked_until=now + rules.lock_for,
    )


def _tally(row: GCKeySignIns) -> Tally:
    return Tally(
        version=row.version,
        failed_sign_ins=row.failed_sign_ins,
        locked_until=row.locked_until,
        locks=row.locks,
        failures_that_locked=row.failures_that_locked,
        attempts_while_locked=row.attempts_while_locked,
        last_attempt_while_locked_at=row.last_attempt_while_locked_at,
        last_signed_in_at=row.last_signed_in_at,
    )


def _last_use(gckey: GCKey, tally: Tally) -> datetime | None:
    uses = [gckey.issued_at, gckey.password_changed_at, tally.last_signed_in_at]
    return max((u for u in uses if u is not None), default=None)


def record_sign_in(
    engine: Engine, gckey: GCKey, matched: bool, now: datetime, rules: LockRules
) -> Verdict | None:
    """This sign-in's verdict, counted; None when the GCKey has no count here yet (issued
    before counts were kept)."""
    for _ in range(RETRIES):
        with Session(engine) as session:
            row = session.get(GCKeySignIns, gckey.journey_id)
            if row is None:
                return None
            before = _tally(row)
            # The password's last change is read afresh: a reset that just ended a lock holds.
            fresh = session.get(GCKey, gckey.journey_id) or gckey
            if fresh.expired_at is not None:
                return Verdict(SignInOutcome.EXPIRED, None)
            outcome, after = decide(before, matched, now, rules, _last_use(fresh, before))
            if after == before:
                return Verdict(outcome, None)
            written = session.execute(
                update(GCKeySignIns)
                .where(
                    col(GCKeySignIns.journey_id) == gckey.journey_id,
                    col(GCKeySignIns.version) == before.version,
                )
                .values(
                    version=before.version + 1,
                    failed_sign_ins=after.failed_sign_ins,
                    locked_until=after.locked_until,
                    locks=after.locks,
                    failures_that_locked=after.failures_that_locked,
                    attempts_while_locked=after.attempts_while_locked,
                    last_attempt_while_locked_at=after.last_attempt_while_locked_at,
                    last_signed_in_at=after.last_signed_in_at,
                )
            )
            session.commit()
            if written.rowcount == 1:  # type: ignore[attr-defined]
                locked_now = after.locks > before.locks
                tally = replace(after, version=before.version + 1)
                return Verdict(outcome, news(tally, outcome, now, locked_now))
    raise RuntimeError(f"sign-in count of {gckey.journey_id} kept changing under {RETRIES} reads")


def news(
    tally: Tally, outcome: SignInOutcome, now: datetime, locked_now: bool
) -> SignInDecidedInput:
    return SignInDecidedInput(
        version=tally.version,
        outcome=outcome,
        decided_at=now,
        locked_now=locked_now,
        failed_sign_ins=tally.failed_sign_ins,
        locked_until=tally.locked_until,
        locks=tally.locks,
        failures_that_locked=tally.failures_that_locked,
        attempts_while_locked=tally.attempts_while_locked,
        last_attempt_while_locked_at=tally.last_attempt_while_locked_at,
    )


def start_count(session: Session, journey_id: str) -> None:
    """A GCKey just issued starts with nothing counted (in the issuing transaction)."""
    if session.get(GCKeySignIns, journey_id) is None:
        session.add(GCKeySignIns(journey_id=journey_id))


def seed_from_journey(
    engine: Engine, gckey: GCKey, state: JourneyState | None, now: datetime
) -> None:
    """A GCKey issued before counts were kept here takes its journey's count, once (a
    concurrent seed that lost the race changes nothing). A new password stored by a reset
    the journey has not heard of yet ends the lock, as the journey will."""
    row = GCKeySignIns(journey_id=gckey.journey_id)
    if state is not None:
        row.version = state.sign_ins_heard
        row.failed_sign_ins = state.failed_sign_ins
        row.locked_until = state.locked_until
        row.locks = state.locks
        row.failures_that_locked = state.failures_that_locked
        row.attempts_while_locked = state.attempts_while_locked
        row.last_attempt_while_locked_at = state.last_attempt_while_locked_at
        row.last_signed_in_at = state.last_signed_in_at
        changed = gckey.password_changed_at
        if changed and (state.password_reset_at is None or state.password_reset_at < changed):
            row.failed_sign_ins, row.locked_until, row.lock_ended_at = 0, None, now
    try:
        with Session(engine) as session:
            session.add(row)
            session.commit()
    except IntegrityError:
        pass


def end_lock(session: Session, journey_id: str, at: datetime) -> None:
    """A new password, or support's unlock, ends the lock and the run of failures; in one
    statement, so it cannot interleave with a sign-in being counted. A GCKey with no count
    here yet takes its journey's when it is next used, which holds the same news."""
    session.execute(
        update(GCKeySignIns)
        .where(col(GCKeySignIns.journey_id) == journey_id)
        .values(
            version=col(GCKeySignIns.version) + 1,
            failed_sign_ins=0,
            locked_until=None,
            lock_ended_at=at,
        )
    )


def unlock(engine: Engine, journey_id: str, at: datetime) -> None:
    with Session(engine) as session:
        end_lock(session, journey_id, at)
        session.commit()
