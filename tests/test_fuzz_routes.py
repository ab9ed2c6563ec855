"""Junk at every form and every address that takes parameters, over real HTTP with a real
worker behind the site: a clear 4xx page, never a 5xx, and no workflow task failure.

The routes are read from the app itself, so a route added later is covered without a change
here. Hypothesis draws the junk: fields missing, repeated, oversized, not UTF-8, non-ASCII or
control characters, under the right content type, a wrong one or none. A signed-in exporter
and a signed-in support staff member post it with their session's real CSRF token (most of
the time), so the junk in the other fields reaches the handlers behind the token check.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote_from_bytes

import pytest
from fastapi.routing import iter_route_contexts
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from core.links import ConfirmationLink, make_token
from settings import Settings
from tests.conftest import MailCatcher, NewWorker, until
from tests.staff_helpers import Staff, staff_sign_in
from tests.web_helpers import Browser, browser, create_user_account, routes_app, sign_up
from web.staff.actions import ACTIONS

T = TypeVar("T")
EXAMPLES = 15  # per route: about half a minute for the whole site, on each database


@dataclass(frozen=True)
class Target:
    """One route, as FastAPI resolves it: its path, parameters and form fields."""

    method: str
    path: str
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    form_fields: tuple[str, ...]

    @property
    def staff(self) -> bool:
        return self.path.startswith("/{lang}/staff/")

    @property
    def signs_out(self) -> bool:
        return self.path.endswith("/sign-out")


def params_of(dependant: Any, kind: str) -> set[str]:
    found = {p.alias for p in getattr(dependant, kind)}
    for sub in dependant.dependencies:
        found |= params_of(sub, kind)
    return found


def targets() -> list[Target]:
    """Every POST route, and every GET route with a path or query parameter; the sign-outs
    last, as they end the session the others use."""
    app = routes_app()
    found = []
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if dependant is None:  # the static files
            continue
        path_params = tuple(sorted(params_of(dependant, "path_params")))
        query_params = tuple(sorted(params_of(dependant, "query_params")))
        fields: tuple[str, ...] = ()
        for body in dependant.body_params:
            model = body.field_info.annotation
            fields += tuple(getattr(model, "model_fields", {body.alias: None}))
        for method in sorted(route.methods or ()):
            if method == "POST" or (method == "GET" and (path_params or query_params)):
                found.append(Target(method, str(route.path), path_params, query_params, fields))
    return sorted(found, key=lambda t: t.signs_out)


TARGETS = targets()


# Junk as bytes, so that what is not UTF-8 can be sent too.
def mostly(usual: st.SearchStrategy[T], odd: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """``usual`` four times in five: junk everywhere at once would stop at the first check."""
    return st.integers(0, 4).flatmap(lambda i: odd if i == 0 else usual)


def junk_up_to(longest: int) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.text().map(str.encode),
        st.text(st.characters(min_codepoint=0x80, codec="utf-8"), min_size=1).map(str.encode),
        st.text(st.characters(categories=["Cc"]), min_size=1).map(str.encode),
        st.binary(min_size=1),
        st.integers(1_000, longest).map(lambda n: b"A" * n),
    )


junk = junk_up_to(200_000)
# An address stays under what a client sends (httpx2: 64 KiB; browsers and servers less).
url_junk = junk_up_to(4_000)
# Values a field could hold, so a draw gets past the first check now and then.
plausible = st.sampled_from(
    [b"", b"accept", b"decline", b"2024-07", b"72", b"-1", b"1e999", b"en", b"fr", b"a@b.ca"]
    + [b"email_code", b"all_answers", b"first_pet", b"America/Toronto", b"Quoll7Mynx"]
)
value = st.one_of(junk, plausible)
# A field left out (None), given once, or given several times.
field_values = st.one_of(st.none(), value.map(lambda v: [v]), st.lists(value, min_size=2))
# A token or id as a tampered address holds them: well-formed, naming nothing.
encoded = st.binary(max_size=64).map(base64.urlsafe_b64encode)
url_value = st.one_of(url_junk, plausible, encoded)
url_values = st.one_of(st.none(), url_value.map(lambda v: [v]), st.lists(url_value, min_size=2))
CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=",  # no boundary
    "application/json",
    "text/plain",
    None,
]


@dataclass(frozen=True)
class Junk:
    """One request: what a browser (or something pretending to be one) could send."""

    method: str
    url: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # hypothesis prints the example: short, however large it is
        return f"Junk({self.method} {self.url[:200]!r} {self.headers} {self.body[:300]!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


# Stands for the session's CSRF token, put in as the request leaves: a sign-in on the way
# (the GCKey issued page signs in again) gives the session a new one.
CSRF = b"SESSIONCSRFTOKEN"


@dataclass
class Context:
    """What a real visitor would send: ids and tokens that exist."""

    samples: dict[str, list[bytes]] = field(default_factory=dict)


def urlencoded(pairs: list[tuple[bytes, bytes]]) -> bytes:
    return b"&".join(
        quote_from_bytes(k, safe="").encode() + b"=" + quote_from_bytes(v, safe="").encode()
        for k, v in pairs
    )


def multipart(pairs: list[tuple[bytes, bytes]], boundary: bytes) -> bytes:
    parts = [
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + k + b'"\r\n\r\n' + v
        for k, v in pairs
    ]
    return b"\r\n".join([*parts, b"--" + boundary + b"--\r\n"])


@st.composite
def path_of(draw: st.DrawFn, target: Target, context: Context) -> str:
    path = target.path
    for name in target.path_params:
        real = context.samples.get(name, [])
        # Mostly a real value (an existing language, journey, token), so the junk elsewhere
        # reaches the handler; sometimes junk in the path itself.
        chosen = draw(mostly(st.sampled_from(real), url_junk) if real else url_junk)
        path = path.replace("{" + name + "}", quote_from_bytes(chosen, safe=""))
    return path


@st.composite
def get_request(draw: st.DrawFn, target: Target, context: Context) -> Junk:
    path = draw(path_of(target, context))
    names = [n.encode() for n in target.query_params] + draw(st.lists(url_junk, max_size=2))
    pairs = []
    for name in names:
        for v in draw(url_values) or []:
            pairs.append((name, v))
    query = urlencoded(pairs).decode()
    url = path + (f"?{query}" if query else "")
    assume(len(url) < 60_000)
    return Junk("GET", url)


@st.composite
def post_request(draw: st.DrawFn, target: Target, context: Context) -> Junk:
    path = draw(path_of(target, context))
    pairs: list[tuple[bytes, bytes]] = []
    for v in draw(mostly(st.just([CSRF]), field_values)) or []:
        pairs.append((b"csrf_token", v))
    names = [n.encode() for n in target.form_fields] + draw(st.lists(junk, max_size=2))
    for name in names:
        for v in draw(field_values) or []:
            pairs.append((name, v))
    pairs = draw(st.permutations(pairs))
    content_type = draw(mostly(st.sampled_from(CONTENT_TYPES[:2]), st.sampled_from(CONTENT_TYPES)))
    headers = {}
    if content_type == "multipart/form-data":
        boundary = uuid.uuid4().hex.encode()
        body = multipart(pairs, boundary)
        content_type += f"; boundary={boundary.decode()}"
    elif content_type == "multipart/form-data; boundary=":
        body = multipart(pairs, b"")
    else:
        body = urlencoded(pairs)
    if content_type:
        headers["content-type"] = content_type
    return Junk("POST", path, body, headers)


async def exporter_at_confirmation(b: Browser, smtp: MailCatcher, secret_key: str) -> Context:
    """A GCKey signed in, its user account created, and the mail server's refusal of its
    address recorded, so the portal's form for another address takes junk too."""
    username = f"Fuz{uuid.uuid4().hex[:7]}"
    address = f"{uuid.uuid4().hex[:8]}@example.ca"
    smtp.unknown.add(address)
    page = await sign_up(b, "en", username)
    page = await b.submit(page, "issued")
    page = await create_user_account(b, "en", address, family_name="Fuzz")
    assert page.h1 == "Your user account is now created"

    async def refused() -> bool:
        page = await b.get("/en/portal")
        return page.html.css_first("form[action$='/portal/email']") is not None

    await until(refused, what="the portal to offer another address")
    journey_id = b.session_journey().removeprefix("onboarding-")
    token = make_token(secret_key, ConfirmationLink(journey_id, 1))  # the link that was refused
    return Context(
        samples={
            "lang": [b"en", b"fr"],
            "token": [token.encode()],
            "journey_id": [journey_id.encode()],
        },
    )


