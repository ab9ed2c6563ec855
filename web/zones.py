"""The business time zone list, from CLDR through Babel: the zones CLDR lists for Canada first,
named in the page's language with their UTC offset now, east to west; then every other
canonical zone (no deprecated alias, no Etc/), by region and city. The value is the IANA id."""

from __future__ import annotations

import unicodedata
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from babel.core import get_global
from babel.dates import get_timezone_location, get_timezone_name

from workflows.rules import N_

REGIONS = {
    "America": N_("Americas"),
    "Europe": N_("Europe"),
    "Africa": N_("Africa"),
    "Asia": N_("Asia"),
    "Australia": N_("Australia"),
    "Pacific": N_("Pacific Ocean"),
    "Atlantic": N_("Atlantic Ocean"),
    "Indian": N_("Indian Ocean"),
    "Antarctica": N_("Antarctica"),
}


@dataclass(frozen=True)
class Zone:
    id: str
    label: str


@dataclass(frozen=True)
class ZoneGroup:
    label: str  # an English msgid, translated by the page
    zones: tuple[Zone, ...]


@cache
def aliases() -> dict[str, str]:
    """CLDR's deprecated zone ids -> the zone each now is."""
    return dict(get_global("zone_aliases"))


def canonical(zone: str) -> str:
    return aliases().get(zone, zone)


@cache
def canonical_zones() -> frozenset[str]:
    return frozenset(
        z for z in zoneinfo.available_timezones() - aliases().keys() if z.split("/")[0] in REGIONS
    )


@cache
def cldr_names(zone: str) -> tuple[str, ...]:
    """The ids CLDR may keep a zone's names under: itself, then its old ids."""
    return (zone, *sorted(old for old, new in aliases().items() if new == zone))


def city(zone: str, locale: str) -> str:
    for name in cldr_names(zone):
        found = str(get_timezone_location(name, locale=locale, return_city=True))
        if "/" not in found:
            return found
    return zone.rsplit("/", 1)[-1].replace("_", " ")


def zone_name(zone: str, locale: str, now: datetime) -> str:
    """CLDR's generic name ("Eastern Time"); where CLDR has none for the id, the name of the
    moment ("Yukon Time"); where it has neither, nothing (the offset says it)."""
    generic = str(get_timezone_name(zone, "long", locale=locale))
    if "(" not in generic:
        return generic
    now_there = now.astimezone(zoneinfo.ZoneInfo(zone))
    specific = str(get_timezone_name(now_there, "long", locale=locale))
    return "" if specific.startswith(("UTC", "GMT")) else specific


def utc_offset(zone: str, now: datetime) -> str:
    offset = now.astimezone(zoneinfo.ZoneInfo(zone)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    sign = "+" if minutes >= 0 else "\u2212"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def offset_minutes(zone: str, now: datetime) -> float:
    offset = now.astimezone(zoneinfo.ZoneInfo(zone)).utcoffset()
    return offset.total_seconds() / 60 if offset else 0


def sort_key(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isalnum()).casefold()


def canadian_label(zone: str, cities: str, locale: str, now: datetime) -> str:
    """St. John's — Newfoundland Time (UTC−03:30)."""
    name = zone_name(zone, locale, now)
    named = f"{city(zone, cities)} \u2014 {name}" if name else city(zone, cities)
    return f"{named} ({utc_offset(zone, now)})"


def zone_list(language: str, now: datetime) -> tuple[ZoneGroup, ...]:
    return zone_groups(language, now.replace(minute=0, second=0, microsecond=0))


@cache
def zone_groups(language: str, hour: datetime) -> tuple[ZoneGroup, ...]:
    """``hour``: now, to the hour (offsets change on the hour; the list is made once an hour)."""
    locale = f"{language}_CA"
    # City names from the language itself: CLDR's en_CA calls St. John's "Saint John's".
    cities = language
    canada = [z for z in get_global("territory_zones")["CA"] if z in canonical_zones()]
    east_to_west = sorted(
        canada, key=lambda z: (-offset_minutes(z, hour), sort_key(city(z, cities)))
    )
    canadian = tuple(Zone(z, canadian_label(z, cities, locale, hour)) for z in east_to_west)
    groups = [ZoneGroup(N_("Canada"), canadian)]
    for region, label in REGIONS.items():
        zones = sorted(
            (z for z in canonical_zones() - set(canada) if z.split("/")[0] == region),
            key=lambda z: sort_key(city(z, cities)),
        )
        named = tuple(Zone(z, f"{city(z, cities)} ({utc_offset(z, hour)})") for z in zones)
        groups.append(ZoneGroup(label, named))
    return tuple(groups)
