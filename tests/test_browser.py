"""The site in real headless Chromium (tests/browser_helpers.py): served over real HTTP by
uvicorn, with a real worker on the dev server behind it."""

from __future__ import annotations

import re
import uuid
from functools import partial
from pathlib import Path
from typing import Literal

from playwright.async_api import Locator, Page, expect

from i18n import gettext
from tests.browser_steps import arrive
from tests.conftest import MailCatcher, text_of, until
from workflows import rules

pytest_plugins = ["tests.browser_helpers"]  # chromium, site, page

SCREENS = Path("/tmp/screens")
PASSWORD = "Toujours7Vrai"
fr = partial(gettext, "fr")


async def tab_to(page: Page, target: Locator, limit: int = 40) -> None:
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await target.evaluate("e => e === document.activeElement"):
            return
    raise AssertionError(f"{limit} presses of Tab never reached {target}")


async def activate(page: Page, role: Literal["link", "button"], name: str, then: str) -> None:
    """In French: Tab to the link or button ``name``, press Enter, arrive at the page ``then``."""
    await tab_to(page, page.get_by_role(role, name=fr(name), exact=True))
    await page.keyboard.press("Enter")
    await arrive(page, fr(then))


def classes(checks: list[rules.Check]) -> list[str]:
    return ["ok" if c.ok else "not-ok" for c in checks]


async def shows(page: Page, box: str, checks: list[rules.Check]) -> None:
    await expect(page.locator(f"#{box} li[data-rule]")).to_have_class(classes(checks))


async def verdicts(page: Page, box: str) -> list[str]:
    names: list[str] = await page.locator(f"#{box} li[data-rule]").evaluate_all(
        "items => items.map(li => li.className)"
    )
    return names


async def to_username_step(page: Page, lang: str) -> None:
    t = partial(gettext, lang)
    await page.goto(f"/{lang}/gckey/sign-in")
    await page.get_by_role("button", name=t("Sign Up"), exact=True).click()
    await page.get_by_role("button", name=t("I accept"), exact=True).click()
    await arrive(page, t("Create Your Username"))


async def sign_up(page: Page, lang: str, username: str) -> None:
    """The GCKey steps by mouse, up to Welcome to CERS."""
    t = partial(gettext, lang)
    await to_username_step(page, lang)
    await page.locator("#username").fill(username)
    await page.locator("#username").press("Enter")
    await arrive(page, t("Create Your Password"))
    await page.locator("#password").fill(PASSWORD)
    await page.locator("#confirmation").fill(PASSWORD)
    await page.locator("#confirmation").press("Enter")
    await arrive(page, t("Create Recovery Questions, Answers and Hints"))
    for i, (question, answer) in enumerate(
        [("first_pet", "Rex"), ("first_school", "Lord Byng"), ("first_car", "Lada")]
    ):
        await page.locator(f"#question_{i}").select_option(question)
        await page.locator(f"#answer_{i}").fill(answer)
    await page.get_by_role("button", name=t("Continue"), exact=True).click()
    await arrive(page, t("Recovery E-mail Address"))
    await page.get_by_role("button", name=t("Continue"), exact=True).click()
    await arrive(page, t("Your GCKey has been issued"))
    await page.get_by_role("button", name=t("Continue"), exact=True).click()
    await arrive(page, t("Welcome to CERS"))


