"""The published GCKey and CERS rules, in one pure module.

Used by the update validators, the web forms and the tests alike. Messages are English
msgids marked with ``N_`` so Babel extracts them; the web translates them for the user.

Sources (the published pages, as GC's help sites give them):
- username: GCKey Help "Create Your Username" (HP-01); CFIA "Getting your GCKey".
- password: IRCC Help Centre "How do I change my GCKey password?" (qnum=1411).
- recovery questions: number and answer length are unpublished, so they are settings.
- e-mail addresses: syntax checked by email-validator without network look-ups; ASCII only
  (see email_errors).
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from dataclasses import dataclass
from functools import cache

from email_validator import EmailNotValidError, validate_email

from core.languages import LANGUAGES
from core.normalize import normalize_answer, normalize_username

# The version of this rule set, recorded by each journey it checks (as the terms version is).
# Any change to a rule bumps it: tests/test_rules_version.py holds the fingerprint of each
# version's code and fails until the new one is recorded there.
RULES_VERSION = "2026-12-01.2"


def N_(message: str) -> str:
    """Marks a message for extraction; the web translates it."""
    return message


@dataclass(frozen=True)
class Check:
    code: str
    message: str
    ok: bool


USERNAME_MIN, USERNAME_MAX, USERNAME_MAX_DIGITS = 8, 16, 7
PASSWORD_MIN, PASSWORD_MAX = 8, 16
USERNAME_OVERLAP = 3
FRENCH_LETTERS = "àâæçéèêëîïôœùûüÿ"
USERNAME_SPECIALS = "$%^:{}~'?/|&*_-.`()[]!"
_USERNAME_ALLOWED = frozenset(
    "abcdefghijklmnopqrstuvwxyz"
    + "abcdefghijklmnopqrstuvwxyz".upper()
    + FRENCH_LETTERS
    + FRENCH_LETTERS.upper()
    + "0123456789"
    + USERNAME_SPECIALS
)


def username_checks(username: str) -> list[Check]:
    """The "Username Checklist Box": every rule, met or not."""
    username = normalize_username(username)
    digits = sum(c in "0123456789" for c in username)
    return [
        Check(
            "length",
            N_("Between 8 and 16 characters"),
            USERNAME_MIN <= len(username) <= USERNAME_MAX,
        ),
        Check(
            "characters",
            N_(
                "Only letters (French letters allowed), digits and these special characters: "
                "$ % ^ : { } ~ ' ? / | & * _ - . ` ( ) [ ] !"
            ),
            bool(username) and all(c in _USERNAME_ALLOWED for c in username),
        ),
        Check("digits", N_("No more than 7 digits"), digits <= USERNAME_MAX_DIGITS),
    ]


USERNAME_REQUIRED = N_("Enter a username.")


def username_errors(username: str) -> list[str]:
    """What the form says of a username: an empty (or blank) one is asked for, not measured
    by the rules."""
    if not username.strip():
        return [USERNAME_REQUIRED]
    return failed(username_checks(username))


USERNAME_TAKEN_MESSAGE = N_("This username has already been used. Choose another one.")


def password_checks(password: str, username: str, confirmation: str | None = None) -> list[Check]:
    """The "Password Checklist Box". ``confirmation`` is None while only the rules are shown."""
    checks = [
        Check(
            "length",
            N_("Between 8 and 16 characters"),
            PASSWORD_MIN <= len(password) <= PASSWORD_MAX,
        ),
        Check("upper", N_("At least one upper case letter"), any(c.isupper() for c in password)),
        Check("lower", N_("At least one lower case letter"), any(c.islower() for c in password)),
        Check("digit", N_("At least one digit"), any(c in "0123456789" for c in password)),
        Check(
            "username",
            N_("No 3 or more consecutive characters from your username"),
            not shares_run(password, username, USERNAME_OVERLAP),
        ),
    ]
    if confirmation is not None:
        checks.append(
            Check(
                "match",
                N_("The two passwords must match"),
                bool(password) and password == confirmation,
            )
        )
    return checks


def shares_run(password: str, username: str, run: int) -> bool:
    """True when the password holds ``run`` or more consecutive characters of the username."""
    pw, user = password.casefold(), username.casefold()
    return any(user[i : i + run] in pw for i in range(len(user) - run + 1))


def failed(checks: list[Check]) -> list[str]:
    return [c.message for c in checks if not c.ok]


# Recovery questions: GCKey does not publish its list; these are this service's.
RECOVERY_QUESTIONS: dict[str, str] = {
    "first_pet": N_("What was the name of your first pet?"),
    "first_school": N_("What was the name of your first school?"),
    "childhood_street": N_("On what street did you live as a child?"),
    "first_employer": N_("What was the name of your first employer?"),
    "favourite_teacher": N_("What is the family name of your favourite teacher?"),
    "first_car": N_("What was the make of your first car?"),
    "parents_town": N_("In what town did your parents meet?"),
    "favourite_book": N_("What is the title of your favourite book?"),
}


@dataclass(frozen=True)
class RecoveryEntry:
    question_id: str
    answer: str
    hint: str = ""


def recovery_errors(
    entries: list[RecoveryEntry],
    count: int,
    min_answer: int = 3,
    max_answer: int = 100,
    max_hint: int = 100,
) -> dict[str, list[str]]:
    """Errors keyed by form field (``question_0``, ``answer_0``, ``hint_0``...). The lengths
    are the settings' (GCKey publishes none); the page states them, so the messages need not."""
    errors: dict[str, list[str]] = {}
    seen: set[str] = set()
    if len(entries) != count:
        errors["recovery"] = [N_("Answer every recovery question.")]
    for i, entry in enumerate(entries):
        if entry.question_id not in RECOVERY_QUESTIONS:
            errors.setdefault(f"question_{i}", []).append(N_("Choose a question from the list."))
        elif entry.question_id in seen:
            errors.setdefault(f"question_{i}", []).append(
                N_("Choose a different question for each answer.")
            )
        seen.add(entry.question_id)
        answer = normalize_answer(entry.answer)
        if len(answer) < min_answer:
            errors.setdefault(f"answer_{i}", []).append(
                N_("The answer is too short: use at least the number of characters shown above.")
            )
        elif len(answer) > max_answer:
            errors.setdefault(f"answer_{i}", []).append(
                N_("The answer is too long: use at most the number of characters shown above.")
            )
        if answer and re.search(rf"\b{re.escape(answer)}\b", normalize_answer(entry.hint)):
            errors.setdefault(f"hint_{i}", []).append(N_("The hint must not contain the answer."))
        if has_invisible_characters(entry.hint):
            errors.setdefault(f"hint_{i}", []).append(INVISIBLE_CHARACTERS)
        if len(entry.hint.strip()) > max_hint:
            errors.setdefault(f"hint_{i}", []).append(
                N_("The hint is too long: use at most the number of characters shown above.")
            )
    return errors


