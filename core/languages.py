"""The service's two languages, and English wherever a language is missing or unknown (a
path no route matched, an old session, a journey recorded before it had a language)."""

from __future__ import annotations

ENGLISH, FRENCH = LANGUAGES = ("en", "fr")


def supported_language(lang: str | None) -> str:
    """``lang`` if the service speaks it, English otherwise."""
    return lang if lang is not None and lang in LANGUAGES else ENGLISH


def other_language(lang: str) -> str:
    """The language a page's toggle offers."""
    return FRENCH if lang == ENGLISH else ENGLISH
