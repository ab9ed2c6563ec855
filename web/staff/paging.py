"""The staff list's Previous link. Visibility only pages forward (its token names where the
next page starts), so the session keeps the addresses of the pages a staff member has seen
lately in one list, and the page before this one is the one seen before it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from web.session import SessionKey

# How many pages back Previous reaches (further back, First page starts the list again).
TRAIL_PAGES = 50


def list_key(values: dict[str, str]) -> str:
    """One list: its filters as the address gives them."""
    return urlencode(sorted(values.items()))


def previous_page(session: dict[str, Any], key: str, number: int, page: str) -> str | None:
    """The ``page`` value of the page before page ``number`` ("" for the first page), or None
    when there is none or this session did not see it; records ``page`` as page ``number``."""
    if number <= 1:
        return None
    held = session.get(SessionKey.STAFF_PAGES)
    pages: dict[str, str] = {}
    if isinstance(held, dict) and held.get("list") == key and isinstance(held.get("pages"), dict):
        pages = {k: v for k, v in held["pages"].items() if k.isdigit() and isinstance(v, str)}
    pages[str(number)] = page
    pages = {k: v for k, v in pages.items() if abs(int(k) - number) < TRAIL_PAGES}
    session[SessionKey.STAFF_PAGES] = {"list": key, "pages": pages}
    return "" if number == 2 else pages.get(str(number - 1))
