"""Settings come from the environment; a placeholder secret never leaves development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from settings import PLACEHOLDER_SECRET, Settings


@pytest.mark.parametrize("environment", ["test", "production"])
def test_placeholder_secret_is_refused_outside_development(
    environment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="SECRET_KEY must be set"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("SECRET_KEY", "short")
    with pytest.raises(ValidationError, match="SECRET_KEY must be set"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_development_runs_with_the_placeholder_and_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://cers@db:5432/cers")
    monkeypatch.setenv("EXPIRE_AFTER_HOURS", "48")
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2-mail-secret")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.secret_key.get_secret_value() == PLACEHOLDER_SECRET
    assert settings.sqlalchemy_url == "postgresql+psycopg://cers@db:5432/cers"
    assert settings.expire_after_hours == 48
    assert settings.smtp_password.get_secret_value() == "hunter2-mail-secret"
    assert "hunter2" not in repr(settings)  # secrets never print


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SIGN_IN_LIMIT_PER_ACCOUNT", "ten a minute", "couldn't parse rate limit string"),
        ("RATE_LIMIT_STORAGE", "memcached://cache:11211", "a Redis URL"),
    ],
)
def test_a_limit_or_store_it_cannot_read_stops_the_start(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("RATE_LIMIT_STORAGE", "redis://127.0.0.1:6379")
    monkeypatch.setenv("SIGN_IN_LIMIT_PER_ACCOUNT", "10 per minute")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.sign_in_limit_per_account == "10 per minute"
