"""Rows of the application database. They never travel through Temporal; activities convert."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel


class GCKey(SQLModel, table=True):
    """A GCKey credential, one per journey; the username is reserved before it is issued."""

    __tablename__ = "gckey"

    journey_id: str = Field(primary_key=True, max_length=64)
    username: str = Field(max_length=16)
    username_key: str = Field(max_length=64, unique=True, index=True)
    login_method: str = Field(max_length=32, default="gckey")
    password_hash: str | None = Field(default=None, max_length=255)
    recovery_email: str | None = Field(default=None, max_length=254)
    reserved_at: datetime
    issued_at: datetime | None = None
    # The acceptance of the GCKey Terms and Conditions that this GCKey was issued under.
    terms_version: str | None = Field(default=None, max_length=32)
    terms_language: str | None = Field(default=None, max_length=2)
    terms_accepted_at: datetime | None = None
    # Unused for the expiry period: it opens nothing any more, and its owner signs up again.
    expired_at: datetime | None = None
    password_changed_at: datetime | None = None


class PartnerIdentity(SQLModel, table=True):
    """A Sign-In Partner's pairwise id for CERS, and the journey it opens. CERS never learns
    the bank or the person: the issuer and its id for this service are all there is."""

    __tablename__ = "partner_identity"

    issuer: str = Field(primary_key=True, max_length=255)
    subject: str = Field(primary_key=True, max_length=255)
    journey_id: str = Field(max_length=64, unique=True, index=True)
    linked_at: datetime


class ResetCode(SQLModel, table=True):
    """The confirmation code of one password reset, kept only as a hash and never in history."""

    __tablename__ = "reset_code"

    reset_id: str = Field(primary_key=True, max_length=64)
    journey_id: str = Field(max_length=64, index=True)
    code_hash: str = Field(max_length=255)
    sent_at: datetime


class RecoveryAnswerRow(SQLModel, table=True):
    __tablename__ = "recovery_answer"

    journey_id: str = Field(foreign_key="gckey.journey_id", primary_key=True, max_length=64)
    position: int = Field(primary_key=True)
    question_id: str = Field(max_length=64)
    answer_hash: str = Field(max_length=255)
    hint: str = Field(default="", max_length=100)


class UserAccount(SQLModel, table=True):
    """A CERS user account; its id is the serial behind the URN."""

    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    journey_id: str = Field(max_length=64, unique=True, index=True)
    urn: str | None = Field(default=None, max_length=16, unique=True, index=True)
    default_access: str = Field(max_length=32)
    given_name: str = Field(max_length=50)
    family_name: str = Field(max_length=50)
    email: str = Field(max_length=254, index=True)
    telephone: str = Field(default="", max_length=32)
    time_zone: str = Field(max_length=64)
    language: str = Field(max_length=2)
    created_at: datetime
    email_confirmed_at: datetime | None = None


class StaffMember(SQLModel, table=True):
    """A support or auditor account; separate from GCKeys, made from the command line."""

    __tablename__ = "staff_member"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    # Case-insensitive and NFC, like GCKey usernames: "Ana" and "ana" are one account.
    username_key: str = Field(max_length=64, unique=True, index=True)
    display_name: str = Field(default="", max_length=100)
    role: str = Field(max_length=16)  # "support" or "auditor"
    password_hash: str = Field(max_length=255)
    created_at: datetime
    disabled_at: datetime | None = None


class AuditEntry(SQLModel, table=True):
    """One staff action or refusal, whoever made it and why; never updated or deleted."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    staff_username: str = Field(max_length=64)
    staff_role: str = Field(max_length=16)
    action: str = Field(max_length=64)
    journey_id: str | None = Field(default=None, max_length=64, index=True)
    reason: str = Field(default="", max_length=500)
    detail: str = Field(default="", sa_type=Text)  # JSON text
    outcome: str = Field(default="", max_length=64)


class JourneyArchive(SQLModel, table=True):
    """A closed journey's event history, kept beyond Temporal's retention."""

    __tablename__ = "journey_archive"

    workflow_id: str = Field(primary_key=True, max_length=128)
    run_id: str = Field(primary_key=True, max_length=64)
    journey_id: str = Field(max_length=64, index=True)
    status: str = Field(max_length=32)
    closed_at: datetime | None = Field(default=None, index=True)
    archived_at: datetime
    history_json: str = Field(sa_type=Text)
    event_count: int = 0


class WebSession(SQLModel, table=True):
    """A browser's session, kept on the server: the cookie holds only a random id, and this
    row is filed under that id's SHA-256, so the table itself opens no session. Ending a row
    ends the session at once (sign-out, a password reset, a support unlock, a disabled staff
    account)."""

    __tablename__ = "web_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    data: str = Field(sa_type=Text)  # JSON: what web/session.py's SessionKey names
    # Whose it is, so all of a GCKey's (or a staff member's) sessions can be ended together.
    journey_id: str | None = Field(default=None, max_length=64, index=True)
    staff_id: int | None = Field(default=None, index=True)
    created_at: datetime
    seen_at: datetime


class MailOutbox(SQLModel, table=True):
    """A message the mail server has accepted (its 250 to DATA), by Message-ID, written right
    after it answered: a retry of the activity that sent it, whose completion never reached
    Temporal, finds it here and sends nothing."""

    __tablename__ = "mail_outbox"

    message_id: str = Field(primary_key=True, max_length=255)
    journey_id: str = Field(max_length=64, index=True)
    accepted_at: datetime
