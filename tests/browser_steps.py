"""What more than one browser test does with a page in Chromium. Plain functions, apart from
tests/browser_helpers.py: that module is taken as a plugin, so test modules cannot import it."""

from __future__ import annotations

from playwright.async_api import Page, expect


async def arrive(page: Page, heading: str) -> None:
    """The next page is shown, and its script has run."""
    await expect(page.locator("h1")).to_have_text(heading)
    await page.wait_for_load_state()
