"""Settings come from the environment; a placeholder secret never leaves development."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

import settings as settings_module
from settings import SECRET_KEY_FILE, Settings


def from_environment() -> Settings:
    """Settings from the environment alone, as if no .env file were there."""
    # _env_file is an argument of BaseSettings itself; mypy knows only the fields.
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize("environment", ["test", "production"])
def test_placeholder_secret_is_refused_outside_development(
    environment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="SECRET_KEY must be set"):
        from_environment()
    monkeypatch.setenv("SECRET_KEY", "short")
    with pytest.raises(ValidationError, match="SECRET_KEY must be set"):
        from_environment()


def test_development_makes_its_own_key_and_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://cers@db:5432/cers")
    monkeypatch.setenv("EXPIRE_AFTER_HOURS", "48")
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2-mail-secret")
    settings = from_environment()
    # No published placeholder: a random key made on first run, kept for the next ones,
    # readable by its owner only.
    key = settings.secret_key.get_secret_value()
    assert len(key) >= 48 and key not in settings_source()
    assert from_environment().secret_key.get_secret_value() == key
    assert stat.S_IMODE((tmp_path / SECRET_KEY_FILE).stat().st_mode) == 0o600
    assert settings.sqlalchemy_url == "postgresql+psycopg://cers@db:5432/cers"
    assert settings.expire_after_hours == 48
    assert settings.smtp_password.get_secret_value() == "hunter2-mail-secret"
    assert "hunter2" not in repr(settings)  # secrets never print


def settings_source() -> str:
    return Path(settings_module.__file__).read_text()


@pytest.mark.parametrize("key", ["", "x" * 40, "development-only-secret-change-me"])
def test_a_missing_or_weak_key_refuses_to_start_and_prints_no_value(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", key)
    monkeypatch.setenv("PARTNER_CLIENT_SECRET", "partner-secret-value-4f9a")
    monkeypatch.setenv("SMTP_PASSWORD", "mail-secret-value-77c1")
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    said = str(refused.value)
    assert "SECRET_KEY" in said
    for secret in ("partner-secret", "4f9a", "mail-secret", "77c1", "xxxx", "change-me"):
        assert secret not in said


def test_a_bad_value_is_named_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SMTP_PORT", "secret-port-value-93b2")
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert "smtp_port" in str(refused.value)
    assert "93b2" not in str(refused.value)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SIGN_IN_LIMIT_PER_ACCOUNT", "ten a minute", "not a rate limit such as 10/minute"),
        ("RATE_LIMIT_STORAGE", "memcached://cache:11211", "a Redis URL"),
    ],
)
def test_a_limit_or_store_it_cannot_read_stops_the_start(
    variable: str, value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=message) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert value not in str(refused.value)  # named, not printed
    monkeypatch.setenv("RATE_LIMIT_STORAGE", "redis://127.0.0.1:6379")
    monkeypatch.setenv("SIGN_IN_LIMIT_PER_ACCOUNT", "10 per minute")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.sign_in_limit_per_account == "10 per minute"
