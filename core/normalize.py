"""How usernames and recovery answers are compared, wherever they are: the rules, the
database's unique keys and the hashes all go through these."""

from __future__ import annotations

import unicodedata


def normalize_username(username: str) -> str:
    """Composed form, so an accent typed as a separate mark counts as one letter."""
    return unicodedata.normalize("NFC", username)


def username_key(username: str) -> str:
    """Uniqueness compares usernames case-insensitively, after Unicode normalization."""
    return normalize_username(username).casefold()


def normalize_answer(answer: str) -> str:
    """Answers are compared without regard to case or repeated spaces."""
    return " ".join(unicodedata.normalize("NFC", answer).casefold().split())
