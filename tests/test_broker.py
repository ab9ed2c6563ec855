"""The stand-in Sign-In Partner, as a real process over HTTP: what a relying party and a person
can rely on."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from tests.broker_process import (
    DEMO_SAVINGS,
    EXAMPLE_CREDIT_UNION,
    Broker,
    cancel_sign_in,
    decline_terms,
    fresh_login,
    sign_in,
)
from tests.web_helpers import element

ID_TOKEN_CLAIMS = {"iss", "aud", "sub", "nonce", "iat", "exp", "auth_time", "at_hash"}


@dataclass
class Authorization:
    """One authorization request as the relying party makes it, with what it keeps aside."""

    url: str
    state: str
    nonce: str
    verifier: str


def authorization(broker: Broker, **changes: str | None) -> Authorization:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": broker.client_id,
        "redirect_uri": broker.redirect_uri,
        "scope": "openid",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        **changes,
    }
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return Authorization(f"{broker.issuer}/authorize?{query}", state, nonce, verifier)


def callback_params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=10) as client:
        yield client


async def redeem(
    http: httpx2.AsyncClient, broker: Broker, code: str, verifier: str, **changes: Any
) -> httpx2.Response:
    """The relying party's back-channel token request (client_secret_basic)."""
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
    data["redirect_uri"] = broker.redirect_uri
    auth = changes.pop("auth", (broker.client_id, broker.client_secret))
    return await http.post(f"{broker.issuer}/token", data={**data, **changes}, auth=auth)


async def code_for(broker: Broker, request: Authorization, **person: str) -> str:
    back = callback_params(await sign_in(request.url, **person))
    assert back["state"] == request.state
    return back["code"]


async def id_token_claims(http: httpx2.AsyncClient, broker: Broker, token: str) -> dict[str, Any]:
    """Verified as a relying party does: signature against the published JWKS, then claims."""
    keys = KeySet.import_key_set((await http.get(f"{broker.issuer}/jwks")).json())
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    assert decoded.header["kid"] in [key.kid for key in keys.keys]
    return decoded.claims


async def test_discovery_names_the_endpoints_and_promises_pairwise_ids_and_s256(
    http: httpx2.AsyncClient, broker: Broker
) -> None:
    config = (await http.get(f"{broker.issuer}/.well-known/openid-configuration")).json()
    assert config["issuer"] == broker.issuer
    assert config["authorization_endpoint"] == f"{broker.issuer}/authorize"
    assert config["token_endpoint"] == f"{broker.issuer}/token"
    assert config["jwks_uri"] == f"{broker.issuer}/jwks"
    assert config["subject_types_supported"] == ["pairwise"]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    assert config["response_types_supported"] == ["code"]
    assert config["scopes_supported"] == ["openid"]
    assert set(config["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }


@pytest.mark.parametrize("client_auth", ["client_secret_basic", "client_secret_post"])
async def test_code_flow_gives_a_signed_id_token_with_the_pairwise_id_and_nothing_personal(
    http: httpx2.AsyncClient, broker: Broker, client_auth: str
) -> None:
    request = authorization(broker)
    code = await code_for(broker, request, login="Alex Doe")
    secret = {"client_id": broker.client_id, "client_secret": broker.client_secret}
    changes = {"auth": None, **secret} if client_auth == "client_secret_post" else {}
    response = await redeem(http, broker, code, request.verifier, **changes)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    claims = await id_token_claims(http, broker, response.json()["id_token"])
    assert claims["iss"] == broker.issuer
    assert claims["aud"] == broker.client_id
    assert claims["nonce"] == request.nonce
    assert claims["exp"] > claims["iat"] >= claims["auth_time"]
    assert set(claims) <= ID_TOKEN_CLAIMS  # no name, e-mail, login or bank
    assert "alex" not in response.text.lower() and "demo" not in response.text.lower()


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),  # which RFC 7636 reads as plain
        ({"nonce": None}, "invalid_request"),
        ({"scope": "profile"}, "invalid_scope"),
    ],
    ids=["no-pkce", "plain", "no-method", "no-nonce", "no-openid"],
)
async def test_a_request_without_s256_pkce_nonce_or_openid_goes_back_with_an_error(
    http: httpx2.AsyncClient, broker: Broker, changes: dict[str, str | None], error: str
) -> None:
    request = authorization(broker, **changes)
    response = await http.get(request.url)
    assert response.status_code == 302
    assert response.headers["location"].startswith(broker.redirect_uri + "?")
    back = callback_params(response.headers["location"])
    assert back["error"] == error
    assert back["state"] == request.state


