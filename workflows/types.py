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
    # Terminal: the GCKey went unused for the expiry period; its owner signs up again.
    GCKEY_EXPIRED = "gckey_expired"
    # Terminal: support staff cancelled the journey, with a reason.
    CANCELLED = "cancelled"
    # Terminal: a sign-up left with no progress, before any credential, for the abandon
    # period; its username is free again and the person starts again.
    ABANDONED = "abandoned"


# Where the journey's steps are over: nobody is expected to move it on. (A journey at the
# portal stays open as the record of its access, but no step is left to take.)
FINISHED_STEPS = frozenset(
    {Step.PORTAL, Step.DECLINED, Step.GCKEY_EXPIRED, Step.CANCELLED, Step.ABANDONED}
)
# Before a credential exists (no GCKey issued, no Sign-In Partner linked): a journey left here
# is abandoned after the abandon period, since nobody can sign in to come back to it.
BEFORE_A_CREDENTIAL = frozenset(
    {
        Step.PARTNER_SIGN_IN,
        Step.TERMS,
        Step.USERNAME,
        Step.PASSWORD,
        Step.RECOVERY_ANSWERS,
        Step.RECOVERY_EMAIL,
    }
)
# Where a person still has a step to take, so support may help them on or cancel.
OPEN_STEPS = frozenset(Step) - FINISHED_STEPS


class SignInOutcome(StrEnum):
    SIGNED_IN = "signed_in"
    FAILED = "failed"
    LOCKED = "locked"
    EXPIRED = "expired"


class ConfirmationStatus(StrEnum):
    NOT_SENT = "not_sent"
    PENDING = "pending"
    EXPIRED = "expired"
    CONFIRMED = "confirmed"


class EmailKind(StrEnum):
    CONFIRMATION = "confirmation"
    REMINDER = "reminder"
    RESUME = "resume"


# Workflow ids carry only a random uuid: never an e-mail, a name or a username.
ONBOARDING_ID_PREFIX = "onboarding-"
PASSWORD_RESET_ID_PREFIX = "password-reset-"

# Error types carried by ApplicationError, so the web can tell a business rule from a fault.
INVALID_INPUT = "InvalidInput"  # details[0] maps each form field to its messages
USERNAME_TAKEN = "UsernameTaken"
LINK_EXPIRED = "ConfirmationLinkExpired"
LINK_REPLACED = "ConfirmationLinkReplaced"
WRONG_STEP = "WrongStep"
RESUME_LINK_DEAD = "ResumeLinkNoLongerWorks"  # replaced, used, expired, or never usable
PARTNER_LINKED = "PartnerIdentityLinked"  # details[0] is the journey already holding it
NO_USERNAME = "NoUsername"  # a GCKey issued for a journey that reserved no username
NO_GCKEY = "NoGCKey"  # a new password for a GCKey never issued, or expired
# The mail server refused the message for good (an SMTP 5xx); details[0] is its answer.
MAIL_REFUSED = "MailRefused"


@dataclass
class OnboardingInput:
    """Made from the Settings by workflows.inputs.onboarding_input, the one place that reads
    them. The first fields have been in every input ever recorded, so they need no default."""

    journey_id: str
    terms_version: str
    recovery_question_count: int
    reminder_after_seconds: int
    expire_after_seconds: int
    # The rules of signing in (consecutive failures lock the GCKey for a while; a GCKey unused
    # for two years expires) came later. A journey started before them gets these defaults
    # each time its history is decoded, so they are the service's values when the rules came,
    # fixed: read from Settings, a changed setting would change recorded journeys on replay.
    lock_after_failures: int = 5
    lock_seconds: int = 20 * 60
    gckey_expire_after_seconds: int = 730 * 24 * 3600
    # A sign-up without progress this long, before any credential, ends as abandoned. The
    # default is the service's value when the rule came (as above, fixed for replay).
    abandon_after_seconds: int = 30 * 24 * 3600
    # The version of workflows/rules.py the journey is checked against ("" before it was kept).
    rules_version: str = ""
    # A journey that has run long continues as new with what it knows.
    carried: JourneyState | None = None
    # A journey moved onto encrypted history (the cut-over, workflows/moving.py) continues
    # as new mid-way, so it also carries what a step in progress holds: the hashes waiting
    # for the GCKey to be issued, and which link's e-mail and reminder already went.
    carried_password_hash: str = ""
    carried_recovery_answers: list[RecoveryAnswer] = field(default_factory=list)
    carried_link_sent: int = 0
    carried_link_reminded: int = 0
    carried_last_move_at: datetime | None = None  # the abandon period runs from it


