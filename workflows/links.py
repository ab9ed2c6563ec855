"""Confirmation links: signed, naming the journey and the link number, holding no secret.

The activity that sends the e-mail makes the link and the web checks it; the workflow only
knows link numbers, so history never holds a usable link.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

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
