"""Types of the Forgot your password? workflow that cross the Temporal boundary. Standard
library only; every field added later gets a default."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# Forgot password: a workflow of its own, one per attempt, id ``password-reset-<uuid>``.


class ResetWay(StrEnum):
    """GCKey's two ways: a code sent to the recovery e-mail plus one recovery answer, or
    every recovery answer."""

    EMAIL_CODE = "email_code"
    ALL_ANSWERS = "all_answers"


class ResetStep(StrEnum):
    CHOOSE_WAY = "choose_way"
    VERIFY = "verify"
    NEW_PASSWORD = "new_password"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"


@dataclass
class PasswordResetWorkflowInput:
    """``journey_id`` is empty when the username is unknown: the reset then looks the same
    and can never succeed, so it tells nobody which usernames exist. Made from the Settings by
    workflows.inputs.password_reset_input; every field has been in every input ever recorded,
    so none needs a default."""

    reset_id: str
    journey_id: str
    question_ids: list[str]
    language: str
    max_failures: int
    expire_after_seconds: int


@dataclass
class ResetState:
    reset_id: str
    failures_allowed: int  # the input's max_failures
    step: ResetStep = ResetStep.CHOOSE_WAY
    way: ResetWay | None = None
    asked_question_ids: list[str] = field(default_factory=list)
    failures: int = 0
    code_requested_at: datetime | None = None
    expires_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass
class PasswordResetWorkflowResult:
    step: ResetStep


@dataclass
class ChooseResetWayInput:
    way: ResetWay


@dataclass
class ChooseResetWayResult:
    step: ResetStep
    asked_question_ids: list[str]


@dataclass
class RecordVerificationInput:
    """The site checked the code and answers against their hashes; only the verdict comes."""

    passed: bool


@dataclass
class RecordVerificationResult:
    step: ResetStep
    failures_left: int


@dataclass
class SetNewPasswordInput:
    password_hash: str


@dataclass
class SetNewPasswordResult:
    step: ResetStep


@dataclass
class SendResetCodeInput:
    reset_id: str
    journey_id: str
    language: str
    requested_at: datetime


@dataclass
class SendResetCodeResult:
    sent: bool
