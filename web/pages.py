"""Rendering: every page in the language of its URL, with a toggle to the other one."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from core.languages import other_language, supported_language
from db.models import UserAccount
from db.queries import account_for
from i18n import format_when, translations
from web.deps import DbEngine
from web.forms import new_form_id
from web.journeys import journey_id_of
from web.session import csrf_token, signed_in_journey
from workflows import rules

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals["format_urn"] = rules.format_urn


async def signed_in_account(request: Request, engine: DbEngine) -> None:
    """Loads the signed-in user's account, if any, for the header of every page."""
    workflow_id = signed_in_journey(request)
    if workflow_id is None:
        return
    request.state.account = await asyncio.to_thread(account_for, engine, journey_id_of(workflow_id))


def current_account(request: Request) -> UserAccount | None:
    account: UserAccount | None = getattr(request.state, "account", None)
    return account


def page_language(request: Request) -> str:
    """The language of the page asked for, even when no route matched it."""
    lang = request.path_params.get("lang") or request.url.path.strip("/").split("/")[0]
    return supported_language(lang)


def translator(lang: str) -> Any:
    tr = translations(lang)

    def _(msgid: str, /, **values: Any) -> str:
        text = tr.gettext(msgid)
        return text % values if values else text

    return _


def toggle_url(request: Request, lang: str) -> str:
    """The same page in the other language, as Canada.ca's toggle does."""
    other = other_language(lang)
    route = request.scope.get("route")
    params = dict(request.path_params)
    if route is None or "lang" not in params:
        return str(request.url_for("login", lang=other))
    params["lang"] = other
    url = str(request.url_for(route.name, **params))
    query = request.url.query
    return f"{url}?{query}" if query else url


def render(
    request: Request, template: str, *, lang: str, status_code: int = 200, **context: Any
) -> Response:
    # Every signed-in page shows the name and URN at the top right (see signed_in_account).
    context.setdefault("account", current_account(request))
    zone = getattr(context["account"], "time_zone", "")

    def when(value: datetime | None) -> str:
        """In the user's business time zone once they have chosen one."""
        return format_when(value, lang, zone) if value else ""

    csrf = csrf_token(request)
    return templates.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "other_lang": other_language(lang),
            "_": translator(lang),
            "toggle_url": toggle_url(request, lang),
            "csrf_token": csrf,
            "new_form_id": lambda purpose: new_form_id(csrf, purpose),
            "signed_in": signed_in_journey(request) is not None,
            "when": when,
            **context,
        },
        status_code=status_code,
    )
