"""The site's part in operating it: a request id and the HTTP metrics for every request, the
probes and /metrics, and traces whose URLs say nothing a log may not.

``Operations`` is pure ASGI and outermost, so a probe is answered before any host check,
session or page: a load balancer or compose's health check asking ``localhost:8000`` for
/healthz is answered, cheaply, not rate-limited, and its successes stay out of the access log
(web/logs.py). /readyz says which dependency is not reachable (observe/health.py); it says
nothing about anyone. /metrics is served only with METRICS_TOKEN as a bearer token: the
counts (sign-ins, failures, locks) are the operator's, not the public's.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from typing import Any

from fastapi import FastAPI
from fastapi.routing import RouteContext, iter_route_contexts
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from observe.health import ready
from observe.metrics import HTTP_REQUESTS, HTTP_SECONDS
from observe.requests import REQUEST_ID, acceptable, new_request_id
from settings import Settings
from web.deps import services
from web.logs import PROBES, REDACTED, redact

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
REQUEST_ID_HEADER = "X-Request-ID"


class TrustedPeers:
    """TRUSTED_PROXIES as a test on the connection's address: addresses, networks or *."""

    def __init__(self, listed: str) -> None:
        entries = [e.strip() for e in listed.split(",") if e.strip()]
        self.anyone = "*" in entries
        self.networks = []
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue  # a host name: uvicorn's proxy headers handle those; ids are not taken

    def __contains__(self, host: str) -> bool:
        if self.anyone:
            return True
        if not self.networks:  # no proxy is trusted (the default): nothing to parse
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


class Operations:
    def __init__(self, app: ASGIApp, *, settings: Settings, router: Router) -> None:
        self.app = app
        self.router = router
        self.routes: list[RouteContext] | None = None
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.trusted = TrustedPeers(settings.trusted_proxies)
        self.token = settings.metrics_token.get_secret_value().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self.request_id(scope)
        token = REQUEST_ID.set(request_id)
        status = 500  # what the server answers if the app raises before it answers

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        started = time.perf_counter()
        try:
            if scope["path"] in PROBES:
                await self.probe(scope)(scope, receive, answer)
            else:
                await self.app(scope, receive, answer)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            counted, timed = self.series(method, self.route(scope), status)
            counted.inc()
            timed.observe(time.perf_counter() - started)
            REQUEST_ID.reset(token)

    def series(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        """The request counter's and the latency histogram's series for these labels, looked
        up once: ``labels()`` takes a lock and checks its values on every call. There are as
        many as methods x route templates x statuses, a few hundred at most."""
        key = (method, route, status)
        found = self._series.get(key)
        if found is None:
            found = (
                HTTP_REQUESTS.labels(method, route, str(status)),
                HTTP_SECONDS.labels(method, route),
            )
            self._series[key] = found
        return found

    def request_id(self, scope: Scope) -> str:
        peer = scope.get("client")
        if peer and peer[0] in self.trusted:
            given = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
            if acceptable(given):
                return given
        return new_request_id()

    def route(self, scope: Scope) -> str:
        """The route's template (/{lang}/confirm/{token}), never the path it was given."""
        if scope["path"] in PROBES:
            return str(scope["path"])
        # The router leaves the route it chose in the scope (an included router's own route,
        # whose path carries the router's prefix): nothing to match again on every request.
        chosen = scope.get("route")
        path = getattr(chosen, "path", None)
        if isinstance(path, str):
            return path or "unnamed"
        # Answered before routing (a database that does not answer, a host refused).
        if self.routes is None:  # every route is in by the first request
            self.routes = list(iter_route_contexts(self.router.routes))
        partial = None
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route.path or "unnamed"
            if match is Match.PARTIAL and partial is None:
                partial = route.path or "unnamed"
        return partial or "unmatched"

    def probe(self, scope: Scope) -> Any:
        path = scope["path"]
        if scope["method"] not in ("GET", "HEAD"):
            return PlainTextResponse("Method Not Allowed", 405)
        if path == "/healthz":
            return PlainTextResponse("ok")
        if path == "/metrics":
            return self.metrics(scope)
        return Readyz()

    def metrics(self, scope: Scope) -> Response:
        given = Headers(scope=scope).get("authorization", "").encode()
        if not self.token or not hmac.compare_digest(given, b"Bearer " + self.token):
            return PlainTextResponse("Not Found", 404)  # the site does not say it has metrics
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class Readyz:
    """Temporal, the database and SMTP, each "ok" or why not; 503 unless all are."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            readiness = services(Request(scope)).readiness
        except AttributeError:  # the lifespan has not made the services yet
            response: Response = JSONResponse({"site": "starting"}, 503)
        else:
            report = await readiness.report()
            response = JSONResponse(report, 200 if ready(report) else 503)
        await response(scope, receive, send)


# What an HTTP span may not carry as the ASGI instrumentation records it: the URL holds
# confirmation and resume tokens and staff searches; the client's address and browser are
# about a person. The route template (http.route) and the status stay.
URL_ATTRIBUTES = ("http.target", "url.path", "http.url", "url.full", "url.query")
PERSON_ATTRIBUTES = (
    "client.address",
    "client.port",
    "net.peer.ip",
    "net.peer.port",
    "http.client_ip",
    "user_agent.original",
    "http.user_agent",
    "network.peer.address",
    "network.peer.port",
)


def redact_span(span: trace.Span, scope: dict[str, Any]) -> None:
    """The server span's URL rewritten and who sent it dropped, once the ASGI instrumentation
    has set them and before any exporter sees the span (exporters take spans as they end)."""
    attributes = getattr(span, "attributes", None) or {}
    for key in URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str):
            span.set_attribute(key, redact_url(value))
    for key in PERSON_ATTRIBUTES:
        if key in attributes:
            span.set_attribute(key, REDACTED)


def redact_url(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if not sep:
        return redact(value)
    host, slash, target = rest.partition("/")
    return f"{scheme}://{host}{redact(slash + target)}"


def instrument(app: FastAPI, provider: TracerProvider) -> None:
    """The site's HTTP spans, named by route template, their URLs redacted; none for probes."""
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        server_request_hook=redact_span,
        excluded_urls=",".join(p.lstrip("/") for p in PROBES),
        exclude_spans=["receive", "send"],
    )
