"""Rendering: every page in the language of its URL, with a toggle to the other one."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.defaults
from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream
from markupsafe import Markup, escape
from starlette.responses import Response

from core.languages import LANGUAGES, other_language, supported_language
from db.models import UserAccount
from db.queries import account_for
from i18n import format_when, translations
from web.deps import services
from web.forms import FIELD as FORM_ID_FIELD
from web.forms import new_form_id
from web.journeys import journey_id_of
from web.links import link, template_link
from web.session import CSRF_FIELD, check_csrf, csrf_token, signed_in_journey
from workflows import rules


class Translated(Extension):
    """``_("a message")``, with no values, is translated when the template is compiled, in
    the language of its environment, and so costs nothing to render: a page has a dozen
    or two of them. ``_`` with values, or with a message held in a variable, is still called
    at render time (the page's ``_``, from render's context)."""

    def filter_stream(self, stream: TokenStream) -> list[Token]:
        translate = translator(self.environment.language)  # type: ignore[attr-defined]
        tokens = list(stream)
        kept: list[Token] = []
        i = 0
        while i < len(tokens):
            call = [t.type for t in tokens[i : i + 4]] == ["name", "lparen", "string", "rparen"]
            if call and tokens[i].value == "_" and not (kept and kept[-1].type == "dot"):
                kept.append(Token(tokens[i].lineno, "string", translate(tokens[i + 2].value)))
                i += 4
            else:
                kept.append(tokens[i])
                i += 1
        return kept


class SiteEnvironment(jinja2.Environment):
    """A template loaded with no globals of its own has the environment's globals dict
    itself, as before Jinja 3.0, not a ChainMap over it: every render copies its template's
    globals into the new context, and copying a ChainMap of 13 names cost ~12 µs against
    ~1 µs for the dict. The dict is the same object, so a global added later is still seen.
    A template is not fetched with globals of its own: Jinja would write them into the
    globals of the cached template, here the environment's, for every page."""

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return self.globals if not d else super().make_globals(d)

    def get_template(
        self,
        name: str | jinja2.Template,
        parent: str | None = None,
        globals: MutableMapping[str, Any] | None = None,
    ) -> jinja2.Template:
        if globals:
            raise TypeError("the site's templates take their values from render's context")
        return super().get_template(name, parent)


def environment(lang: str, shared: dict[str, Any]) -> jinja2.Environment:
    """Compiled once per process and kept: auto_reload off, so no template file is stat'ed
    again on every render (Jinja's default checks each template's mtime each time it is
    fetched). Every language's environment holds the same globals."""
    env = SiteEnvironment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=jinja2.select_autoescape(),
        auto_reload=False,
        cache_size=-1,
        extensions=[Translated],
    )
    env.extend(language=lang)
    env.globals = shared
    return env


# One environment per language, each its templates compiled with that language's messages.
GLOBALS: dict[str, Any] = {
    **jinja2.defaults.DEFAULT_NAMESPACE,
    "format_urn": rules.format_urn,
    "url_for": template_link,
}
TEMPLATES = {lang: Jinja2Templates(env=environment(lang, GLOBALS)) for lang in LANGUAGES}


async def signed_in_account(request: Request) -> None:
    """Loads the signed-in user's account, if any, for the header of every page. The engine
    is read only when someone is signed in: every page runs this, most signed out."""
    workflow_id = signed_in_journey(request)
    if workflow_id is None:
        return
    engine = services(request).engine
    request.state.account = await asyncio.to_thread(account_for, engine, journey_id_of(workflow_id))


async def exporter_page(request: Request) -> None:
    """Every exporter router's one dependency: a form post's CSRF token checked, then the
    signed-in account loaded for the header. One dependency, not two: FastAPI solves each
    one on every request (about 7 µs apiece, against a page's 250)."""
    await check_csrf(request)
    await signed_in_account(request)


def current_account(request: Request) -> UserAccount | None:
    # request.state's own dict: most pages have no account, and State raises (and formats)
    # an AttributeError for every name it does not hold.
    account: UserAccount | None = request.scope.get("state", {}).get("account")
    return account


def page_language(request: Request) -> str:
    """The language of the page asked for, even when no route matched it."""
    lang = request.path_params.get("lang") or request.url.path.strip("/").split("/")[0]
    return supported_language(lang)


@cache
def translator(lang: str) -> Any:
    tr = translations(lang)

    def _(msgid: str, /, **values: Any) -> str:
        text = tr.gettext(msgid)
        return text % values if values else text

    return _


@cache
def macros(lang: str) -> Any:
    """web/templates/macros.html as a module in ``lang``, made once: every page has it as
    ``m``. Imported by each template "with context", it was run again on every render."""
    macros = TEMPLATES[lang].env.get_template("macros.html")
    return macros.make_module({"_": translator(lang)})


def toggle_url(request: Request, lang: str) -> str:
    """The same page in the other language, as Canada.ca's toggle does."""
    other = other_language(lang)
    route = request.scope.get("route")
    params = dict(request.path_params)
    if route is None or "lang" not in params:
        return link(request, "login", lang=other)
    params["lang"] = other
    url = link(request, route.name, **params)
    # The query as sent, read from the scope: request.url would parse the whole URL again.
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{url}?{query}" if query else url


def hidden_field(name: str, value: str) -> Markup:
    """A form's hidden field: the CSRF token and the form id are one in every form, made
    here once per render rather than by a template macro on each form (a Jinja macro call
    costs several times what its one element does)."""
    return Markup(f'<input type="hidden" name="{name}" value="{escape(value)}">')


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
    return TEMPLATES[supported_language(lang)].TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "other_lang": other_language(lang),
            "_": translator(lang),
            "m": macros(lang),
            "toggle_url": toggle_url(request, lang),
            "csrf_field": hidden_field(CSRF_FIELD, csrf),
            # A fresh id for each form rendered: form_id_field("purpose") (web/forms.py).
            "form_id_field": lambda purpose: hidden_field(
                FORM_ID_FIELD, new_form_id(csrf, purpose)
            ),
            "signed_in": signed_in_journey(request) is not None,
            "when": when,
            **context,
        },
        status_code=status_code,
    )