async def test_whole_journey_by_keyboard_in_french(
    page: Page, site: str, smtp: MailCatcher
) -> None:
    username = f"Érable-{uuid.uuid4().hex[:6]}"
    address = f"{uuid.uuid4().hex[:8]}@example.ca"
    keys = page.keyboard

    await page.goto("/fr/login")
    await activate(page, "link", "GCKey Log In", "Welcome to GCKey")
    await activate(page, "button", "Sign Up", "Terms and Conditions of Use")
    await activate(page, "button", "I accept", "Create Your Username")

    # The Username Checklist follows every key, a mistake and its correction included.
    await tab_to(page, page.locator("#username"))
    for i in range(len(username)):
        await keys.type(username[i])
        await shows(page, "username-rules", rules.username_checks(username[: i + 1]))
    await keys.type(" ")
    await shows(page, "username-rules", rules.username_checks(username + " "))
    await expect(page.locator("#username-rules li[data-rule=characters]")).to_contain_text("✗")
    await keys.press("Backspace")
    await expect(page.locator("#username-rules li")).to_contain_text(["✓", "✓", "✓"])
    await keys.press("Enter")
    await arrive(page, fr("Create Your Password"))

    await tab_to(page, page.locator("#password"))
    for i in range(len(PASSWORD)):
        await keys.type(PASSWORD[i])
        await shows(page, "password-rules", rules.password_checks(PASSWORD[: i + 1], username, ""))
    await tab_to(page, page.locator("#confirmation"))
    for i in range(len(PASSWORD)):
        await keys.type(PASSWORD[i])
        checks = rules.password_checks(PASSWORD, username, PASSWORD[: i + 1])
        await shows(page, "password-rules", checks)
    await expect(page.locator("#password-rules li")).to_contain_text(["✓"] * 6)
    await keys.press("Enter")
    await arrive(page, fr("Create Recovery Questions, Answers and Hints"))

    answers = ["Rex le chien", "Lord Byng", "Rue des Érables"]
    for i, answer in enumerate(answers):
        await tab_to(page, page.locator(f"#question_{i}"))
        for _ in range(i + 1):  # a closed select steps through its options with the arrows
            await keys.press("ArrowDown")
        await expect(page.locator(f"#question_{i}")).to_have_value(
            list(rules.RECOVERY_QUESTIONS)[i]
        )
        await tab_to(page, page.locator(f"#answer_{i}"))
        await keys.type(answer)
    await keys.press("Enter")
    await arrive(page, fr("Recovery E-mail Address"))
    await activate(page, "button", "Continue", "Your GCKey has been issued")
    await activate(page, "button", "Continue", "Welcome to CERS")
    await activate(page, "link", "Create User Account", "Create User Account")

    await tab_to(page, page.locator("#given_name"))
    await keys.type("Jeanne")
    await keys.press("Tab")
    await keys.type("Tremblay-Côté")
    await keys.press("Tab")
    await keys.type(address)
    await tab_to(page, page.locator("#time_zone"))
    await keys.type("Toronto")  # type-ahead on the city, as on any select
    await expect(page.locator("#time_zone")).to_have_value("America/Toronto")
    await tab_to(page, page.locator("#language-fr"))  # the page's language, preselected
    await keys.press("ArrowUp")
    await expect(page.locator("#language-en")).to_be_checked()
    await keys.press("ArrowDown")
    await expect(page.locator("#language-fr")).to_be_checked()
    await activate(page, "button", "Submit", "Your user account is now created")
    urn = await page.locator("strong.urn").inner_text()
    assert rules.is_urn(urn)

    await activate(page, "link", "Continue to the CERS portal", "CERS portal")
    await expect(page.locator(".who-name")).to_have_text("Jeanne Tremblay-Côté")
    await expect(page.locator(".who-urn")).to_contain_text(urn)
    who = await page.locator(".who").bounding_box()
    assert who and who["x"] > 1280 / 2 and who["y"] < 200, who  # top right

    (message,) = await smtp.wait_for(address)
    text = text_of(message)
    link = re.search(re.escape(site) + r"/fr/confirm/\S+", text)
    assert link, text
    await page.goto(link.group(0))
    await arrive(page, fr("Confirm your e-mail address"))
    await activate(page, "button", "Confirm my e-mail address", "Your e-mail address is confirmed")


TRICKY_USERNAMES = [
    "",
    "ÉcoleMaïs",
    "ŒUVRE-Ÿves",
    "àâæçéèêëîïôœùûüÿ",
    "ÀÂÆÇÉÈÊËÎÏÔŒÙÛÜŸ",
    "E\u0301colemais",  # an accent typed as a separate mark
    "E\u0301" + "a" * 15,
    *[f"Abcdefg{c}" for c in rules.USERNAME_SPECIALS],
    *[f"Abcdefg{c}" for c in ' #@+,"<>=;\\ñßøı'],
    "abc1234567",
    "ab12345678",
    "abcdefg١٢٣",  # Arabic-Indic digits are neither digits here nor allowed
    "a" * 7,
    "a" * 8,
    "é" * 16,
    "é" * 17,
    "abcdefghijklmno😀",  # 16 code points, 17 UTF-16 units
]


