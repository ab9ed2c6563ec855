"""Every page, in English and in French, held to WCAG 2.0 and 2.1 levels A and AA by axe-core
(bundled in axe-playwright-python: nothing is fetched) in real Chromium, along a real journey so
that the signed-in pages and the e-mail's links exist. The dev mailbox is left out: dev only."""

from __future__ import annotations

import re
import uuid
from functools import partial
from typing import Any, Literal

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect
from temporalio.client import Client

from db.engine import make_engine
from db.staff import StaffRole
from i18n import gettext
from settings import Settings
from staff.cli import create as create_staff
from tests.browser_steps import arrive
from tests.conftest import MailCatcher, text_of, until
from tests.journeys import PASSWORD as JOURNEY_PASSWORD
from tests.journeys import begin, create_account, journey_handle, sign_up
from web.journeys import journey_id_of

pytest_plugins = ["tests.browser_helpers"]  # chromium, site, page

AXE = Axe()
WCAG_A_AA = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
PASSWORD = "Toujours7Vrai"


def describe(violation: dict[str, Any]) -> str:
    targets = "; ".join(" ".join(map(str, node["target"])) for node in violation["nodes"])
    return f"{violation['id']} ({violation['impact']}): {violation['help']} at {targets}"


class Walk:
    """A person's way through the site in one language; axe looks at each page on the way."""

    def __init__(self, page: Page, lang: str) -> None:
        self.page = page
        self.t = partial(gettext, lang)
        self.seen: list[str] = []
        self.violations: list[str] = []

    async def audit(self, name: str, heading: str | None = None) -> None:
        if heading is not None:
            await arrive(self.page, self.t(heading))
        results = await AXE.run(self.page, options=WCAG_A_AA)
        self.seen.append(name)
        self.violations += [f"{name}: {describe(v)}" for v in results.response["violations"]]

    async def press(self, role: Literal["link", "button"], name: str) -> None:
        await self.page.get_by_role(role, name=self.t(name), exact=True).click()

    async def fill(self, fields: dict[str, str]) -> None:
        for field, value in fields.items():
            await self.page.locator(f"#{field}").fill(value)

    async def rejected(self, name: str) -> None:
        """The form came back with its errors, each of whose links leads somewhere on the page."""
        await expect(self.page.locator(".error-summary")).to_be_focused()
        await self.audit(f"{name}, with errors")
        nowhere = await self.page.locator(".error-summary a").evaluate_all(
            "links => links.map(a => a.hash).filter(h => !document.getElementById(h.slice(1)))"
        )
        self.violations += [f"{name}: the error summary's link {h} leads nowhere" for h in nowhere]


async def links_in(smtp: MailCatcher, address: str, count: int) -> list[str]:
    """The confirmation links of the first ``count`` messages to ``address``, oldest first."""
    links = []
    for message in await smtp.wait_for(address, count):
        text = text_of(message)
        link = re.search(r"https?://\S+/confirm/\S+", text)
        assert link, text
        links.append(link.group(0))
    return links