@dataclass
class MoveToEncryptedHistoryInput:
    """Sent by ``python -m audit cut-over``; who ran it stands in history."""

    operator: str = ""


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
class MailRefusal:
    """The mail server's lasting refusal of an address (an SMTP 5xx): the address, the kind
    of e-mail and what the server answered (no link, no secret)."""

    address: str
    kind: EmailKind
    answer: str
    at: datetime | None = None


@dataclass
class JourneyState:
    """Everything the journey knows, as the web shows it. No hash is ever kept here."""

    journey_id: str
    step: Step = Step.TERMS
    login_method: LoginMethod = LoginMethod.GCKEY
    language: str = "en"
    started_at: datetime | None = None
    terms_version: str = ""
    rules_version: str = ""
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
    # After the GCKey is issued or the Sign-In Partner linked: the rules of signing in.
    partner_linked_at: datetime | None = None
    last_signed_in_at: datetime | None = None
    failed_sign_ins: int = 0
    locked_until: datetime | None = None
    locks: int = 0
    # The failed sign-ins in a row that made the latest lock (the count itself starts again).
    failures_that_locked: int = 0
    # Sign-ins tried while the GCKey was locked: each got the answer a wrong password gets.
    attempts_while_locked: int = 0
    last_attempt_while_locked_at: datetime | None = None
    partner_attempts: int = 0
    last_partner_attempt_at: datetime | None = None
    password_reset_at: datetime | None = None
    gckey_expired_at: datetime | None = None
    # Support staff's actions stand in history with the staff member and reason.
    resume_links_sent: int = 0  # the number of the newest link; it revokes the older ones
    resume_link_expires_at: datetime | None = None
    resume_link_used: int = 0  # the number of the last link opened; a link works once
    resume_link_used_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str = ""
    abandoned_at: datetime | None = None
    # The confirmation e-mail's address refused by the mail server; None once it is changed.
    mail_refused: MailRefusal | None = None
    # The newest link whose e-mail the mail server has accepted (0: none yet), so the portal
    # says "being sent" until it has; None in a journey begun before this was kept.
    link_mailed: int | None = None
    # Bumped at every move (JourneyCore._progress): the site keeps a JourneyView only while
    # nothing newer is known, and never lets an older answer replace a newer one.
    revision: int = 0


@dataclass
class JourneyView:
    """What a person's pages need to know of their journey, kept by the site in the session
    so that a page reached by a form, or reloaded, needs no query (web/guards.py). Every
    update a person's form sends answers with it; query ``view`` reads it afresh.
    ``changes_by`` is the first moment a timer may move the journey without anyone asking
    (abandonment before a credential, a GCKey's expiry after the portal); None when none can."""

    step: Step
    login_method: LoginMethod = LoginMethod.GCKEY
    username: str = ""
    gckey_issued_at: datetime | None = None
    recovery_email: str = ""
    revision: int = 0
    changes_by: datetime | None = None


# One message pair per update, named for the step it performs.


@dataclass
class BeginInput:
    login_method: LoginMethod
    language: str = "en"


@dataclass
class BeginResult:
    step: Step
    view: JourneyView | None = None  # None in answers recorded before views


@dataclass
class AnswerTermsInput:
    accepted: bool
    terms_version: str
    language: str = "en"


@dataclass
class AnswerTermsResult:
    step: Step
    view: JourneyView | None = None  # None in answers recorded before views