# Create User Account

EMAIL_PATTERN = re.compile(r"^[^@\s]+@(?:[^@\s.]+\.)+[^@\s.]{2,}$")
TELEPHONE_PATTERN = re.compile(r"^\+?[0-9 ().-]{7,20}$")
NAME_MAX = 50
CANADIAN_TIME_ZONES = (
    "America/St_Johns",
    "America/Halifax",
    "America/Glace_Bay",
    "America/Moncton",
    "America/Goose_Bay",
    "America/Toronto",
    "America/Winnipeg",
    "America/Regina",
    "America/Edmonton",
    "America/Vancouver",
    "America/Whitehorse",
    "America/Dawson",
    "America/Iqaluit",
    "America/Rankin_Inlet",
    "America/Cambridge_Bay",
    "America/Inuvik",
    "America/Atikokan",
    "America/Creston",
    "America/Dawson_Creek",
    "America/Fort_Nelson",
    "America/Swift_Current",
)


REGIONS = (
    "Africa",
    "America",
    "Antarctica",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)


@cache
def time_zones() -> tuple[str, ...]:
    """Canadian zones first, then every other IANA zone by region (no Etc/ or old Canada/)."""
    others = sorted(zoneinfo.available_timezones() - set(CANADIAN_TIME_ZONES))
    return CANADIAN_TIME_ZONES + tuple(z for z in others if z.split("/")[0] in REGIONS)


