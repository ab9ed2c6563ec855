"""Persistence activities: every write is keyed by the journey, so a retry changes nothing."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from core.normalize import username_key
from db.models import GCKey, PartnerIdentity, RecoveryAnswerRow, UserAccount
from db.sessions import end_journey_sessions
from db.sign_ins import end_lock, start_count
from workflows import rules
from workflows.activity_types import (
    ExpireGCKeyInput,
    ExpireGCKeyResult,
    IssueGCKeyInput,
    IssueGCKeyResult,
    LinkPartnerIdentityInput,
    LinkPartnerIdentityResult,
    MarkEmailConfirmedInput,
    MarkEmailConfirmedResult,
    ReleaseUsernameInput,
    ReleaseUsernameResult,
    ReserveUsernameInput,
    ReserveUsernameResult,
    StoreAccountEmailInput,
    StoreAccountEmailResult,
    StoreGCKeyPasswordInput,
    StoreGCKeyPasswordResult,
    StoreUserAccountInput,
    StoreUserAccountResult,
)
from workflows.types import (
    NO_GCKEY,
    NO_USERNAME,
    PARTNER_LINKED,
    USERNAME_TAKEN,
)


class AccountActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn
    async def reserve_username(self, input: ReserveUsernameInput) -> ReserveUsernameResult:
        """Holds the username for this journey; another journey holding it is a business error."""
        return await asyncio.to_thread(self._reserve_username, input, activity.info().started_time)

    def _reserve_username(
        self, input: ReserveUsernameInput, now: datetime
    ) -> ReserveUsernameResult:
        key = username_key(input.username)
        with Session(self._engine) as session:
            holder = session.exec(select(GCKey).where(GCKey.username_key == key)).first()
            if holder is not None and holder.journey_id != input.journey_id:
                raise taken()
            row = session.get(GCKey, input.journey_id) or GCKey(
                journey_id=input.journey_id, username="", username_key="", reserved_at=now
            )
            row.username, row.username_key, row.reserved_at = input.username, key, now
            session.add(row)
            try:
                session.commit()
            except IntegrityError as err:  # another journey took it between our read and write
                raise taken() from err
        return ReserveUsernameResult(username=input.username)

    @activity.defn
    async def issue_gckey(self, input: IssueGCKeyInput) -> IssueGCKeyResult:
        return await asyncio.to_thread(self._issue_gckey, input)

    def _issue_gckey(self, input: IssueGCKeyInput) -> IssueGCKeyResult:
        with Session(self._engine) as session:
            row = session.get(GCKey, input.journey_id)
            if row is None:
                raise ApplicationError("no username reserved", type=NO_USERNAME, non_retryable=True)
            if row.issued_at is not None:
                return IssueGCKeyResult(issued_at=row.issued_at)
            row.password_hash = input.password_hash
            row.recovery_email = input.recovery_email or None
            row.login_method = input.login_method.value
            row.issued_at = input.issued_at
            row.terms_version = input.terms_version or None
            row.terms_language = input.terms_language or None
            row.terms_accepted_at = input.terms_accepted_at
            session.exec(
                delete(RecoveryAnswerRow).where(col(RecoveryAnswerRow.journey_id) == row.journey_id)
            )
            for position, answer in enumerate(input.recovery_answers):
                session.add(
                    RecoveryAnswerRow(
                        journey_id=row.journey_id,
                        position=position,
                        question_id=answer.question_id,
                        answer_hash=answer.answer_hash,
                        hint=answer.hint,
                    )
                )
            session.add(row)
            start_count(session, row.journey_id)
            session.commit()
        return IssueGCKeyResult(issued_at=input.issued_at)

    # Stores what the create_account update took; history knows it by its deployed name.
    @activity.defn(name="create_user_account")
    async def store_user_account(self, input: StoreUserAccountInput) -> StoreUserAccountResult:
        """Creates the account and assigns its URN; a retry returns the same URN."""
        return await asyncio.to_thread(self._store_user_account, input)

    def _store_user_account(self, input: StoreUserAccountInput) -> StoreUserAccountResult:
        with Session(self._engine) as session:
            row = session.exec(
                select(UserAccount).where(UserAccount.journey_id == input.journey_id)
            ).first()
            if row is None:
                p = input.profile
                row = UserAccount(
                    journey_id=input.journey_id,
                    default_access=input.login_method.value,
                    given_name=p.given_name.strip(),
                    family_name=p.family_name.strip(),
                    email=p.email.strip(),
                    telephone=p.telephone.strip(),
                    time_zone=p.time_zone,
                    language=p.language,
                    created_at=input.created_at,
                )
                session.add(row)
                session.flush()  # the id is the serial behind the URN
                assert row.id is not None
                row.urn = rules.urn_for(row.id)
                session.commit()
            assert row.urn is not None
            return StoreUserAccountResult(urn=row.urn)

    @activity.defn
    async def store_account_email(self, input: StoreAccountEmailInput) -> StoreAccountEmailResult:
        """The account's new address, after the mail server refused the one it had."""
        return await asyncio.to_thread(self._store_account_email, input)

    def _store_account_email(self, input: StoreAccountEmailInput) -> StoreAccountEmailResult:
        with Session(self._engine) as session:
            row = session.exec(
                select(UserAccount).where(UserAccount.journey_id == input.journey_id)
            ).one()
            if row.email != input.email:
                row.email = input.email
                session.add(row)
                session.commit()
            return StoreAccountEmailResult(email=row.email)

    @activity.defn
    async def mark_email_confirmed(
        self, input: MarkEmailConfirmedInput
    ) -> MarkEmailConfirmedResult:
        return await asyncio.to_thread(self._mark_email_confirmed, input)

    def _mark_email_confirmed(self, input: MarkEmailConfirmedInput) -> MarkEmailConfirmedResult:
        with Session(self._engine) as session:
            row = session.exec(
                select(UserAccount).where(UserAccount.journey_id == input.journey_id)
            ).one()
            if row.email_confirmed_at is None:
                row.email_confirmed_at = input.confirmed_at
                session.add(row)
                session.commit()
            assert row.email_confirmed_at is not None
            return MarkEmailConfirmedResult(confirmed_at=row.email_confirmed_at)

    @activity.defn
    async def link_partner_identity(
        self, input: LinkPartnerIdentityInput
    ) -> LinkPartnerIdentityResult:
        """Keys the journey by (issuer, pairwise id); an id already linked to another journey
        is a business error that names that journey, so the site can open it instead."""
        return await asyncio.to_thread(self._link_partner_identity, input)

    def _link_partner_identity(self, input: LinkPartnerIdentityInput) -> LinkPartnerIdentityResult:
        with Session(self._engine) as session:
            row = session.get(PartnerIdentity, (input.issuer, input.subject))
            if row is None:
                session.add(
                    PartnerIdentity(
                        issuer=input.issuer,
                        subject=input.subject,
                        journey_id=input.journey_id,
                        linked_at=input.linked_at,
                    )
                )
                try:
                    session.commit()
                except IntegrityError:  # the same id linked by a second tab in between
                    session.rollback()
                    row = session.get(PartnerIdentity, (input.issuer, input.subject))
            if row is not None and row.journey_id != input.journey_id:
                raise ApplicationError(
                    "Sign-In Partner id linked to another journey",
                    row.journey_id,
                    type=PARTNER_LINKED,
                    non_retryable=True,
                )
        return LinkPartnerIdentityResult(journey_id=input.journey_id)

    @activity.defn
    async def release_username(self, input: ReleaseUsernameInput) -> ReleaseUsernameResult:
        """Frees an abandoned sign-up's username: its reservation goes, unless a GCKey was
        issued under it (then it is a credential, not a reservation). A retry finds nothing."""
        return await asyncio.to_thread(self._release_username, input)

    def _release_username(self, input: ReleaseUsernameInput) -> ReleaseUsernameResult:
        with Session(self._engine) as session:
            row = session.get(GCKey, input.journey_id)
            if row is None or row.issued_at is not None:
                return ReleaseUsernameResult(released=False)
            session.exec(
                delete(RecoveryAnswerRow).where(col(RecoveryAnswerRow.journey_id) == row.journey_id)
            )
            session.delete(row)
            session.commit()
        return ReleaseUsernameResult(released=True)

    @activity.defn
    async def expire_gckey(self, input: ExpireGCKeyInput) -> ExpireGCKeyResult:
        return await asyncio.to_thread(self._expire_gckey, input)

    def _expire_gckey(self, input: ExpireGCKeyInput) -> ExpireGCKeyResult:
        with Session(self._engine) as session:
            row = session.get(GCKey, input.journey_id)
            if row is None:
                return ExpireGCKeyResult(expired_at=input.expired_at)
            if row.expired_at is None:
                row.expired_at = input.expired_at
                session.add(row)
                session.commit()
            return ExpireGCKeyResult(expired_at=row.expired_at or input.expired_at)

    # Stores what the set_new_password update took; history knows it by its deployed name.
    @activity.defn(name="set_gckey_password")
    async def store_gckey_password(
        self, input: StoreGCKeyPasswordInput
    ) -> StoreGCKeyPasswordResult:
        return await asyncio.to_thread(self._store_gckey_password, input)

    def _store_gckey_password(self, input: StoreGCKeyPasswordInput) -> StoreGCKeyPasswordResult:
        with Session(self._engine) as session:
            row = session.get(GCKey, input.journey_id)
            if row is None or row.issued_at is None or row.expired_at is not None:
                raise ApplicationError("no GCKey to change", type=NO_GCKEY, non_retryable=True)
            if row.password_changed_at != input.changed_at:
                row.password_hash = input.password_hash
                row.password_changed_at = input.changed_at
                session.add(row)
                # The site counts sign-ins here (db/sign_ins.py): a new password ends a lock.
                end_lock(session, row.journey_id, input.changed_at)
                session.commit()
        # Whoever held a session of this GCKey (a copied cookie, a forgotten browser) is out.
        end_journey_sessions(self._engine, input.journey_id)
        return StoreGCKeyPasswordResult(changed_at=input.changed_at)


def taken() -> ApplicationError:
    """An expected outcome, not a fault: one line in the log, and BENIGN so that the SDK logs
    its traceback at DEBUG only (and counts no failure in its metrics)."""
    activity.logger.info("username already held by another journey")
    return ApplicationError(
        "username taken",
        type=USERNAME_TAKEN,
        non_retryable=True,
        category=ApplicationErrorCategory.BENIGN,
    )