@pytest.mark.parametrize("lang", ["en", "fr"])
async def test_every_page_passes_axe(page: Page, smtp: MailCatcher, lang: str) -> None:
    walk = Walk(page, lang)
    address = f"{uuid.uuid4().hex[:8]}@example.ca"

    await page.goto("/")
    await walk.audit("splash")
    await page.get_by_role("link", name={"en": "English", "fr": "Français"}[lang]).click()
    await walk.audit("login", "Welcome to the Canadian Export Reporting System (CERS)")
    await walk.press("button", "Sign-In Partner Log In")
    await walk.audit("sign-in partner", "Sign-In Partner Log In is not available")
    await walk.press("link", "Return to the CERS login page")
    await walk.press("link", "GCKey Log In")
    await walk.audit("GCKey sign in", "Welcome to GCKey")
    await walk.fill({"username": "nobody-here", "password": "Wrong1234"})
    await walk.press("button", "Sign In")
    await walk.rejected("GCKey sign in")

    await walk.press("button", "Sign Up")
    await walk.audit("terms", "Terms and Conditions of Use")
    await page.locator("[name=terms_version]").evaluate("field => { field.value = 'superseded' }")
    await walk.press("button", "I accept")
    await walk.rejected("terms")
    await walk.press("button", "I decline")
    await walk.audit("declined", "You declined the Terms and Conditions")
    await page.goto(f"/{lang}/gckey/sign-in")
    await walk.press("button", "Sign Up")
    await walk.press("button", "I accept")
    await arrive(page, walk.t("Create Your Username"))
    await page.goto(f"/{lang}/login")
    await walk.audit(
        "login, sign-up in progress", "Welcome to the Canadian Export Reporting System (CERS)"
    )
    await walk.press("link", "Continue where you left off")

    await walk.audit("username", "Create Your Username")
    await walk.fill({"username": "ab"})
    await walk.press("button", "Continue")
    await walk.rejected("username")
    username = f"Érable-{uuid.uuid4().hex[:6]}"
    await walk.fill({"username": username})
    await walk.press("button", "Continue")
    await walk.audit("password", "Create Your Password")
    await walk.fill({"password": PASSWORD, "confirmation": PASSWORD + "x"})
    await walk.press("button", "Continue")
    await walk.rejected("password")
    await walk.fill({"password": PASSWORD, "confirmation": PASSWORD})
    await walk.press("button", "Continue")
    await walk.audit("recovery answers", "Create Recovery Questions, Answers and Hints")
    await walk.press("button", "Continue")
    await walk.rejected("recovery answers")
    for i, (question, answer) in enumerate(
        [("first_pet", "Rex"), ("first_school", "Lord Byng"), ("first_car", "Lada")]
    ):
        await page.locator(f"#question_{i}").select_option(question)
        await page.locator(f"#answer_{i}").fill(answer)
    await walk.press("button", "Continue")
    await walk.audit("recovery e-mail", "Recovery E-mail Address")
    await walk.fill({"email": "jeanne@"})
    await walk.press("button", "Continue")
    await walk.rejected("recovery e-mail")
    await walk.fill({"email": ""})
    await walk.press("button", "Continue")
    await walk.audit("issued", "Your GCKey has been issued")
    await walk.press("button", "Continue")
    await walk.audit("welcome", "Welcome to CERS")

    await walk.press("link", "Create User Account")
    await walk.audit("create account", "Create User Account")
    await walk.fill({"given_name": "Jeanne", "email": "jeanne@"})
    await walk.press("button", "Submit")
    await walk.rejected("create account")
    await walk.fill({"family_name": "Tremblay-Côté", "email": address})
    await page.locator("#time_zone").select_option("America/Moncton")
    await walk.press("button", "Submit")
    await walk.audit("account created", "Your user account is now created")
    await walk.press("link", "Continue to the CERS portal")
    await walk.audit("portal, confirmation pending", "CERS portal")
    await walk.press("button", "Send me a new confirmation link")
    await expect(page.locator(".notice")).to_be_visible()
    await walk.audit("portal, new link sent")

    first, _ = await links_in(smtp, address, 2)
    await page.goto(first)
    await walk.audit("confirm", "Confirm your e-mail address")
    await walk.press("button", "Confirm my e-mail address")
    await walk.audit("confirm, link replaced", "This confirmation link has been replaced")
    await walk.press("button", "Send me a new confirmation link")
    await walk.audit("confirm, new link sent", "A new link is on its way")
    *_, third = await links_in(smtp, address, 3)
    for outcome in ["Your e-mail address is confirmed", "Your e-mail address is already confirmed"]:
        await page.goto(third)
        await walk.press("button", "Confirm my e-mail address")
        await walk.audit(f"confirm, {outcome}", outcome)
    await walk.press("link", "Go to the CERS portal")
    await walk.audit("portal, confirmed", "CERS portal")
    await page.goto(f"/{lang}/login")
    await walk.audit("login, signed in", "Welcome to the Canadian Export Reporting System (CERS)")
    await walk.press("button", "Sign out")
    await walk.audit("signed out", "You have signed out")
    await expect(page.locator(".who")).to_have_count(0)  # no name or URN left in the header
    await page.goto(f"/{lang}/confirm/not-a-link")  # a path no route matches is answered in English
    await walk.audit("page not found", "Page not found")

    await page.goto(f"/{lang}/gckey/forgot-password")
    await walk.audit("forgot password", "Forgot Your Password?")
    await walk.press("button", "Continue")
    await walk.rejected("forgot password")
    await walk.fill({"username": username})
    await walk.press("button", "Continue")
    await walk.audit("reset, way", "Confirm it is you")
    await walk.press("button", "Continue")
    await walk.rejected("reset, way")
    await page.locator("#way-all_answers").check()
    await walk.press("button", "Continue")
    await walk.audit("reset, answers", "Confirm it is you")
    await walk.press("button", "Continue")
    await walk.rejected("reset, answers")
    await walk.fill({"answer_0": "Rex", "answer_1": "Lord Byng", "answer_2": "Lada"})
    await walk.press("button", "Continue")
    await walk.audit("reset, new password", "Create a New Password")
    await walk.press("button", "Continue")
    await walk.rejected("reset, new password")
    await walk.fill({"password": PASSWORD + "2", "confirmation": PASSWORD + "2"})
    await walk.press("button", "Continue")
    await walk.audit("reset, done", "Your password has been changed")
    await page.goto(f"/{lang}/sign-up-expired")  # where an abandoned sign-up's browser goes
    await walk.audit("sign-up expired", "Your sign-up expired")

    assert len(walk.seen) == 43, walk.seen
    assert not walk.violations, "\n".join(walk.violations)


