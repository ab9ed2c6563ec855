"""What a journey and a Forgot your password? attempt start with, made from the Settings: the
one place a setting becomes a workflow's input. Durations travel as whole seconds."""

from __future__ import annotations

from settings import Settings
from workflows import rules
from workflows.reset_types import PasswordResetWorkflowInput
from workflows.types import OnboardingInput


def onboarding_input(settings: Settings, journey_id: str) -> OnboardingInput:
    return OnboardingInput(
        journey_id=journey_id,
        terms_version=settings.terms_version,
        recovery_question_count=settings.recovery_question_count,
        reminder_after_seconds=round(settings.reminder_after_hours * 3600),
        expire_after_seconds=round(settings.expire_after_hours * 3600),
        lock_after_failures=settings.lock_after_failures,
        lock_seconds=round(settings.lock_minutes * 60),
        gckey_expire_after_seconds=round(settings.gckey_expire_after_days * 86400),
        abandon_after_seconds=round(settings.abandon_after_days * 86400),
        rules_version=rules.RULES_VERSION,
    )


def password_reset_input(
    settings: Settings, *, reset_id: str, journey_id: str, question_ids: list[str], language: str
) -> PasswordResetWorkflowInput:
    return PasswordResetWorkflowInput(
        reset_id=reset_id,
        journey_id=journey_id,
        question_ids=question_ids,
        language=language,
        max_failures=settings.reset_max_failures,
        expire_after_seconds=round(settings.reset_expire_after_minutes * 60),
    )
