"""The codec server of Temporal's Web UI, served by the site: ``POST /codec/decode`` and
``POST /codec/encode``, Temporal's remote codec protocol (``{"payloads": [...]}`` as protobuf
JSON, in and out).

The UI calls them from the staff member's browser, with their cookie: only a signed-in staff
member's session gets an answer (an anonymous request 401, an exporter's 403), and only from
the configured Temporal UI origin (``TEMPORAL_UI_ORIGIN``; CORS for that origin alone, with
credentials). No CSRF token can come from the UI, so neither endpoint changes anything: decode
returns plaintext to that staff session only, and what encode makes is bound to no workflow,
so the worker refuses it (core/crypto.py) and nobody drives a journey from the UI.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from google.protobuf import json_format
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payload, Payloads

from core.crypto import EncryptionCodec, PayloadRefused
from db.staff import StaffRole
from web.deps import AppSettings, DbEngine, JourneyService
from web.guards import GoTo
from web.routes import include
from web.staff.access import RoleCheck, SignedInStaff, StaffForbidden

log = logging.getLogger("cers.codec")
PREFIX = "/codec"
MAX_BODY_BYTES = 4 * 1024 * 1024  # a page of a history's payloads, with room to spare

router = APIRouter(prefix=PREFIX)
STAFF = RoleCheck(StaffRole.SUPPORT, StaffRole.AUDITOR)


class CodecRefused(Exception):
    """The request gets no payloads: its status and a word on why (JSON, for the UI)."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


async def codec_staff(request: Request, engine: DbEngine, settings: AppSettings) -> SignedInStaff:
    """Staff, from the Temporal UI's origin; the role is checked on the row as everywhere."""
    origin = request.headers.get("origin", "")
    if not settings.temporal_ui_origin or origin != settings.temporal_ui_origin:
        raise CodecRefused(403, "origin not allowed")
    namespace = request.headers.get("x-namespace", settings.temporal_namespace)
    if namespace != settings.temporal_namespace:
        raise CodecRefused(403, "namespace not served")
    try:
        return await STAFF(request, engine)
    except GoTo as err:
        raise CodecRefused(401, "sign in as staff on the site first") from err
    except StaffForbidden as err:
        raise CodecRefused(403, "staff only") from err


CodecStaff = Annotated[SignedInStaff, Depends(codec_staff)]


async def payloads_of(request: Request) -> list[Payload]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise CodecRefused(415, "send application/json")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise CodecRefused(413, "too many payloads at once")
    try:
        return list(json_format.Parse(body, Payloads()).payloads)
    except (json_format.ParseError, UnicodeDecodeError) as err:
        raise CodecRefused(400, "not a Payloads message") from err


def answer(payloads: list[Payload]) -> Response:
    return Response(
        json_format.MessageToJson(Payloads(payloads=payloads)),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


async def decoded(codec: EncryptionCodec, payload: Payload) -> Payload:
    """Ours: its plaintext. Anything else (plain, a key no longer in the ring, a journey's
    erased data key): as it came."""
    try:
        return await codec.open(payload)
    except PayloadRefused:
        return payload


@router.post("/decode", name="codec_decode")
async def decode(request: Request, staff: CodecStaff, journeys: JourneyService) -> Response:
    payloads = await payloads_of(request)
    # The site's keys: the ring, and each journey's data key found from the payload's own
    # workflow id (the UI's request names no workflow the SDK could give as context).
    codec = journeys.reader
    log.info("decoded %d payloads for staff member %s", len(payloads), staff.username)
    return answer([await decoded(codec, p) for p in payloads])


@router.post("/encode", name="codec_encode")
async def encode(request: Request, staff: CodecStaff, settings: AppSettings) -> Response:
    payloads = await payloads_of(request)
    # No workflow, so no data key: the ring key seals, bound to no workflow, and the worker
    # refuses what this makes.
    codec = EncryptionCodec(settings.payload_ring)
    log.info("encoded %d payloads for staff member %s", len(payloads), staff.username)
    return answer([codec.encrypt(p) for p in payloads])


class CodecCORS:
    """Starlette's CORS, for the codec's paths only: the UI's origin may call them with the
    staff member's cookie, and no other path of the site is opened to it."""

    def __init__(self, app: ASGIApp, origin: str) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=[origin] if origin else [],
            allow_methods=["POST"],
            allow_headers=["content-type", "x-namespace"],
            allow_credentials=True,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler: Callable[[Scope, Receive, Send], Awaitable[None]] = self.app
        if scope["type"] == "http" and str(scope["path"]).startswith(PREFIX + "/"):
            handler = self.cors
        await handler(scope, receive, send)


def add_codec(app: FastAPI, origin: str) -> None:
    """The endpoints, their CORS and their JSON refusals, on the app web/app.py builds."""
    include(app, router)
    app.add_middleware(CodecCORS, origin=origin)

    @app.exception_handler(CodecRefused)
    async def refused(request: Request, exc: CodecRefused) -> Response:
        return JSONResponse({"error": exc.error}, status_code=exc.status)
