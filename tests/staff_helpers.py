"""Staff accounts for the tests that sign in to the staff area, and signing in with one."""

from __future__ import annotations

import uuid

from db.engine import make_engine
from db.staff import StaffRole
from settings import Settings
from staff.cli import create
from tests.web_helpers import Browser, Page

STAFF_PASSWORD = "Harbour7Gull"


class Staff:
    """A support and an auditor account in the settings' database."""

    def __init__(self, settings: Settings) -> None:
        engine = make_engine(settings.sqlalchemy_url)
        tag = uuid.uuid4().hex[:6]
        self.support = f"ana-{tag}"
        self.auditor = f"ben-{tag}"
        create(engine, self.support, StaffRole.SUPPORT, STAFF_PASSWORD, STAFF_PASSWORD, "Ana L")
        create(engine, self.auditor, StaffRole.AUDITOR, STAFF_PASSWORD, STAFF_PASSWORD, "Ben A")
        engine.dispose()


async def staff_sign_in(b: Browser, username: str, lang: str = "en") -> Page:
    page = await b.get(f"/{lang}/staff/sign-in")
    return await b.submit(page, "staff/sign-in", {"username": username, "password": STAFF_PASSWORD})
