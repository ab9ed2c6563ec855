"""The authorization endpoint and the pages a person walks through to answer it.

A valid authorization request is kept in memory under a random id while the person chooses a
financial institution, signs in to its demo online banking and, the first time, accepts the
sign-in service terms; then the relying party gets a code, or ``access_denied``.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, abort, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from broker.oidc import Person, Server, pairwise_sub
from broker.texts import DEMO_PASSWORD, INSTITUTIONS, TEXTS, language
from core.languages import other_language, supported_language

FLOW_LIFETIME = 30 * 60  # seconds a person has to sign in
log = logging.getLogger(__name__)


@dataclass
class Flow:
    """One authorization request while its person signs in; forgotten once answered."""

    request: dict[str, str]
    started: float = field(default_factory=time.monotonic)
    institution: str = ""
    person: Person | None = None

    @property
    def expired(self) -> bool:
        return time.monotonic() - self.started > FLOW_LIFETIME


def render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    lang = context.setdefault("lang", page_language())
    other = other_language(lang)
    if request.endpoint == "pages.authorize":  # the same authorization request, other language
        values: dict[str, Any] = {**request.args.to_dict(), "ui_locales": other}
        toggle = url_for("pages.authorize", **values)
    else:
        toggle = url_for(request.endpoint or "", **(request.view_args or {}), lang=other)
    html = render_template(
        template, t=TEXTS[lang], other=other, toggle=toggle, institutions=INSTITUTIONS, **context
    )
    return html, status


def page_language() -> str:
    return supported_language(request.args.get("lang"))


def sign_in_pages(server: Server, pairwise_secret: str) -> Blueprint:
    pages = Blueprint("pages", __name__)
    flows: dict[str, Flow] = {}
    consents: set[str] = set()  # pairwise ids that accepted the terms: nothing else is kept

    @pages.route("/authorize", methods=["GET", "POST"])
    def authorize() -> ResponseReturnValue:
        lang = language(request.values.get("ui_locales", ""))
        try:
            server.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            log.info("authorization request refused: %s", error.description)
            if error.redirect_uri:  # the client and its redirect URI are known: tell it there
                redirect_with_error: Response = server.handle_error_response(None, error)
                return redirect_with_error
            message = TEXTS[lang]["bad_request"]
            return render("failed.html", 400, lang=lang, message=message, detail=error.description)
        for stale in [k for k, f in list(flows.items()) if f.expired]:
            flows.pop(stale, None)
        flow_id = secrets.token_urlsafe(24)
        flows[flow_id] = Flow(request.values.to_dict())
        return redirect(url_for(".institution", flow_id=flow_id, lang=lang), 303)

    def flow_named(flow_id: str, *, finished: bool = False) -> Flow:
        """The pending request; taken out when finished, so it is answered only once."""
        flow = flows.pop(flow_id, None) if finished else flows.get(flow_id)
        if flow is None or flow.expired:
            message = TEXTS[page_language()]["unknown_flow"]
            abort(make_response(render("failed.html", 404, message=message)))
        return flow

    def step(endpoint: str, flow_id: str) -> Response:
        return redirect(url_for(endpoint, flow_id=flow_id, lang=page_language()), 303)

    def answer(flow_id: str, person: Person | None) -> Response:
        """Sends the person back to the relying party: with a code, or with access_denied."""
        flow = flow_named(flow_id, finished=True)
        oauth_request = server.authorization_request(flow.request)
        grant = server.get_authorization_grant(oauth_request)
        response = server.create_authorization_response(oauth_request, person, grant)
        assert isinstance(response, Response)
        return response

    @pages.route("/sign-in/<flow_id>/institution", methods=["GET", "POST"])
    def institution(flow_id: str) -> ResponseReturnValue:
        flow = flow_named(flow_id)
        if request.method == "GET":
            return render("institution.html", flow_id=flow_id, chosen=flow.institution)
        chosen = request.form.get("institution", "")
        if chosen not in INSTITUTIONS:
            errors = {"institution": "choose_error"}
            return render("institution.html", 400, flow_id=flow_id, chosen="", errors=errors)
        flow.institution, flow.person = chosen, None  # back from a later page: sign in again
        return step(".bank", flow_id)

    @pages.route("/sign-in/<flow_id>/bank", methods=["GET", "POST"])
    def bank(flow_id: str) -> ResponseReturnValue:
        flow = flow_named(flow_id)
        if not flow.institution:
            return step(".institution", flow_id)
        if request.method == "GET":
            return render("bank.html", flow_id=flow_id, institution=flow.institution, login="")
        login = request.form.get("login", "").strip()
        password = request.form.get("password", "")
        errors = {}
        if not login:
            errors["login"] = "login_error"
        if password != DEMO_PASSWORD:
            errors["password"] = "password_wrong" if password else "password_missing"
        if errors:  # the login stays, the password never does
            context = {"flow_id": flow_id, "institution": flow.institution, "login": login}
            return render("bank.html", 400, errors=errors, **context)
        client = server.client
        flow.person = Person(pairwise_sub(pairwise_secret, client.sector, flow.institution, login))
        if flow.person.sub in consents:
            return answer(flow_id, flow.person)
        return step(".terms", flow_id)

    @pages.route("/sign-in/<flow_id>/terms", methods=["GET", "POST"])
    def terms(flow_id: str) -> ResponseReturnValue:
        flow = flow_named(flow_id)
        if flow.person is None:
            return step(".bank", flow_id)
        decision = request.form.get("decision")
        if request.method == "GET" or decision not in ("accept", "decline"):
            return render("terms.html", flow_id=flow_id)
        if decision == "decline":
            return answer(flow_id, None)
        consents.add(flow.person.sub)
        return answer(flow_id, flow.person)

    @pages.post("/sign-in/<flow_id>/cancel")
    def cancel(flow_id: str) -> ResponseReturnValue:
        return answer(flow_id, None)

    return pages
