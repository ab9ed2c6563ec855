"""One Settings class for the web app, the worker and the run command, read from the environment."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from limits import parse
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.envconfig import ClientConfigProfile, ClientConnectConfig

from core.crypto import BadKeyRing, KeyRing

SECRET_KEY_FILE = "secret-key"  # in DATA_DIR: development's own key, made on first run
PAYLOAD_KEYS_FILE = "payload-keys"  # in DATA_DIR: development's own key ring, likewise


class Settings(BaseSettings):
    # An error names the setting, never its value: not a secret's tail in a start-up log.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".data")

    temporal_address: str = ""  # empty: the run command starts the embedded dev server
    temporal_namespace: str = "default"
    task_queue: str = "cers-onboarding"
    temporal_rpc_timeout_seconds: float = 10  # a page waits no longer than this on Temporal
    # A Temporal cluster with TLS, or Temporal Cloud: read through temporalio.envconfig, under
    # the SDK's own names (TEMPORAL_API_KEY, TEMPORAL_TLS_*), from this environment and .env,
    # or from a profile of an envconfig TOML file. Set here, a value wins over the file's.
    temporal_config_file: str = ""  # empty: no file is read
    temporal_profile: str = ""  # the file's profile; empty: "default"
    temporal_api_key: SecretStr = SecretStr("")  # Temporal Cloud's API key (TLS is then on)
    temporal_tls: bool = False  # TLS with the system's CAs, no client certificate
    temporal_tls_client_cert_path: str = ""  # mTLS: the client certificate (PEM)
    temporal_tls_client_key_path: str = ""  # and its private key (PEM)
    temporal_tls_server_ca_cert_path: str = ""  # a private CA for the server's certificate
    temporal_tls_server_name: str = ""  # the name the server's certificate is checked against
    # On SIGTERM (a deploy, a restart) the site finishes the requests in flight for up to this
    # long (a page waits on Temporal at most temporal_rpc_timeout_seconds), then closes them.
    web_graceful_shutdown_seconds: int = 15
    # Likewise the worker, for the activities in flight: an e-mail attempt may take up to its
    # 30 s timeout. Past it they are cancelled, and retried by the next worker.
    worker_graceful_shutdown_seconds: float = 30

    database_url: str = ""  # empty: SQLite in the data directory
    # The worker applies the migrations at start. Off where a one-shot job applies them first
    # (the compose stack), so replicas starting together do not race on the schema.
    migrate_on_start: bool = True

    smtp_host: str = ""  # empty: the run command starts a local SMTP catcher
    smtp_port: int = 1025
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    mail_from: str = "CERS <no-reply@cers.example.ca>"

    # Signs confirmation links and tokens. Empty in development: a random key kept in DATA_DIR.
    secret_key: SecretStr = SecretStr("")
    public_url: str = "http://127.0.0.1:8000"  # e-mail links, and the host the site answers to
    # More host names the site answers to (comma- or space-separated), for a second name of the
    # same site; any other Host header is refused, so no link or redirect is built from it.
    allowed_hosts: str = ""
    https_only_cookies: bool = False  # Secure cookies even when PUBLIC_URL is http

    session_idle_minutes: int = 20  # GCKey's single sign-on window
    session_max_hours: float = 12  # however active, a session ends this long after it began
    session_cookie_days: float = 14  # how long a browser keeps its session id (and a sign-up)
    terms_version: str = "2024-07"
    recovery_question_count: int = 3
    recovery_answer_min_length: int = 3
    # Unpublished by GCKey: long enough for any street or school name, short enough that a
    # form cannot post pages of text to be hashed and kept.
    recovery_answer_max_length: int = 100
    recovery_hint_max_length: int = 100
    reminder_after_hours: float = 24
    expire_after_hours: float = 72
    stuck_after_hours: float = 24  # an open journey without progress this long is stuck
    # A sign-up with no progress this long before its GCKey is issued (or its Sign-In Partner
    # linked) ends as abandoned and frees its username. 30 days: ten times the confirmation
    # link's life and a month's holiday, so nobody coming back within reason loses their name,
    # while a name nobody will finish is not held for long.
    abandon_after_days: float = 30
    # The rules of signing in. GC publishes no lockout threshold or duration for GCKey; these
    # are the service's choice. GCKeys expire after two years unused (published).
    lock_after_failures: int = 5
    lock_minutes: float = 20
    gckey_expire_after_days: float = 730
    reset_max_failures: int = 3
    reset_expire_after_minutes: float = 30

    # The Sign-In Partner: an OpenID Connect provider (the credential broker). With no issuer
    # the option says it is not available.
    partner_issuer: str = ""
    partner_client_id: str = ""
    partner_client_secret: SecretStr = SecretStr("")
    partner_timeout_seconds: float = 10

    archive_every_seconds: int = 60  # how often closed journeys are swept into the archive

    # Journeys the worker keeps in memory between workflow tasks. Each cached run holds its
    # sandboxed state (a few hundred KiB); one not cached is replayed from its history at its
    # next task (tens of ms of worker CPU). Journeys spend years parked at the e-mail wait or
    # the portal and wake rarely (a reminder, an expiry, a support action; a sign-in is
    # decided without waiting for its journey), so a cache a little larger than the journeys
    # in progress at once is enough. The SDK's default, 1,000, held about 490 MB of worker
    # memory with 10,000 journeys parked.
    worker_cached_journeys: int = Field(default=250, ge=0)

    # Encrypts every payload in Temporal (core/crypto.py): ``id:base64-32-bytes`` keys, comma
    # separated, the first encrypts and all decrypt. Empty in development: a ring kept in
    # DATA_DIR. PAYLOAD_ACCEPT_PLAINTEXT opens the cut-over window (README), never left open.
    payload_keys: SecretStr = SecretStr("")
    payload_accept_plaintext: bool = False
    # The Temporal Web UI's origin, the one site allowed to call the codec endpoints (with the
    # staff member's cookie). Empty: none.
    temporal_ui_origin: str = ""

    # Rate limits (web/limits.py), each a `limits` string ("10/minute"), per client address
    # and per account (the username typed, known or not). Counted in process unless
    # RATE_LIMIT_STORAGE names a shared store (redis://host:6379), needed as soon as more than
    # one web process runs. The client address comes from X-Forwarded-For only when the
    # connection is from one of TRUSTED_PROXIES (addresses or networks, comma-separated).
    rate_limit_storage: str = ""
    rate_limit_key_prefix: str = "cers-limits"
    trusted_proxies: str = ""
    sign_in_limit_per_address: str = "30/minute"
    sign_in_limit_per_account: str = "10/minute"
    staff_sign_in_limit_per_address: str = "30/minute"
    staff_sign_in_limit_per_account: str = "10/minute"
    sign_up_limit_per_address: str = "20/minute"
    reset_limit_per_address: str = "20/hour"
    reset_attempts_per_day: int = 5  # Forgot your password? attempts per username
    reset_code_limit_per_address: str = "20/hour"
    reset_codes_per_hour: int = 3  # confirmation code e-mails per GCKey
    # A staff account locks after this many failed sign-ins within the window, for as long.
    staff_lock_after_failures: int = 5
    staff_lock_minutes: float = 20

    # Operating it (observe/): logs, health, metrics, traces.
    # One JSON object per line, or plain text; empty: text in development, JSON elsewhere.
    log_format: Literal["", "json", "text"] = ""
    # The worker's own HTTP port: /healthz, /readyz and /metrics (0: any free port, logged).
    worker_health_host: str = "0.0.0.0"
    worker_health_port: int = 8081
    # How long /readyz trusts its last look at Temporal, the database and SMTP, and how long
    # each look may take: a flood of probes costs the dependencies one look per interval.
    readiness_cache_seconds: float = 5
    readiness_timeout_seconds: float = 2
    # The bearer token Prometheus sends for the site's /metrics (and the worker's). Empty: the
    # site serves no /metrics (its counts are nobody's business), the worker's port does.
    metrics_token: SecretStr = SecretStr("")
    # host:port where the Temporal SDK serves its own metrics (Runtime's PrometheusConfig);
    # empty: not served. One per process: the site and the worker each need their own.
    temporal_metrics_bind: str = ""
    # How long the worker's gauge of open journeys by step trusts its last visibility count.
    open_journeys_cache_seconds: float = 30
    # OTLP over HTTP (http://collector:4318): traces are exported there. Empty: no tracing at
    # all, no interceptor, no instrumentation.
    otel_exporter_otlp_endpoint: str = ""

    @field_validator("rate_limit_storage")
    @classmethod
    def _a_redis_url(cls, value: str) -> str:
        schemes = ("redis://", "rediss://")
        if value and not value.removeprefix("async+").startswith(schemes):
            raise ValueError("RATE_LIMIT_STORAGE is empty (in process) or a Redis URL")
        return value

    @field_validator(
        "sign_in_limit_per_address",
        "sign_in_limit_per_account",
        "staff_sign_in_limit_per_address",
        "staff_sign_in_limit_per_account",
        "sign_up_limit_per_address",
        "reset_limit_per_address",
        "reset_code_limit_per_address",
    )
    @classmethod
    def _a_rate_limit(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError:
            raise ValueError("not a rate limit such as 10/minute") from None  # no value shown
        return value

    @model_validator(mode="after")
    def _secret_key(self) -> Settings:
        key = self.secret_key.get_secret_value()
        if not key and self.environment == "development":
            self.secret_key = SecretStr(development_secret_key(self.data_dir))
        elif self.environment != "development" and weak(key):
            raise ValueError(
                f"SECRET_KEY must be set to 32 or more random characters in {self.environment}"
            )
        return self

    @model_validator(mode="after")
    def _payload_keys(self) -> Settings:
        text = self.payload_keys.get_secret_value()
        if not text.strip() and self.environment == "development":
            self.payload_keys = SecretStr(development_payload_keys(self.data_dir))
        elif not text.strip():
            raise ValueError(f"PAYLOAD_KEYS must be set to a key ring in {self.environment}")
        try:
            key_ring(self.payload_keys.get_secret_value())
        except BadKeyRing as err:
            raise ValueError(f"PAYLOAD_KEYS: {err}") from None
        return self

    @property
    def payload_ring(self) -> KeyRing:
        return key_ring(self.payload_keys.get_secret_value())

    def temporal_connection(self) -> ClientConnectConfig:
        """Client.connect's target, namespace, TLS and API key: an envconfig profile (the
        file's, when TEMPORAL_CONFIG_FILE names one) under these settings. A file or key that
        cannot be read fails here, at start, naming the setting's file."""
        env = {
            "TEMPORAL_ADDRESS": self.temporal_address,
            "TEMPORAL_API_KEY": self.temporal_api_key.get_secret_value(),
            "TEMPORAL_TLS_CLIENT_CERT_PATH": self.temporal_tls_client_cert_path,
            "TEMPORAL_TLS_CLIENT_KEY_PATH": self.temporal_tls_client_key_path,
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH": self.temporal_tls_server_ca_cert_path,
            "TEMPORAL_TLS_SERVER_NAME": self.temporal_tls_server_name,
            "TEMPORAL_TLS": "true" if self.temporal_tls else "",
            # The default "default" does not hide a profile's namespace; a set one does.
            "TEMPORAL_NAMESPACE": (
                self.temporal_namespace if "temporal_namespace" in self.model_fields_set else ""
            ),
        }
        profile = ClientConfigProfile.load(
            self.temporal_profile or None,
            config_source=Path(self.temporal_config_file) if self.temporal_config_file else None,
            disable_file=not self.temporal_config_file,
            override_env_vars={name: value for name, value in env.items() if value},
        )
        connection = profile.to_client_connect_config()
        connection.setdefault("target_host", "127.0.0.1:7233")
        connection.setdefault("namespace", self.temporal_namespace)
        return connection

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
        return f"sqlite:///{self.data_dir / 'cers.sqlite3'}"

    @property
    def https(self) -> bool:
        """The site is reached over https: HSTS, and Secure cookies."""
        return urlsplit(self.public_url).scheme.lower() == "https"

    @property
    def secure_cookies(self) -> bool:
        """Cookies go over HTTPS only when the site is served over HTTPS (or told to)."""
        return self.https or self.https_only_cookies

    @property
    def trusted_hosts(self) -> list[str]:
        """The Host headers the site answers: PUBLIC_URL's host and ALLOWED_HOSTS."""
        extra = self.allowed_hosts.replace(",", " ").split()
        return [urlsplit(self.public_url).hostname or "", *extra]

    @property
    def json_logs(self) -> bool:
        return self.log_format == "json" or (
            not self.log_format and self.environment != "development"
        )

    @property
    def mail_dir(self) -> Path:
        """Where the development SMTP catcher keeps what it receives (a Maildir)."""
        return self.data_dir / "mail"

    @property
    def dev_mail_enabled(self) -> bool:
        return self.environment == "development" and not self.smtp_host


