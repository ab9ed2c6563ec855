"""The stand-in's security headers.

Its pages use only its own style sheet and no script. Their forms post to the broker, whose
answer redirects to the relying party's callback: browsers hold that redirect to form-action,
so the registered redirect URIs' origins are named there.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, request
from werkzeug.wrappers import Response

HSTS = "max-age=31536000; includeSubDomains"


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def add_security_headers(app: Flask, issuer: str, redirect_uris: tuple[str, ...]) -> None:
    relying_parties = " ".join(sorted({origin(uri) for uri in redirect_uris}))
    csp = (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        f"form-action 'self' {relying_parties}; frame-ancestors 'none'; base-uri 'none'"
    )
    https = urlsplit(issuer).scheme == "https"

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        # The authorization request's state and code challenge are in the address.
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if https:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        if not request.path.startswith("/static/"):  # sign-in pages, codes and tokens
            response.headers.setdefault("Cache-Control", "no-store")
        return response
