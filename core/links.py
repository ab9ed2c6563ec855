"""Confirmation links: signed, naming the journey and the link number, holding no secret.

The activity that sends the e-mail makes the link and the web checks it; the workflow only
knows link numbers, so history never holds a usable link.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

SALT = "cers-email-confirmation"


@dataclass(frozen=True)
class ConfirmationLink:
    journey_id: str
    link_number: int


def make_token(secret_key: str, link: ConfirmationLink) -> str:
    return URLSafeSerializer(secret_key, salt=SALT).dumps([link.journey_id, link.link_number])


def read_token(secret_key: str, token: str) -> ConfirmationLink | None:
    try:
        journey_id, link_number = URLSafeSerializer(secret_key, salt=SALT).loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(journey_id, str) or not isinstance(link_number, int):
        return None
    return ConfirmationLink(journey_id, link_number)


RESUME_SALT = "cers-resume-journey"


@dataclass(frozen=True)
class ResumeLink:
    """A link support sends so a person can take their journey up where it stopped."""

    journey_id: str
    resume_link_number: int


def make_resume_token(secret_key: str, link: ResumeLink) -> str:
    serializer = URLSafeTimedSerializer(secret_key, salt=RESUME_SALT)
    return str(serializer.dumps([link.journey_id, link.resume_link_number]))


def read_resume_token(secret_key: str, token: str, max_age_seconds: int) -> ResumeLink | None:
    try:
        journey_id, number = URLSafeTimedSerializer(secret_key, salt=RESUME_SALT).loads(
            token, max_age=max_age_seconds
        )
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(journey_id, str) or not isinstance(number, int):
        return None
    return ResumeLink(journey_id, number)