TRICKY_PASSWORDS = [
    "",
    "Abcdef1",
    "Abcdefg1",
    "Abcdefghijklmn1",
    "Abcdefghijklmno1",
    "Abcdefghijklmnop1",
    "école123",
    "ÉCOLE123",
    "école123É",
    "ŒUVRE12œ",
    "Ÿvette12",
    "Abcdefgh",
    "Abcdefg١",
    "Ⅷmaple12",  # a Roman numeral is upper case to Python
    "ªMAPLE12",  # so is the feminine ordinal lower case
    "abcdefghijklmno😀A1",
    "E\u0301bcdef1",  # 8 code points, 7 once composed
]


def tricky_passwords(username: str) -> list[tuple[str, str]]:
    """(password, confirmation) pairs; the overlaps are with the username in another case."""
    user = username.casefold()
    overlaps = [
        f"zz{user[:3].upper()}zz9Q",
        f"zz{user[3:6].upper()}zz9q",
        f"Q9{user[-3:].swapcase()}zz",
        f"Q9{user[:2]}zz{user[2:4]}",  # two-character overlaps only
        "xOßÉ12ab",  # ß folds to ss
        "zMOſ9abQ",  # and the long s to s
    ]
    return [(p, p) for p in TRICKY_PASSWORDS + overlaps] + [
        ("Maple12leaf", "Maple12lea"),
        ("Maple12leaf", "maple12leaf"),
        ("Ame\u0301lie12X", "Amélie12X"),  # the same to the eye, not to the server
    ]


async def retype(field: Locator, value: str) -> None:
    """Select all and type over it, as a person would; an empty value is typed, then erased."""
    await field.fill("")
    await field.press_sequentially(value or "x")
    if not value:
        await field.press("Backspace")


async def test_live_checklists_agree_with_the_rules(page: Page) -> None:
    username = f"Mossé.Forêt{uuid.uuid4().hex[:4]}"
    disagreements: list[str] = []
    await to_username_step(page, "en")
    field = page.locator("#username")
    for value in TRICKY_USERNAMES:
        await retype(field, value)
        expected = classes(rules.username_checks(value))
        if (shown := await verdicts(page, "username-rules")) != expected:
            disagreements.append(f"username {value!a}: shown {shown}, rules {expected}")

    await field.fill(username)
    await field.press("Enter")
    await arrive(page, "Create Your Password")
    password, confirmation = page.locator("#password"), page.locator("#confirmation")
    for value, again in tricky_passwords(username):
        await retype(password, value)
        await retype(confirmation, again)
        expected = classes(rules.password_checks(value, username, again))
        if (shown := await verdicts(page, "password-rules")) != expected:
            disagreements.append(f"password {value!a}/{again!a}: shown {shown}, rules {expected}")
    assert not disagreements, "\n".join(disagreements)


async def test_the_policy_refuses_injected_script_and_style_and_the_checklist_runs(
    page: Page, csp_violations: list[str]
) -> None:
    """The checklist's script is the site's own file, so it runs; a script or style that an
    injection would add inline is refused, and the browser reports it."""
    await to_username_step(page, "en")
    await retype(page.locator("#username"), "short")
    assert await verdicts(page, "username-rules") == ["not-ok", "ok", "ok"]
    await page.evaluate(
        """() => {
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.body.append(script);
        document.body.setAttribute("style", "background: red");
    }"""
    )
    await until(lambda: len(csp_violations) >= 2, what="the browser to report both")
    assert await page.evaluate("window.injected === undefined")
    assert await page.evaluate("getComputedStyle(document.body).backgroundColor") != (
        "rgb(255, 0, 0)"
    )
    assert any("script-src" in v for v in csp_violations), csp_violations
    assert any("style-src" in v for v in csp_violations), csp_violations
    csp_violations.clear()  # provoked here; the page fixture holds every other test to none


