"""The broker as a Flask app: discovery, keys, token endpoint and the sign-in pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from joserfc.jwk import RSAKey

from broker.headers import add_security_headers
from broker.oidc import AUTH_METHODS, Client, Server
from broker.pages import sign_in_pages


@dataclass(frozen=True)
class Config:
    issuer: str
    client: Client
    pairwise_secret: str
    key: RSAKey


def create_app(config: Config) -> Flask:
    app = Flask(__name__)
    app.jinja_env.trim_blocks = app.jinja_env.lstrip_blocks = True
    server = Server(app, config.client, config.issuer, config.key)
    app.register_blueprint(sign_in_pages(server, config.pairwise_secret))
    add_security_headers(app, config.issuer, config.client.redirect_uris)

    @app.get("/.well-known/openid-configuration")
    def discovery() -> dict[str, Any]:
        return {
            "issuer": config.issuer,
            "authorization_endpoint": f"{config.issuer}/authorize",
            "token_endpoint": f"{config.issuer}/token",
            "jwks_uri": f"{config.issuer}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid"],
            "claims_supported": ["iss", "aud", "sub", "nonce", "iat", "exp", "auth_time"],
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "ui_locales_supported": ["en-CA", "fr-CA"],
        }

    @app.get("/jwks")
    def jwks() -> dict[str, Any]:
        return {"keys": [config.key.as_dict(private=False)]}

    @app.post("/token")
    def token() -> Any:
        return server.create_token_response()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