async def staff_signed_in(b: Browser, staff: Staff, journey_id: bytes) -> Context:
    await staff_sign_in(b, staff.support)
    return Context(
        samples={
            "lang": [b"en", b"fr"],
            "journey_id": [journey_id],
            "name": [n.encode() for n in ACTIONS],
        },
    )


def fuzz(target: Target, context: Context, send: Callable[[Junk], int]) -> None:
    """Hypothesis's run for one route; ``send`` carries each request to the site's loop and
    answers its status."""
    strategy = get_request if target.method == "GET" else post_request

    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(junk=strategy(target, context))
    def no_server_error(junk: Junk) -> None:
        status = send(junk)
        # 422 is FastAPI's JSON answer to a field it cannot read: no page a person can read.
        assert status < 500 and status != 422, (
            f"{target.method} {target.path}: {status} for {junk.url[:300]!r}"
        )

    no_server_error()


async def answer(b: Browser, junk: Junk) -> int:
    """The status the site answers; an exception escaping the app is the 500 it would send."""
    body = junk.body.replace(CSRF, str(b.session().get("csrf", "")).encode())
    request = b.http.build_request(junk.method, junk.url, content=body, headers=junk.headers)
    try:
        return (await b.http.send(request)).status_code
    except Exception as err:
        raise AssertionError(f"{junk.method} {junk.url[:300]!r} raised {err!r}") from err


