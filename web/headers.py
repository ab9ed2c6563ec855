"""The security headers every response of the site carries.

The Content-Security-Policy allows only the site's own files: every script and style sheet is
in web/static, so no inline script, style element or style attribute runs. Forms post to the
site itself, and the Sign-In Partner's choice is a form whose answer redirects to the partner:
browsers hold that redirect to form-action too, so the partner's origin is named there. The site
shows no image, so none is allowed from anywhere else (no ``data:`` either). A route that needs
another policy (the auditor's self-contained document) sets its own header, which stays.
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from settings import Settings

CSP = "Content-Security-Policy"
HSTS = "max-age=31536000; includeSubDomains"


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_policy(*, form_action: str = "'self'", **directives: str) -> str:
    """The site's policy; a directive given here (``style_src="..."``) replaces the site's."""
    site = {
        "default_src": "'self'",
        "script_src": "'self'",
        "style_src": "'self'",
        "img_src": "'self'",
        "form_action": form_action,
        "frame_ancestors": "'none'",
        "base_uri": "'none'",
        "object_src": "'none'",
    }
    chosen = {**site, **directives}
    return "; ".join(f"{name.replace('_', '-')} {value}" for name, value in chosen.items())


def site_policy(settings: Settings) -> str:
    partner = origin(settings.partner_issuer)
    return content_policy(form_action=f"'self' {partner}" if partner else "'self'")


def style_hash(css: str) -> str:
    """The CSP source that allows exactly this one inline style element."""
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    return f"'sha256-{digest}'"


class SecurityHeaders:
    """Adds the headers to every response, the site's error pages and refusals included; a
    header the response set itself (a route's own policy) stays."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        every: list[tuple[str, str]] = [
            (CSP, site_policy(settings)),
            # Confirmation and resume links carry a token in the path: no Referer with it.
            ("Referrer-Policy", "no-referrer"),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
        ]
        if settings.https:
            every.append(("Strict-Transport-Security", HSTS))
        # Encoded once, as ASGI sends them: a response carries them as they are.
        self.for_files = raw(every)
        # Pages are personal, and the partner callback carries a code: nothing keeps them.
        self.for_pages = raw([*every, ("Cache-Control", "no-store")])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = self.for_files if scope["path"].startswith("/static/") else self.for_pages

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [header for header in added if header[0] not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def raw(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