@pytest.mark.parametrize("lang", ["en", "fr"])
async def test_every_staff_page_passes_axe(
    page: Page, settings: Settings, client: Client, lang: str
) -> None:
    """The staff area: sign-in (and its error), the journey list (and a filter's error), a
    search that finds nothing, a journey's page, and signing out."""
    engine = make_engine(settings.sqlalchemy_url)
    username = f"axe-{uuid.uuid4().hex[:6]}"
    create_staff(engine, username, StaffRole.SUPPORT, PASSWORD, PASSWORD, "Axel Support")
    engine.dispose()
    journey_id = journey_id_of(await begin(client, settings))
    walk = Walk(page, lang)

    await page.goto(f"/{lang}/staff/sign-in")
    await walk.audit("staff sign in", "Staff sign in")
    await walk.fill({"username": username, "password": "Wrong1234"})
    await walk.press("button", "Sign In")
    await walk.rejected("staff sign in")
    await walk.fill({"username": username, "password": PASSWORD})
    await walk.press("button", "Sign In")
    await walk.audit("journey list", "Onboarding journeys")
    await walk.fill({"idle_hours": "soon"})
    await walk.press("button", "Apply filters")
    await walk.rejected("journey list")
    await walk.fill({"q": "nobody@example.ca"})
    await walk.press("button", "Search")
    await walk.rejected("search")
    await page.goto(f"/{lang}/staff/journeys/{journey_id}")
    await arrive(page, walk.t("Journey %(id)s") % {"id": journey_id[:8]})
    await walk.audit("journey page")
    await walk.press("button", "Sign out")
    await walk.audit("staff signed out", "You have signed out")

    assert len(walk.seen) == 7, walk.seen
    assert not walk.violations, "\n".join(walk.violations)


@pytest.mark.parametrize("lang", ["en", "fr"])
async def test_the_portal_for_an_address_the_mail_server_refused_passes_axe(
    page: Page, settings: Settings, client: Client, smtp: MailCatcher, lang: str
) -> None:
    """The portal once the mail server has refused the address: its form for another one,
    that form's error, and the notice once the new link is on its way."""
    refused, username = f"{uuid.uuid4().hex[:8]}@example.ca", f"axe{uuid.uuid4().hex[:6]}"
    smtp.unknown.add(refused)
    workflow_id = await begin(client, settings)
    await sign_up(client, workflow_id, username)
    handle = journey_handle(client, workflow_id)
    await create_account(handle, refused)
    walk = Walk(page, lang)

    await page.goto(f"/{lang}/gckey/sign-in")
    await walk.fill({"username": username, "password": JOURNEY_PASSWORD})
    await walk.press("button", "Sign In")
    await arrive(page, walk.t("CERS portal"))

    async def told() -> bool:  # the refusal arrives a moment after the account
        await page.reload()
        return await page.locator(".status.refused").count() > 0

    await until(told, what="the portal to say the address was refused")
    await walk.audit("portal, address refused")
    await walk.fill({"email": "élan@exemple.ca"})
    await walk.press("button", "Use this address")
    await walk.rejected("portal, address refused")
    await walk.fill({"email": f"{uuid.uuid4().hex[:8]}@example.ca"})
    await walk.press("button", "Use this address")
    await expect(page.locator(".notice")).to_be_visible()
    await walk.audit("portal, new address")

    assert len(walk.seen) == 3, walk.seen
    assert not walk.violations, "\n".join(walk.violations)


@pytest.mark.parametrize("site", ["partner"], indirect=True)
@pytest.mark.parametrize("lang", ["en", "fr"])
async def test_every_sign_in_partner_page_passes_axe(page: Page, lang: str) -> None:
    """With a Sign-In Partner (the stand-in process): what CERS shows when the person cancels
    there, when the answer does not match this browser, and when someone signed in comes
    back through another partner login; the stand-in's own pages are not CERS's."""
    walk = Walk(page, lang)

    async def through_partner(login: str, *, cancel: bool = False) -> None:
        await page.goto(f"/{lang}/login")
        await walk.press("button", "Sign-In Partner Log In")
        if cancel:
            await page.locator("form[action*='/cancel'] button").click()
            return
        await page.locator("input[name=institution]").first.check()
        await page.locator("form button[type=submit]").first.click()
        await page.locator("input[name=login]").fill(login)
        await page.locator("input[name=password]").fill("demo")
        # Wait for the page the login leads to (the stand-in's consent, or CERS) before asking
        # whether it has a consent button: counted mid-navigation, it had none.
        async with page.expect_navigation():
            await page.locator("form button[type=submit]").first.click()
        accept = page.locator("button[name=decision][value=accept]")
        if await accept.count():
            await accept.click()

    await through_partner("", cancel=True)
    await walk.audit("partner, cancelled", "You did not log in with your Sign-In Partner")
    await page.goto("/partner/callback?code=made-up&state=made-up")
    await walk.audit("partner, state", "This Sign-In Partner log in has expired")
    await through_partner(f"axe-{uuid.uuid4().hex[:6]}")
    await walk.audit("partner, welcome", "Welcome to CERS")
    await through_partner(f"other-{uuid.uuid4().hex[:6]}")
    await walk.audit("partner, default access", "Your access to CERS is through your first choice")

    assert len(walk.seen) == 4, walk.seen
    assert not walk.violations, "\n".join(walk.violations)