async def task_failures(client: Client, settings: Settings) -> list[str]:
    """The journeys on the test's task queue whose history holds a failed workflow task."""
    failed = []
    async for execution in client.list_workflows(f"TaskQueue = '{settings.task_queue}'"):
        history = await client.get_workflow_handle(execution.id).fetch_history()
        if any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in history.events):
            failed.append(execution.id)
    return failed


# Hypothesis draws in a thread while the site and its worker run on the loop; what they take
# from the random module in the meantime is not the strategies' doing.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
async def test_junk_at_every_route_gets_a_page_never_a_server_error(
    client: Client,
    settings: Settings,
    new_worker: NewWorker,
    smtp: MailCatcher,
    database_url: str,
) -> None:
    settings.database_url = database_url  # PostgreSQL refuses what SQLite takes (a NUL)
    staff = Staff(settings)
    loop = asyncio.get_running_loop()
    async with (
        new_worker(client, settings),
        browser(settings, client) as exporter,
        browser(settings, client) as support,
    ):
        exporter_context = await exporter_at_confirmation(
            exporter, smtp, settings.secret_key.get_secret_value()
        )
        support_context = await staff_signed_in(
            support, staff, exporter_context.samples["journey_id"][0]
        )

        def sender(b: Browser) -> Callable[[Junk], int]:
            def send(junk: Junk) -> int:
                return asyncio.run_coroutine_threadsafe(answer(b, junk), loop).result(120)

            return send

        def run_all() -> None:
            for target in TARGETS:
                b, context = (
                    (support, support_context) if target.staff else (exporter, exporter_context)
                )
                fuzz(target, context, sender(b))

        await asyncio.to_thread(run_all)
        assert await task_failures(client, settings) == []


def test_every_form_and_parameter_is_covered() -> None:
    """The enumeration finds the routes it must: a form step, a staff page with a query, a
    path with a token."""
    seen = {(t.method, t.path) for t in TARGETS}
    assert ("POST", "/{lang}/gckey/recovery-email") in seen
    assert ("GET", "/{lang}/staff/journeys") in seen
    assert ("POST", "/{lang}/confirm/{token}") in seen
    journeys = next(t for t in TARGETS if t.path == "/{lang}/staff/journeys")
    assert "page" in journeys.query_params
    account = next(t for t in TARGETS if t.path == "/{lang}/cers/account" and t.method == "POST")
    assert "email" in account.form_fields
