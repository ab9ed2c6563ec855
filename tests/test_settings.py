"""Settings come from the environment; a placeholder secret never leaves development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from settings import PLACEHOLDER_SECRET, Settings


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


def test_development_runs_with_the_placeholder_and_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://cers@db:5432/cers")
    monkeypatch.setenv("EXPIRE_AFTER_HOURS", "48")
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2-mail-secret")
    settings = from_environment()
    assert settings.secret_key.get_secret_value() == PLACEHOLDER_SECRET
    assert settings.sqlalchemy_url == "postgresql+psycopg://cers@db:5432/cers"
    assert settings.expire_after_hours == 48
    assert settings.smtp_password.get_secret_value() == "hunter2-mail-secret"
    assert "hunter2" not in repr(settings)  # secrets never print
