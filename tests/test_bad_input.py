"""Bad input the fuzzing of every route found answering 5xx, each as the person (or the
attacker) who found it would meet it, over real HTTP with a real worker behind the site: the
normal 403, 400 or 404 page in the page's language."""

from __future__ import annotations

from temporalio.client import Client

from settings import Settings
from tests.conftest import NewWorker
from tests.web_helpers import Page, browser


async def test_a_csrf_token_with_non_ascii_characters_gets_the_expired_form_page(
    client: Client, settings: Settings, new_worker: NewWorker
) -> None:
    """compare_digest raised TypeError on a non-ASCII str: every form answered 500."""
    async with new_worker(client, settings), browser(settings, client) as b:
        await b.get("/fr/gckey/sign-in")  # a session, with its token
        for token in ("jeton-é", "\u202e" + b.session()["csrf"]):
            page = Page(await b.http.post("/fr/gckey/sign-up", data={"csrf_token": token}))
            assert page.status == 403
            assert page.h1 == "Ce formulaire a expiré"
        assert "journey" not in b.session()  # nothing was started
