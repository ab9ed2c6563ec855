"""Types that cross the Temporal boundary. Standard library only.

Every field added later gets a default, so histories recorded by older code still decode.
Durations travel as whole seconds: Temporal's JSON converter has no timedelta.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class LoginMethod(StrEnum):
    GCKEY = "gckey"
    SIGN_IN_PARTNER = "sign_in_partner"


class Step(StrEnum):
    """Where a journey stands, in the order a person lives it."""

    PARTNER_SIGN_IN = "partner_sign_in"
    TERMS = "terms"
    USERNAME = "username"
    PASSWORD = "password"
    RECOVERY_ANSWERS = "recovery_answers"
    RECOVERY_EMAIL = "recovery_email"
    CREATE_ACCOUNT = "create_account"
    CONFIRM_EMAIL = "confirm_email"
    PORTAL = "portal"
    DECLINED = "declined"


class ConfirmationStatus(StrEnum):
    NOT_SENT = "not_sent"
    PENDING = "pending"
    EXPIRED = "expired"
    CONFIRMED = "confirmed"


class EmailKind(StrEnum):
    CONFIRMATION = "confirmation"
    REMINDER = "reminder"


# Error types carried by ApplicationError, so the web can tell a business rule from a fault.
INVALID_INPUT = "InvalidInput"  # details[0] maps each form field to its messages
USERNAME_TAKEN = "UsernameTaken"
LINK_EXPIRED = "ConfirmationLinkExpired"
LINK_REPLACED = "ConfirmationLinkReplaced"
WRONG_STEP = "WrongStep"


@dataclass
class OnboardingInput:
    journey_id: str
    terms_version: str = "2024-07"
    recovery_question_count: int = 3
    reminder_after_seconds: int = 24 * 3600
    expire_after_seconds: int = 72 * 3600


@dataclass
class OnboardingResult:
    step: Step
    urn: str | None = None


@dataclass
class RecoveryAnswer:
    question_id: str
    answer_hash: str
    hint: str = ""


@dataclass
class Profile:
    given_name: str
    family_name: str
    email: str
    telephone: str = ""
    time_zone: str = "America/Toronto"
    language: str = "en"


@dataclass
class JourneyState:
    """Everything the journey knows, as the web shows it. No hash is ever kept here."""

    journey_id: str
    step: Step = Step.TERMS
    login_method: LoginMethod = LoginMethod.GCKEY
    language: str = "en"
    started_at: datetime | None = None
    terms_version: str = ""
    terms_language: str = ""
    terms_answered_at: datetime | None = None
    username: str = ""
    password_set_at: datetime | None = None
    recovery_question_ids: list[str] = field(default_factory=list)
    recovery_hints: list[str] = field(default_factory=list)
    recovery_email: str = ""
    gckey_issued_at: datetime | None = None
    profile: Profile | None = None
    urn: str = ""
    account_created_at: datetime | None = None
    confirmation: ConfirmationStatus = ConfirmationStatus.NOT_SENT
    link_number: int = 0
    link_sent_at: datetime | None = None
    link_expires_at: datetime | None = None
    reminders_sent: int = 0
    confirmed_at: datetime | None = None


# One message pair per update, named for the step it performs.


@dataclass
class BeginInput:
    login_method: LoginMethod
    language: str = "en"


@dataclass
class BeginResult:
    step: Step


@dataclass
class AnswerTermsInput:
    accepted: bool
    terms_version: str
    language: str = "en"


@dataclass
class AnswerTermsResult:
    step: Step


@dataclass
class ChooseUsernameInput:
    username: str


@dataclass
class ChooseUsernameResult:
    step: Step


@dataclass
class SetPasswordInput:
    password_hash: str


@dataclass
class SetPasswordResult:
    step: Step


@dataclass
class SetRecoveryAnswersInput:
    answers: list[RecoveryAnswer]


@dataclass
class SetRecoveryAnswersResult:
    step: Step


@dataclass
class SetRecoveryEmailInput:
    email: str = ""


@dataclass
class SetRecoveryEmailResult:
    step: Step
    gckey_issued_at: datetime | None = None


@dataclass
class CreateAccountInput:
    profile: Profile


@dataclass
class CreateAccountResult:
    urn: str


@dataclass
class ConfirmEmailInput:
    link_number: int


@dataclass
class ConfirmEmailResult:
    confirmed_at: datetime


@dataclass
class RequestNewLinkInput:
    reason: str = "user"


@dataclass
class RequestNewLinkResult:
    link_number: int


# Activities


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
    username: str
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
class CreateUserAccountInput:
    journey_id: str
    login_method: LoginMethod
    profile: Profile
    created_at: datetime


@dataclass
class CreateUserAccountResult:
    urn: str


@dataclass
class MarkEmailConfirmedInput:
    journey_id: str
    confirmed_at: datetime


@dataclass
class MarkEmailConfirmedResult:
    confirmed_at: datetime


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
