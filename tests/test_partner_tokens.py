"""Unit test: an id_token that fails its checks is refused, and nothing is made.

The real provider process never signs a wrong token, so here (and only here) an in-memory
HTTP transport plays a provider that does: wrong audience, wrong issuer, wrong nonce, or a
signature from a key that is not in its JWKS."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from pydantic import SecretStr
from temporalio.client import Client

from settings import Settings
from tests.conftest import NewWorker
from tests.web_helpers import Browser, Page, browser
from web.partner import partner_client

ISSUER = "http://partner.test"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})


def provider(nonce: dict[str, str], claims: dict[str, object], key: RSAKey) -> httpx2.MockTransport:
    def handle(request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx2.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/jwks",
                    "id_token_signing_alg_values_supported": ["RS256"],
                },
            )
        if path == "/jwks":
            return httpx2.Response(200, json={"keys": [KEY.as_dict(private=False)]})
        if path == "/token":
            now = int(time.time())
            body = {"iss": ISSUER, "aud": "cers", "sub": "pairwise-1", "iat": now}
            body |= {"exp": now + 300, "nonce": nonce["value"], **claims}
            token = jwt.encode({"alg": "RS256", "kid": "k1"}, body, key)
            return httpx2.Response(
                200,
                json={"access_token": "a", "token_type": "Bearer", "id_token": token},
            )
        return httpx2.Response(404)

    return httpx2.MockTransport(handle)


async def back_with_token(
    b: Browser, settings: Settings, claims: dict[str, object], key: RSAKey
) -> Page:
    """Presses Sign-In Partner Log In, then comes back to the callback with a code the
    in-memory provider answers with an id_token carrying ``claims``, signed with ``key``."""
    nonce: dict[str, str] = {}
    b.app.state.services.partner = partner_client(settings, provider(nonce, claims, key))
    page = await b.get("/en/login")
    action, fields = page.form("sign-in-partner")
    response = await b.http.post(action, data=fields, follow_redirects=False)
    query = parse_qs(urlsplit(response.headers["location"]).query)
    nonce["value"] = query["nonce"][0]
    return await b.get(f"/partner/callback?code=c&state={query['state'][0]}")


@pytest.fixture
def partner_settings(settings: Settings) -> Settings:
    settings.partner_issuer = ISSUER
    settings.partner_client_id = "cers"
    settings.partner_client_secret = SecretStr("s")
    return settings


@pytest.mark.parametrize(
    ("claims", "key"),
    [
        ({"aud": "another-service"}, KEY),
        ({"iss": "http://impostor.test"}, KEY),
        ({"nonce": "not-the-nonce-we-sent"}, KEY),
        ({}, OTHER_KEY),
    ],
    ids=["wrong audience", "wrong issuer", "wrong nonce", "signature not in the JWKS"],
)
async def test_a_token_that_fails_its_checks_is_refused(
    client: Client,
    partner_settings: Settings,
    new_worker: NewWorker,
    claims: dict[str, object],
    key: RSAKey,
) -> None:
    settings = partner_settings
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await back_with_token(b, settings, claims, key)
        assert page.status == 400
        assert page.h1 == "Your Sign-In Partner log in could not be accepted"
        assert "auth" not in b.session()
        state = json.dumps(b.session())
        assert "pairwise-1" not in state


async def test_the_same_provider_with_a_good_token_is_accepted(
    client: Client, partner_settings: Settings, new_worker: NewWorker
) -> None:
    """The refusals above are the checks, not the transport: a good token goes through."""
    settings = partner_settings
    async with new_worker(client, settings), browser(settings, client) as b:
        page = await back_with_token(b, settings, {"sub": "p-ok"}, KEY)
        assert page.h1 == "Welcome to CERS"
        assert "auth" in b.session()
