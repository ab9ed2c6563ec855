"""Translations shared by the web pages and the e-mails: Babel catalogs under locales/.

The .po files are the source; they are compiled in memory at first use, so a clean clone
needs no build step.
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time, get_timezone_name
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = Path(__file__).parent / "locales"


@cache
def translations(language: str) -> NullTranslations:
    po = LOCALES / language / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def gettext(language: str, message: str) -> str:
    return translations(language).gettext(message)


DEFAULT_ZONE = "America/Toronto"


def long_date(local: datetime, language: str) -> str:
    """CLDR's long date, except that French writes the first of the month as an ordinal
    ("le 1er décembre 2026"), which CLDR's patterns cannot say."""
    text = format_date(local, "long", locale=f"{language}_CA")
    if language == "fr" and local.day == 1:
        text = re.sub(r"^1(?=\s)", "1er", text)
    return text


def format_when(value: datetime, language: str, zone: str = "") -> str:
    """A moment as a person reads it, in their zone: "November 28, 2026, 10:20 a.m.
    (Eastern Standard Time)" or "28 novembre 2026, 10 h 20 (heure normale de l'Est)"."""
    tz = ZoneInfo(zone or DEFAULT_ZONE)
    local = value.astimezone(tz)
    locale = f"{language}_CA"
    return (
        f"{long_date(local, language)}, "
        f"{format_time(local, 'short', tzinfo=tz, locale=locale)} "
        f"({get_timezone_name(local, 'long', locale=locale)})"
    )
