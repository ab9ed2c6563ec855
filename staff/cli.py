"""``python -m staff``: create, list and disable staff accounts.

    python -m staff create --username ana --role support [--display-name "Ana Lima"]
    python -m staff create --username ben --role auditor --password-stdin < password.txt
    python -m staff list
    python -m staff disable ana

The password follows the GCKey rules (workflows/rules.py) and is kept as an argon2id hash. The
database is DATABASE_URL's (settings.py), migrated first.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from core.hashing import hash_secret
from core.normalize import normalize_username
from db.engine import make_engine, migrate
from db.models import StaffMember
from db.staff import (
    StaffExists,
    StaffRole,
    create_staff_member,
    disable_staff_member,
    staff_members,
)
from settings import Settings
from workflows import rules

log = logging.getLogger("cers.staff")

USERNAME_MAX = 64


class Refused(Exception):
    """The command cannot do what was asked; the message says why."""


def username_problems(username: str) -> list[str]:
    if not 3 <= len(username) <= USERNAME_MAX or any(c.isspace() for c in username):
        return [f"A staff username has 3 to {USERNAME_MAX} characters and no spaces."]
    return []


def create(
    engine: Engine,
    username: str,
    role: StaffRole,
    password: str,
    confirmation: str,
    display_name: str = "",
) -> StaffMember:
    """Checks the username and the password (GCKey's rules), then stores the account."""
    username = normalize_username(username.strip())
    problems = username_problems(username)
    problems += rules.failed(rules.password_checks(password, username, confirmation))
    if problems:
        raise Refused("; ".join(problems))
    try:
        return create_staff_member(
            engine, username, role, hash_secret(password), display_name.strip()
        )
    except StaffExists as err:
        raise Refused(f"A staff account named {username} already exists.") from err


def disable(engine: Engine, username: str) -> StaffMember:
    member = disable_staff_member(engine, username)
    if member is None:
        raise Refused(f"There is no staff account named {username}.")
    return member


def listing(engine: Engine) -> str:
    rows = [("USERNAME", "ROLE", "STATUS", "DISPLAY NAME")]
    for m in staff_members(engine):
        status = f"disabled {m.disabled_at:%Y-%m-%d}" if m.disabled_at else "active"
        rows.append((m.username, m.role, status, m.display_name))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + f"  {row[3]}\n"
        for row in rows
    )


def read_password(stdin: bool, ask: Callable[[str], str] = getpass.getpass) -> tuple[str, str]:
    """The password and its confirmation: one line of standard input, or asked twice."""
    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        return password, password
    return ask("Password: "), ask("Password again: ")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m staff", description=__doc__.split("\n\n")[0])
    commands = p.add_subparsers(dest="command", required=True)
    made = commands.add_parser("create", help="create a staff account")
    made.add_argument("--username", required=True)
    made.add_argument("--role", required=True, choices=[r.value for r in StaffRole])
    made.add_argument("--display-name", default="")
    made.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    commands.add_parser("list", help="list staff accounts")
    off = commands.add_parser("disable", help="disable a staff account")
    off.add_argument("username")
    return p


def main(argv: Sequence[str], settings: Settings | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "running upgrade" is not news
    args = parser().parse_args(argv)
    settings = settings or Settings()
    engine = make_engine(settings.sqlalchemy_url)  # first: it makes SQLite's directory
    migrate(settings.sqlalchemy_url)
    try:
        if args.command == "create":
            password, confirmation = read_password(args.password_stdin)
            member = create(
                engine,
                args.username,
                StaffRole(args.role),
                password,
                confirmation,
                args.display_name,
            )
            log.info("created %s staff account %s", member.role, member.username)
        elif args.command == "disable":
            member = disable(engine, args.username)
            log.info("disabled staff account %s", member.username)
        else:
            sys.stdout.write(listing(engine))
    except Refused as refused:
        log.error("%s", refused)
        return 1
    finally:
        engine.dispose()
    return 0
