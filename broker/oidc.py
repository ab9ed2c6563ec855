"""Authlib's authorization server with the one relying party, codes in memory and pairwise ids.

Authlib does the protocol (client authentication, redirect URI, PKCE, nonce, id_token); this
module only says where the client, the codes and the signing key are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask
from joserfc.jwk import RSAKey

CODE_LIFETIME = 300  # seconds
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


@dataclass(frozen=True)
class Client:
    """The one registered relying party: a confidential client."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    id_token_signed_response_alg = "RS256"

    @property
    def sector(self) -> str:
        """OIDC's pairwise sector identifier: the host of the first redirect URI."""
        return urlsplit(self.redirect_uris[0]).hostname or ""

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # OpenID Connect makes redirect_uri a required parameter

    def get_allowed_scope(self, scope: str | None) -> str | None:
        # None makes Authlib answer invalid_scope: without "openid" there would be no id_token.
        return "openid" if scope and "openid" in scope.split() else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.client_secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass(frozen=True)
class Person:
    """All the broker hands on about someone: the pairwise id, and when they signed in."""

    sub: str
    auth_time: int = field(default_factory=lambda: int(time.time()))


def pairwise_sub(secret: str, sector: str, institution: str, login: str) -> str:
    """The same customer of the same institution gets the same id in one sector, and unrelated
    ids anywhere else."""
    login = "".join(login.split()).casefold()
    digest = hmac.new(
        secret.encode(), f"{sector}|{institution}|{login}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str
    code_challenge: str
    code_challenge_method: str
    sub: str
    auth_time: int
    issued: float = field(default_factory=time.time)

    @property
    def expired(self) -> bool:
        return time.time() > self.issued + CODE_LIFETIME

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    server: Server

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        codes = self.server.codes
        for unused in [c for c in list(codes.values()) if c.expired]:
            codes.pop(unused.code, None)
        codes[code] = AuthorizationCode(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            nonce=data["nonce"],
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
            sub=request.user.sub,
            auth_time=request.user.auth_time,
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        # Taken out on first use, whatever follows: a code never works twice, even in a race.
        found = self.server.codes.pop(code, None)
        if found is None or found.expired or found.client_id != client.client_id:
            return None
        return found

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        pass  # already taken out by query_authorization_code

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Person:
        return Person(authorization_code.sub, authorization_code.auth_time)


class S256Required(CodeChallenge):  # type: ignore[misc]
    """PKCE on every request and S256 only; Authlib alone would let a confidential client skip
    it or use plain."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: CodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE with code_challenge_method=S256 is required.")
        super().validate_code_challenge(grant, redirect_uri)


class IdToken(OpenIDCode):  # type: ignore[misc]
    def __init__(self, issuer: str, key: RSAKey, codes: Mapping[str, AuthorizationCode]):
        super().__init__(require_nonce=True)
        self.issuer = issuer
        self.key = key
        self.codes = codes

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        client_id = request.payload.client_id
        codes = list(self.codes.values())  # a copy: other threads add and take codes
        return any(c.nonce == nonce and c.client_id == client_id for c in codes)

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return self.key

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": self.key.kid or ""}

    def get_client_claims(self, client: Client) -> dict[str, str]:
        return {"iss": self.issuer, "aud": client.client_id}

    def generate_user_info(self, user: Person, scope: str) -> dict[str, str]:
        return {"sub": user.sub}


class Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, app: Flask, client: Client, issuer: str, key: RSAKey) -> None:
        super().__init__(app, query_client=self._client_named, save_token=self._forget_token)
        self.client = client
        self.authorize_url = f"{issuer}/authorize"
        self.codes: dict[str, AuthorizationCode] = {}
        extensions = [S256Required(required=True), IdToken(issuer, key, self.codes)]
        self.register_grant(CodeGrant, extensions)

    def _client_named(self, client_id: str) -> Client | None:
        return self.client if client_id == self.client.client_id else None

    def _forget_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """No userinfo endpoint, so nothing needs the access token again."""

    def authorization_request(self, params: Mapping[str, str]) -> OAuth2Request:
        """An authorization request validated earlier and kept while the person signs in."""
        request = OAuth2Request("GET", self.authorize_url)
        request.payload = BasicOAuth2Payload(dict(params))
        return request