# Published once in this repository (settings.py's old default): never a key.
PUBLISHED_KEYS = frozenset({"development-only-secret-change-me"})


def weak(key: str) -> bool:
    """Too short, too little variety to be random (a repeated character), or published."""
    return len(key) < 32 or len(set(key)) < 12 or key in PUBLISHED_KEYS


@cache
def key_ring(text: str) -> KeyRing:
    """The ring PAYLOAD_KEYS writes, parsed once per process."""
    return KeyRing.parse(text)


def development_secret_key(data_dir: Path) -> str:
    return development_file(data_dir, SECRET_KEY_FILE, lambda: secrets.token_urlsafe(48))


def development_payload_keys(data_dir: Path) -> str:
    """A ring of one random key; a rotation puts a new key in front of it."""
    return development_file(
        data_dir, PAYLOAD_KEYS_FILE, lambda: KeyRing.new_key_text(f"dev-{secrets.token_hex(3)}")
    )


def development_file(data_dir: Path, name: str, make: Callable[[], str]) -> str:
    """The development instance's own secret, made once and readable by its owner only. Made
    aside and linked into place, so two processes starting together read the same one."""
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(make())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: theirs is the key
        finally:
            draft.unlink()
    return path.read_text().strip()


@cache
def get_settings() -> Settings:
    return Settings()
