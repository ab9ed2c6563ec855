"""What the tests of the two languages share: a rule's message in English and in French, and
English msgids found where only French should be."""

from __future__ import annotations

import re

from babel.messages.catalog import Catalog

from i18n import gettext
from tests.web_helpers import Page

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")

# Words spelled the same in both languages. Every other msgid must read differently in
# French. "GCKey" is not one of them: it is CléGC in French (and is not a msgid).
SAME_IN_FRENCH = {"Canada", "Europe", "Question", "Question %(n)s"}


def says(message: str, english: str, french: str) -> None:
    """The rule returns the English msgid, and the French pages show the French sentence."""
    assert message == english
    assert gettext("fr", message) == french


def msgids(catalog: Catalog) -> list[str]:
    ids = [m.id for m in catalog if m.id]
    assert all(isinstance(i, str) for i in ids), "plural forms would need their own checks"
    return [str(i) for i in ids]


class EnglishFinder:
    """Finds English msgids in rendered text: sentences anywhere, single words as whole nodes."""

    def __init__(self, catalog: Catalog) -> None:
        ids = [m for m in msgids(catalog) if m not in SAME_IN_FRENCH]
        self.words = {m for m in ids if " " not in m and not PLACEHOLDER.search(m)}
        # A placeholder splits a msgid into pieces; a piece of two words or more is English
        # no French page would contain (single words like "To" hide inside "Toronto").
        self.pieces = {
            piece.strip()
            for m in ids
            for piece in PLACEHOLDER.split(m)[::2]
            if " " in piece.strip()
        }

    def in_lines(self, lines: list[str]) -> list[str]:
        lines = [" ".join(line.split()) for line in lines]
        lines = [line for line in lines if line]
        text = "\n".join(lines)
        return sorted({p for p in self.pieces if p in text} | (self.words & set(lines)))

    def in_page(self, page: Page) -> list[str]:
        for node in page.html.css('body [lang="en"]'):  # the FIP and the language toggle
            node.decompose()
        lines = page.html.text(separator="\n").splitlines()
        lines += [str(n.attributes.get("aria-label")) for n in page.html.css("[aria-label]")]
        lines += [str(n.attributes.get("label")) for n in page.html.css("optgroup")]
        return self.in_lines(lines)