@dataclass
class ChooseUsernameInput:
    username: str


@dataclass
class ChooseUsernameResult:
    step: Step
    view: JourneyView | None = None  # None in answers recorded before views


@dataclass
class SetPasswordInput:
    password_hash: str


@dataclass
class SetPasswordResult:
    step: Step
    view: JourneyView | None = None  # None in answers recorded before views


@dataclass
class SetRecoveryAnswersInput:
    answers: list[RecoveryAnswer]


@dataclass
class SetRecoveryAnswersResult:
    step: Step
    view: JourneyView | None = None  # None in answers recorded before views


@dataclass
class SetRecoveryEmailInput:
    email: str = ""


@dataclass
class SetRecoveryEmailResult:
    step: Step
    gckey_issued_at: datetime | None = None
    view: JourneyView | None = None


@dataclass
class CreateAccountInput:
    profile: Profile


@dataclass
class CreateAccountResult:
    urn: str
    view: JourneyView | None = None


@dataclass
class ConfirmEmailInput:
    link_number: int


@dataclass
class ConfirmEmailResult:
    confirmed_at: datetime
    view: JourneyView | None = None


@dataclass
class RequestNewLinkInput:
    reason: str = "user"


@dataclass
class RequestNewLinkResult:
    link_number: int
    view: JourneyView | None = None


@dataclass
class ChangeEmailInput:
    """The address the confirmation e-mail goes to instead of one the mail server refused."""

    email: str


@dataclass
class ChangeEmailResult:
    link_number: int
    view: JourneyView | None = None


@dataclass
class LinkPartnerInput:
    """The Sign-In Partner's answer: who vouches (the issuer) and the pairwise id it gave."""

    issuer: str
    subject: str


@dataclass
class LinkPartnerResult:
    step: Step
    view: JourneyView | None = None  # None in answers recorded before views


@dataclass
class RecordSignInInput:
    """The site checked the password against the hash; only the verdict comes here."""

    password_matched: bool


@dataclass
class RecordSignInResult:
    outcome: SignInOutcome
    locked_until: datetime | None = None
    # True when this sign-in's wrong password is the one that locked the GCKey (LOCKED then
    # tells of a wrong password, not of an attempt made while it was already locked).
    locked_now: bool = False


@dataclass
class RecordPartnerAttemptInput:
    """Someone signed in to this journey came back through a Sign-In Partner it doesn't know."""

    issuer: str


@dataclass
class RecordPartnerAttemptResult:
    default_access: LoginMethod


@dataclass
class PasswordResetInput:
    """Sent by the password reset workflow once the new password is stored."""

    reset_workflow_id: str


# Support staff's actions. Each names the staff member and the reason, so history says who
# did what and why; each validator says whether the action makes sense at this step.


@dataclass
class SupportActionInput:
    staff: str
    reason: str


@dataclass
class SupportActionResult:
    step: Step
    view: JourneyView | None = None  # None in answers recorded before views


@dataclass
class ExtendDeadlineInput:
    staff: str
    reason: str
    hours: int = 72


@dataclass
class ExtendDeadlineResult:
    link_expires_at: datetime
    view: JourneyView | None = None


@dataclass
class SendResumeLinkInput:
    """``email`` is where the link goes: one of the addresses the journey holds (confirmed, or
    its GCKey's recovery e-mail), never one typed by staff."""

    staff: str
    reason: str
    email: str = ""


@dataclass
class SendResumeLinkResult:
    resume_link_number: int
    view: JourneyView | None = None


@dataclass
class UseResumeLinkInput:
    """Someone opened support's link: it works once, and only the newest one works."""

    resume_link_number: int


@dataclass
class UseResumeLinkResult:
    """How the person signs in to continue: the link itself signs nobody in."""

    login_method: LoginMethod


@dataclass
class WatchForAbandonmentInput:
    """Sent once to journeys that were already waiting when abandonment came (worker.py)."""

    reason: str = "deployed"