EMAIL_MALFORMED = N_("Enter an e-mail address in the form name@example.ca.")
EMAIL_NOT_ASCII = N_(
    "CERS cannot send e-mail to an address with accented or other non-English letters. "
    "Use an address without them."
)
INVISIBLE_CHARACTERS = N_(
    "Remove the tab, line break or other invisible character from this field."
)


def has_invisible_characters(value: str) -> bool:
    """Control characters (NUL, tab, line breaks...) and lone surrogates: nobody types them,
    a mail header or a database column cannot hold them."""
    return any(unicodedata.category(c) in ("Cc", "Cs") for c in value)


def is_email(value: str) -> bool:
    """An address the mail server can be asked to deliver to: the syntax of RFC 5321/5322
    as email-validator checks it (no DNS look-up), in ASCII, with a top-level domain of two
    letters or more (email-validator takes one)."""
    if not value.isascii() or has_invisible_characters(value):
        return False
    try:
        validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return False
    return bool(EMAIL_PATTERN.match(value))


def email_errors(email: str, *, required: bool) -> list[str]:
    """Internationalised addresses are refused here rather than sent with SMTPUTF8: a mail
    server or relay without it would refuse them later, after the person has left the form."""
    if not email:
        return [N_("Enter your e-mail address.")] if required else []
    if has_invisible_characters(email):
        return [INVISIBLE_CHARACTERS]
    if not email.isascii():
        return [EMAIL_NOT_ASCII]
    if not is_email(email):
        return [EMAIL_MALFORMED]
    return []


def profile_errors(
    given_name: str, family_name: str, email: str, telephone: str, time_zone: str, language: str
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field_name, value in (("given_name", given_name), ("family_name", family_name)):
        if not value.strip():
            errors[field_name] = [N_("This field is required.")]
        elif len(value.strip()) > NAME_MAX:
            errors[field_name] = [N_("Use at most 50 characters.")]
        elif has_invisible_characters(value):
            errors[field_name] = [INVISIBLE_CHARACTERS]
    if problems := email_errors(email, required=True):
        errors["email"] = problems
    digits = sum(c.isdigit() for c in telephone)
    if telephone and (not TELEPHONE_PATTERN.match(telephone) or not 10 <= digits <= 15):
        errors["telephone"] = [
            N_("Enter a telephone number of 10 to 15 digits, or leave it empty.")
        ]
    if time_zone not in time_zones():
        errors["time_zone"] = [N_("Choose the time zone where you usually conduct business.")]
    if language not in LANGUAGES:
        errors["language"] = [N_("Choose English or French.")]
    return errors


# User Reference Number: a serial and a Luhn check digit, so a mistyped URN is caught.

URN_DIGITS = 10


def luhn_digit(digits: str) -> str:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


def urn_for(serial: int) -> str:
    if not 0 < serial < 10 ** (URN_DIGITS - 1):
        raise ValueError(f"URN serial out of range: {serial}")
    body = f"{serial:0{URN_DIGITS - 1}d}"
    return body + luhn_digit(body)


def is_urn(value: str) -> bool:
    digits = value.replace(" ", "").replace("-", "")
    return (
        len(digits) == URN_DIGITS
        and digits.isascii()
        and digits.isdigit()
        and luhn_digit(digits[:-1]) == digits[-1]
    )


URN_MISTYPED = N_(
    "This URN is mistyped: its last digit does not match the others. Check each digit."
)


def is_mistyped_urn(value: str) -> bool:
    """Ten digits, as a URN is typed, whose check digit fails. No username has that many
    digits, so it is a URN with a digit wrong, not something else."""
    digits = value.replace(" ", "").replace("-", "")
    return len(digits) == URN_DIGITS and digits.isascii() and digits.isdigit() and not is_urn(value)


def format_urn(urn: str) -> str:
    """Grouped for reading aloud: 000 000 001 8."""
    return f"{urn[0:3]} {urn[3:6]} {urn[6:9]} {urn[9:]}"


def is_argon2id(value: str) -> bool:
    """What the workflow accepts in place of a secret: an argon2id hash, never the secret."""
    return value.startswith("$argon2id$") and len(value) < 256
