"""The French catalog: complete for the code as it is now, faithful to its placeholders, in
CBSA's French vocabulary, and no English sentence left on a French page or e-mail."""

from __future__ import annotations

import re
import subprocess
import sysconfig
import uuid
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from temporalio.client import Client

from i18n import LOCALES, gettext
from settings import Settings
from tests.conftest import MailCatcher, NewWorker, text_of
from tests.i18n_helpers import PLACEHOLDER, SAME_IN_FRENCH, EnglishFinder, msgids
from tests.web_helpers import Page, browser, element

ROOT = Path(__file__).resolve().parent.parent
PYBABEL = Path(sysconfig.get_path("scripts")) / "pybabel"
NBSP = "\u00a0"
# The username rule quotes the characters themselves; they are not punctuation to typeset.
SPECIAL_CHARACTERS = " $ % ^ : { } ~ ' ? / | & * _ - . ` ( ) [ ] !"


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """A fresh extraction of the code as it is now, with the project's own command."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    options = "-F babel.cfg -k N_ -k _ --no-wrap --sort-by-file".split()
    subprocess.run(
        [str(PYBABEL), "extract", *options, "--project", "CERS onboarding", "-o", str(pot), "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as f:
        return read_po(f)


@pytest.fixture(scope="module")
def french() -> Catalog:
    with (LOCALES / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale="fr")


def test_every_extracted_message_has_a_french_translation(
    extracted: Catalog, french: Catalog
) -> None:
    untranslated = []
    for msgid in msgids(extracted):
        entry = french.get(msgid)
        if entry is None or not entry.string or entry.fuzzy:
            untranslated.append(msgid)
    assert untranslated == [], "run pybabel extract and update, then translate these"


def test_placeholders_are_the_same_in_french(french: Catalog) -> None:
    for msgid in msgids(french):
        msgstr = str(french[msgid].string)
        assert set(PLACEHOLDER.findall(msgstr)) == set(PLACEHOLDER.findall(msgid)), msgid


def test_every_message_reads_differently_in_french(extracted: Catalog) -> None:
    unchanged = [m for m in msgids(extracted) if gettext("fr", m) == m]
    assert sorted(unchanged) == sorted(SAME_IN_FRENCH & set(msgids(extracted)))


def test_french_uses_cbsa_names_and_typography(french: Catalog) -> None:
    for msgid in msgids(french):
        msgstr = str(french[msgid].string)
        # CBSA's French pages say SCDE, CléGC, NRU, ASFC and courriel.
        assert not re.search(r"\b(CERS|GCKey|URN|CBSA|e-mail)\b", msgstr), msgstr
        text = msgstr.replace(SPECIAL_CHARACTERS, "")
        assert not re.search(f"[^{NBSP}][:;?!]", text), f"no-break space before: {msgstr}"
        assert '"' not in text, f"French quotes « » instead: {msgstr}"
        assert text.count("«" + NBSP) == text.count("«") == text.count(NBSP + "»"), msgstr


def test_confirmation_subject_in_french() -> None:
    assert gettext("fr", "Confirm your e-mail address for CERS") == (
        "Confirmez votre adresse courriel pour le SCDE"
    )


async def test_a_french_journey_shows_no_english(
    client: Client,
    settings: Settings,
    new_worker: NewWorker,
    smtp: MailCatcher,
    extracted: Catalog,
) -> None:
    """Every page of a sign-up in French, with a wrong entry on each form so the rules'
    messages are shown too, then the French confirmation e-mail."""
    finder = EnglishFinder(extracted)
    seen: list[str] = []

    def french_only(page: Page) -> Page:
        assert element(page.html, "html").attributes.get("lang") == "fr"
        assert finder.in_page(page) == [], page.url
        seen.append(element(page.html, "h1").text(strip=True))
        return page

    username = f"Élan{uuid.uuid4().hex[:6]}"
    password = "Quoll7Mynx"
    address = f"{uuid.uuid4().hex[:8]}@example.ca"
    async with new_worker(client, settings), browser(settings, client) as b:
        french_only(await b.get("/fr/login"))
        page = french_only(await b.get("/fr/gckey/sign-in"))
        page = french_only(await b.submit(page, "sign-up"))
        page = french_only(await b.submit(page, "terms", {"decision": "accept"}))
        page = french_only(await b.submit(page, "username", {"username": "mon nom#12345678"}))
        assert page.status == 400
        page = french_only(await b.submit(page, "username", {"username": username}))
        page = french_only(
            await b.submit(page, "password", {"password": "élan", "confirmation": "x"})
        )
        assert page.status == 400
        page = french_only(
            await b.submit(page, "password", {"password": password, "confirmation": password})
        )
        wrong = {
            "question": ["first_pet", "first_pet", "nope"],
            "answer": ["ab", "Lada", "Rex"],
            "hint": ["my ab", "", "x"],
        }
        page = french_only(await b.submit(page, "recovery", wrong))
        assert page.status == 400
        right = {
            "question": ["first_pet", "first_school", "childhood_street"],
            "answer": ["Rex the dog", "Lord Byng", "Elm Street"],
            "hint": ["", "", ""],
        }
        page = french_only(await b.submit(page, "recovery", right))
        page = french_only(await b.submit(page, "recovery-email", {"email": "x@"}))
        assert page.status == 400
        page = french_only(await b.submit(page, "recovery-email", {"email": ""}))
        page = french_only(await b.submit(page, "issued"))
        page = french_only(await b.get("/fr/cers/account"))
        page = french_only(await b.submit(page, "account", {"telephone": "123", "email": "x"}))
        assert page.status == 400
        account = {
            "given_name": "Jeanne",
            "family_name": "Tremblay",
            "email": address,
            "time_zone": "America/Moncton",
            "language": "fr",
        }
        page = french_only(await b.submit(page, "account", account))
        (message,) = await smtp.wait_for(address)
        assert message["Subject"] == "Confirmez votre adresse courriel pour le SCDE"
        text = text_of(message)
        assert finder.in_lines(text.splitlines()) == []
        assert "numéro de référence de l'utilisateur (NRU)" in text
        link = re.search(r"http://testserver(/fr/confirm/\S+)", text)
        assert link
        page = french_only(await b.get(link.group(1)))
        page = french_only(await b.submit(page, "confirm"))
        page = french_only(await b.get("/fr/portal"))
        french_only(await b.submit(page, "sign-out"))
    assert seen[-4:] == [
        "Confirmez votre adresse courriel",
        "Votre adresse courriel est confirmée",
        "Portail du SCDE",
        "Vous avez fermé la session",
    ]


async def test_french_pages_name_gckey_clegc(client: Client, settings: Settings) -> None:
    async with browser(settings, client) as b:
        for url in ("/fr/login", "/fr/gckey/sign-in"):
            page = await b.get(url)
            for node in page.html.css('body [lang="en"]'):
                node.decompose()
            assert "GCKey" not in page.html.text(), url


def test_a_template_s_messages_are_translated_when_it_is_compiled_and_the_rest_when_shown() -> None:
    """Each language's environment translates ``_("a message")`` as it compiles a template
    (web/pages.py Translated); a message with values, or held in a variable, or anything's
    own ``_`` method, is still called when the page is rendered, in the page's language."""
    from web.pages import TEMPLATES, translator

    source = (
        '{{ _("Continue") }}|{{ _("Sign Up Step %(n)s of %(total)s", n=2, total=5) }}'
        '|{{ _(message) }}|{{ thing._("Continue") }}'
    )
    env = TEMPLATES["fr"].env
    code = env.compile(source, raw=True)
    assert "Continuer" in code and "'Continue'" not in code.split("thing")[0]

    class Thing:
        def _(self, text: str) -> str:
            return f"own {text}"

    shown = env.from_string(source).render(_=translator("fr"), message="Continue", thing=Thing())
    assert shown == "Continuer|Inscription, étape 2 de 5|Continuer|own Continue", shown
    english = TEMPLATES["en"].env.from_string(source)
    assert english.render(_=translator("en"), message="Continue", thing=Thing()).startswith(
        "Continue|Sign Up Step 2 of 5|"
    )


def test_a_global_added_after_a_template_was_loaded_is_seen_by_it_in_every_language() -> None:
    """Templates share their environment's globals dict (web/pages.py SiteEnvironment): the
    staff area adds its globals once the site's templates may already be loaded."""
    from web.pages import GLOBALS, TEMPLATES

    # The shared dict itself, not a ChainMap copied into every render's context.
    assert all(t.env.get_template("base.html").globals is GLOBALS for t in TEMPLATES.values())
    loaded = {lang: t.env.from_string("{{ added_later() }}") for lang, t in TEMPLATES.items()}
    GLOBALS["added_later"] = lambda: "seen"
    try:
        assert {lang: t.render() for lang, t in loaded.items()} == {"en": "seen", "fr": "seen"}
        own = TEMPLATES["en"].env.from_string("{{ own }}|{{ added_later() }}", {"own": "mine"})
        assert own.render() == "mine|seen"  # a template's own globals still sit over them
        # Fetched with globals of its own, a loaded template would write them into the
        # shared dict, for every page: refused.
        with pytest.raises(TypeError):
            TEMPLATES["en"].env.get_template("base.html", globals={"leaked": "everywhere"})
        assert "leaked" not in GLOBALS
    finally:
        del GLOBALS["added_later"]
