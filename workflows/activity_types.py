"""Types that cross the Temporal boundary to and from activities: one message pair each, named
for the activity method (a few are recorded in history under an earlier name, kept in their
@activity.defn), never for an update. Standard library only, as workflows/types.py.

Every field added later gets a default, so histories recorded by older code still decode.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workflows.types import EmailKind, LoginMethod, Profile, RecoveryAnswer


@dataclass
class ReserveUsernameInput:
    journey_id: str
    username: str


@dataclass
class ReserveUsernameResult:
    username: str


@dataclass
class IssueGCKeyInput:
    journey_id: str
    login_method: LoginMethod
    password_hash: str
    recovery_answers: list[RecoveryAnswer]
    recovery_email: str
    issued_at: datetime
    terms_version: str = ""
    terms_language: str = ""
    terms_accepted_at: datetime | None = None


@dataclass
class IssueGCKeyResult:
    issued_at: datetime


@dataclass
class StoreUserAccountInput:
    journey_id: str
    login_method: LoginMethod
    profile: Profile
    created_at: datetime


@dataclass
class StoreUserAccountResult:
    urn: str


@dataclass
class StoreAccountEmailInput:
    journey_id: str
    email: str


@dataclass
class StoreAccountEmailResult:
    email: str


@dataclass
class MarkEmailConfirmedInput:
    journey_id: str
    confirmed_at: datetime


@dataclass
class MarkEmailConfirmedResult:
    confirmed_at: datetime


@dataclass
class LinkPartnerIdentityInput:
    journey_id: str
    issuer: str
    subject: str
    linked_at: datetime


@dataclass
class LinkPartnerIdentityResult:
    journey_id: str


@dataclass
class ReleaseUsernameInput:
    journey_id: str


@dataclass
class ReleaseUsernameResult:
    released: bool


@dataclass
class ExpireGCKeyInput:
    journey_id: str
    expired_at: datetime


@dataclass
class ExpireGCKeyResult:
    expired_at: datetime


@dataclass
class SendConfirmationEmailInput:
    journey_id: str
    kind: EmailKind
    link_number: int
    to: str
    given_name: str
    language: str
    urn: str
    expires_at: datetime
    time_zone: str = ""


@dataclass
class SendConfirmationEmailResult:
    message_id: str


@dataclass
class SendResumeEmailInput:
    journey_id: str
    resume_link_number: int
    to: str
    language: str


@dataclass
class SendResumeEmailResult:
    message_id: str


@dataclass
class SendLockNoticeInput:
    """The owner is told their GCKey locked: when it ends, and the way out."""

    journey_id: str
    lock_number: int
    to: str
    language: str
    locked_until: datetime
    failures: int
    time_zone: str = ""


@dataclass
class SendLockNoticeResult:
    message_id: str


@dataclass
class StoreGCKeyPasswordInput:
    journey_id: str
    password_hash: str
    changed_at: datetime


@dataclass
class StoreGCKeyPasswordResult:
    changed_at: datetime