@pytest.mark.parametrize(
    "changes",
    [{"redirect_uri": "http://evil.example/partner/callback"}, {"client_id": "unknown"}],
    ids=["unregistered-redirect-uri", "unknown-client"],
)
async def test_an_unknown_client_or_redirect_uri_gets_an_error_page_and_no_redirect(
    http: httpx2.AsyncClient, broker: Broker, changes: dict[str, str]
) -> None:
    response = await http.get(authorization(broker, **changes).url)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "cannot be completed" in element(HTMLParser(response.text), "h1").text()


async def test_a_wrong_code_verifier_is_an_invalid_grant(
    http: httpx2.AsyncClient, broker: Broker
) -> None:
    request = authorization(broker)
    code = await code_for(broker, request)
    response = await redeem(http, broker, code, secrets.token_urlsafe(48))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_a_code_works_once(http: httpx2.AsyncClient, broker: Broker) -> None:
    request = authorization(broker)
    code = await code_for(broker, request)
    assert (await redeem(http, broker, code, request.verifier)).status_code == 200
    replayed = await redeem(http, broker, code, request.verifier)
    assert replayed.status_code == 400
    assert replayed.json()["error"] == "invalid_grant"


async def test_a_wrong_client_secret_is_an_invalid_client(
    http: httpx2.AsyncClient, broker: Broker
) -> None:
    request = authorization(broker)
    code = await code_for(broker, request)
    response = await redeem(http, broker, code, request.verifier, auth=(broker.client_id, "x"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def sub_of(http: httpx2.AsyncClient, broker: Broker, **person: str) -> str:
    request = authorization(broker)
    code = await code_for(broker, request, **person)
    response = await redeem(http, broker, code, request.verifier)
    sub: str = (await id_token_claims(http, broker, response.json()["id_token"]))["sub"]
    return sub


async def test_the_same_customer_of_the_same_bank_is_the_same_sub_and_another_bank_is_not(
    http: httpx2.AsyncClient, broker: Broker
) -> None:
    login = fresh_login()
    first = await sub_of(http, broker, login=login, institution=DEMO_SAVINGS)
    again = await sub_of(http, broker, login=f"  {login.upper()} ", institution=DEMO_SAVINGS)
    elsewhere = await sub_of(http, broker, login=login, institution=EXAMPLE_CREDIT_UNION)
    assert first == again
    assert elsewhere != first
    assert login not in first


async def test_the_terms_come_on_first_use_only(http: httpx2.AsyncClient, broker: Broker) -> None:
    login = fresh_login()

    async def page_after_sign_in() -> httpx2.Response:
        institution = await http.get(authorization(broker).url, follow_redirects=True)
        bank = await http.post(
            str(institution.url), data={"institution": DEMO_SAVINGS}, follow_redirects=True
        )
        return await http.post(str(bank.url), data={"login": login, "password": "demo"})

    first = await page_after_sign_in()
    terms = await http.get(first.url.join(first.headers["location"]))
    assert "terms" in element(HTMLParser(terms.text), "h1").text()
    await http.post(str(terms.url), data={"decision": "accept"})
    second = await page_after_sign_in()
    assert second.headers["location"].startswith(broker.redirect_uri + "?code=")


async def test_cancel_and_decline_go_back_as_access_denied_with_the_state(broker: Broker) -> None:
    for walk in (cancel_sign_in, decline_terms):
        request = authorization(broker)
        back = callback_params(await walk(request.url))
        assert back["error"] == "access_denied"
        assert back["state"] == request.state
        assert "code" not in back


async def test_a_wrong_password_is_shown_on_its_field_and_the_login_is_kept(
    http: httpx2.AsyncClient, broker: Broker
) -> None:
    institution = await http.get(authorization(broker).url, follow_redirects=True)
    bank = await http.post(
        str(institution.url), data={"institution": DEMO_SAVINGS}, follow_redirects=True
    )
    response = await http.post(str(bank.url), data={"login": "alex", "password": "secret"})
    assert response.status_code == 400
    page = HTMLParser(response.text)
    password = element(page, "#password").attributes
    assert password["aria-invalid"] == "true"
    assert password["aria-describedby"] == "password-error"
    assert password.get("value") == ""
    assert "demo" in element(page, "#password-error").text()
    assert element(page, "#login").attributes["value"] == "alex"
    assert element(page, ".error-summary a").attributes["href"] == "#password"


async def test_ui_locales_fr_gives_french_pages_and_the_toggle_keeps_the_request(
    http: httpx2.AsyncClient, broker: Broker
) -> None:
    request = authorization(broker, ui_locales="fr-CA en")
    response = await http.get(request.url, follow_redirects=True)
    page = HTMLParser(response.text)
    assert element(page, "html").attributes["lang"] == "fr"
    assert element(page, "legend").text() == "Choisissez votre institution financière"
    assert "Banque d'épargne Démo" in [label.text() for label in page.css("label")]
    toggle = element(page, "header a").attributes["href"] or ""
    english = HTMLParser((await http.get(str(response.url.join(toggle)))).text)
    assert element(english, "html").attributes["lang"] == "en"
    assert element(english, "legend").text() == "Choose your financial institution"


async def test_the_signing_key_survives_a_restart(http: httpx2.AsyncClient, broker: Broker) -> None:
    before = (await http.get(f"{broker.issuer}/jwks")).json()
    with broker.down():
        with pytest.raises(httpx2.ConnectError):
            await http.get(f"{broker.issuer}/health")
    assert (await http.get(f"{broker.issuer}/jwks")).json() == before


BROKER_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' http://testserver; "
    "frame-ancestors 'none'; base-uri 'none'"
)


async def test_every_answer_has_the_security_headers_and_names_no_server(
    http: httpx2.AsyncClient, broker: Broker
) -> None:
    request = authorization(broker)
    first = await http.get(request.url)  # the authorization request, to the sign-in pages
    pages = [first, await http.get(urljoin(str(first.url), first.headers["location"]))]
    stylesheet = HTMLParser(pages[1].text).css_first("link[rel=stylesheet]")
    assert stylesheet is not None and not HTMLParser(pages[1].text).css("style, [style]")
    static = await http.get(urljoin(str(pages[1].url), stylesheet.attributes["href"] or ""))
    assert static.status_code == 200 and static.headers["content-type"].startswith("text/css")
    token = await redeem(http, broker, "no-such-code", request.verifier)
    assert token.status_code == 400
    discovery = await http.get(f"{broker.issuer}/.well-known/openid-configuration")
    for response in (*pages, static, token, discovery, await http.get(f"{broker.issuer}/nope")):
        where = response.url.path
        assert "server" not in response.headers, where  # werkzeug's banner named its versions
        assert response.headers["content-security-policy"] == BROKER_POLICY, where
        assert response.headers["x-content-type-options"] == "nosniff", where
        assert response.headers["x-frame-options"] == "DENY", where
        assert response.headers["referrer-policy"] == "no-referrer", where
        assert "strict-transport-security" not in response.headers  # an http issuer
    for response in (*pages, token):  # the authorization request, its pages, the token
        assert response.headers["cache-control"] == "no-store", response.url.path
