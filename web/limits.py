"""Rate limits and the staff lockout, counted by the `limits` library.

Counted in process by default (one web process, as `dev.py run` starts), or in a shared store
(Redis, RATE_LIMIT_STORAGE) when several web processes must count together. An account is
counted under a keyed hash of its normalised username, never the username itself; an unknown
username is counted exactly like a known one, so no limit tells whether a username exists.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis.asyncio
from fastapi import Request
from limits import (
    RateLimitItem,
    RateLimitItemPerDay,
    RateLimitItemPerHour,
    RateLimitItemPerSecond,
    parse,
)
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from limits.errors import StorageError

from core.normalize import username_key
from settings import Settings

log = logging.getLogger("cers.limits")


class TooManyAttempts(Exception):
    """Over a limit: the 429 page, with Retry-After; nothing was started."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class LimitsUnavailable(Exception):
    """The shared store did not answer: nothing goes through uncounted (a 503 page)."""


@dataclass(frozen=True)
class Rule:
    """One thing limited: its name in the store, its limit per client address, and its limit
    per account (the username typed), if it has one."""

    name: str
    per_address: RateLimitItem
    per_account: RateLimitItem | None = None


@asynccontextmanager
async def store() -> AsyncIterator[None]:
    """The one place a store that does not answer becomes LimitsUnavailable."""
    try:
        yield
    except StorageError as err:
        log.warning("rate limit store unavailable: %r", err.storage_error)
        raise LimitsUnavailable from err


def client_address(request: Request) -> str:
    """The connection's address; ProxyHeadersMiddleware (web/app.py) has already replaced it
    with X-Forwarded-For's client when, and only when, the connection is a trusted proxy."""
    return request.client.host if request.client else ""


class StaffLockout:
    """Failed staff sign-ins per account in a moving window; the failure that fills the window
    locks the account for as long. A success clears the failures."""

    def __init__(self, storage: Storage, after_failures: int, seconds: int) -> None:
        self._failures = RateLimitItemPerSecond(after_failures, seconds)
        self._lock = RateLimitItemPerSecond(1, seconds)
        self._moving = MovingWindowRateLimiter(storage)
        self._fixed = FixedWindowRateLimiter(storage)

    async def locked(self, account: str) -> bool:
        async with store():
            return not await self._fixed.test(self._lock, "staff-lock", account)

    async def failed(self, account: str) -> bool:
        """Counts a failure; True when it is the one that locks the account."""
        async with store():
            counted = await self._moving.hit(self._failures, "staff-failures", account)
            stats = await self._moving.get_window_stats(self._failures, "staff-failures", account)
            if (counted and stats.remaining > 0) or await self.locked(account):
                return False
            await self._fixed.hit(self._lock, "staff-lock", account)
            return True

    async def succeeded(self, account: str) -> None:
        async with store():
            await self._moving.clear(self._failures, "staff-failures", account)


class Limiter:
    """Every limit the site applies, over one store; built once per app (web/app.py)."""

    def __init__(
        self, settings: Settings, storage: Storage, pool: redis.asyncio.ConnectionPool | None
    ) -> None:
        self._secret = settings.secret_key.get_secret_value().encode()
        self._storage = storage
        self._pool = pool
        self._window = MovingWindowRateLimiter(storage)
        s = settings
        self.gckey_sign_in = Rule(
            "gckey-sign-in", parse(s.sign_in_limit_per_address), parse(s.sign_in_limit_per_account)
        )
        self.staff_sign_in = Rule(
            "staff-sign-in",
            parse(s.staff_sign_in_limit_per_address),
            parse(s.staff_sign_in_limit_per_account),
        )
        self.sign_up = Rule("sign-up", parse(s.sign_up_limit_per_address))
        self.reset = Rule(
            "reset", parse(s.reset_limit_per_address), RateLimitItemPerDay(s.reset_attempts_per_day)
        )
        self.reset_code = Rule(
            "reset-code",
            parse(s.reset_code_limit_per_address),
            RateLimitItemPerHour(s.reset_codes_per_hour),
        )
        self.staff_lockout = StaffLockout(
            storage, s.staff_lock_after_failures, round(s.staff_lock_minutes * 60)
        )

    @classmethod
    def for_settings(cls, settings: Settings) -> Limiter:
        uri = settings.rate_limit_storage
        if not uri:
            return cls(settings, MemoryStorage(), None)
        # Our own pool, so the app can close its connections when it stops.
        pool = redis.asyncio.ConnectionPool.from_url(uri.removeprefix("async+"))
        storage = RedisStorage(
            uri if uri.startswith("async+") else f"async+{uri}",
            implementation="redispy",
            key_prefix=settings.rate_limit_key_prefix,
            wrap_exceptions=True,
            # limits types its options as scalars; it hands them to redis-py as they are.
            connection_pool=pool,  # type: ignore[arg-type]
        )
        return cls(settings, storage, pool)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    def account(self, username: str) -> str:
        """A keyed hash of the username as its lookup normalises it (case, Unicode form)."""
        key = username_key(username).encode()
        return hmac.new(self._secret, b"rate-limit-account:" + key, hashlib.sha256).hexdigest()

    async def hit(self, rule: Rule, request: Request, account: str | None = None) -> None:
        """Counts one attempt from this request's address (and for ``account``, from
        ``account()``); over a limit, TooManyAttempts, before anything else is done."""
        checks = [(rule.per_address, "address", client_address(request))]
        if rule.per_account is not None and account is not None:
            checks.append((rule.per_account, "account", account))
        async with store():
            for item, kind, who in checks:
                if not await self._window.hit(item, rule.name, kind, who):
                    stats = await self._window.get_window_stats(item, rule.name, kind, who)
                    log.warning("rate limit %s per %s reached", rule.name, kind)
                    raise TooManyAttempts(max(1, math.ceil(stats.reset_time - time.time())))