async def test_an_error_takes_focus_and_leads_to_its_field(page: Page) -> None:
    await sign_up(page, "fr", f"Erreur{uuid.uuid4().hex[:6]}")
    await page.goto("/fr/cers/account")
    await page.locator("#given_name").fill("Jeanne")
    await page.locator("#family_name").fill("Tremblay")
    await page.locator("#email").fill("jeanne@")
    await page.get_by_role("button", name=fr("Submit"), exact=True).click()

    summary = page.locator(".error-summary")
    await expect(summary).to_be_focused()
    await expect(page.locator("#given_name")).to_have_value("Jeanne")
    links = summary.locator("a")
    await expect(links).to_have_count(2)
    SCREENS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENS / "account-errors-fr.png", full_page=True)
    for name, message in [
        ("email", "Enter an e-mail address in the form name@example.ca."),
        ("time_zone", "Choose the time zone where you usually conduct business."),
    ]:
        await links.filter(has_text=fr(message)).focus()
        await page.keyboard.press("Enter")
        field = page.locator(f"#{name}")
        await expect(field).to_be_focused()
        await expect(field).to_have_attribute("aria-invalid", "true")
        described = (await field.get_attribute("aria-describedby") or "").split()
        assert f"{name}-error" in described
        error = page.locator(f"#{name}-error")
        await expect(error).to_be_visible()
        await expect(error).to_contain_text(fr(message))


async def test_account_form_and_portal_screenshots(page: Page) -> None:
    """Saved under /tmp/screens for a person to look at; checked here for what breaks a page."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    await sign_up(page, "fr", f"Ecran{uuid.uuid4().hex[:6]}")
    await page.goto("/fr/cers/account")
    await arrive(page, fr("Create User Account"))
    await page.screenshot(path=SCREENS / "account-fr.png", full_page=True)
    await expect_labelled_and_fits(page)

    await page.locator("#given_name").fill("Jeanne")
    await page.locator("#family_name").fill("Tremblay-Côté")
    await page.locator("#email").fill(f"{uuid.uuid4().hex[:8]}@example.ca")
    await page.locator("#time_zone").select_option("America/Moncton")
    await page.get_by_role("button", name=fr("Submit"), exact=True).click()
    await arrive(page, fr("Your user account is now created"))
    await page.goto("/fr/portal")
    await arrive(page, fr("CERS portal"))
    await page.screenshot(path=SCREENS / "portal-fr.png", full_page=True)
    await expect_labelled_and_fits(page)
    await page.set_viewport_size({"width": 375, "height": 800})
    await page.screenshot(path=SCREENS / "portal-fr-phone.png", full_page=True)
    await expect_labelled_and_fits(page)


async def expect_labelled_and_fits(page: Page) -> None:
    unlabelled = await page.locator("input:not([type=hidden]), select").evaluate_all(
        "fields => fields.filter(f => !f.labels.length || !f.labels[0].innerText.trim())"
        ".map(f => f.id)"
    )
    assert unlabelled == []
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, "the page scrolls sideways"


async def test_the_checklists_are_announced_politely_once_typing_pauses(page: Page) -> None:
    await to_username_step(page, "fr")
    status = page.locator("#username-rules [role=status]")
    assert await status.get_attribute("aria-live") == "polite"
    await expect(status).to_have_text("")  # nothing said before the person types
    await status.evaluate(
        """region => { window.announced = 0;
        new MutationObserver(() => { window.announced += 1; })
          .observe(region, {childList: true, characterData: true, subtree: true}); }"""
    )
    await page.locator("#username").press_sequentially("12345678Forêt")
    missing = fr("No more than 7 digits")
    await expect(status).to_have_text(
        f"Règles respectées\u00a0: 2 sur 3. Non respectées\u00a0: {missing}."
    )
    assert await page.evaluate("window.announced") == 1  # one summary for 13 keys
    await page.locator("#username").fill("Forêt" + uuid.uuid4().hex[:4])
    await expect(status).to_have_text("Règles respectées\u00a0: 3 sur 3.")
