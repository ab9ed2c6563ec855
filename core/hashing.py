"""argon2id with OWASP's parameters (19 MiB, t=2, p=1): secrets become hashes before any
workflow sees them. Hashing costs ~17 ms of CPU, so async callers run it in a thread."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.normalize import normalize_answer

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_secret(secret: str) -> str:
    return HASHER.hash(secret)


def verify_secret(hashed: str, secret: str) -> bool:
    try:
        return HASHER.verify(hashed, secret)
    except (VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(hash_secret, password)


async def hash_answers(answers: list[str]) -> list[str]:
    """Recovery answers are hashed as normalized, so case and spacing do not matter later."""
    return list(
        await asyncio.gather(
            *(asyncio.to_thread(hash_secret, normalize_answer(a)) for a in answers)
        )
    )
