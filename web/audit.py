"""The auditor's pages of a journey: its timeline in plain words, the raw history as JSON,
a document to file, and a replay with today's workflow code. Any staff member may read and
replay; nothing here changes a journey."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from babel.dates import format_time, get_timezone_name
from fastapi import APIRouter, Depends, HTTPException, Request
from markupsafe import Markup
from starlette.responses import Response

from audit.replay import ReplayOutcome, replay
from audit.sources import HistoryNotFound, JourneyHistory, RunHistory
from audit.timeline import Entry, build_timeline
from db.datakeys import Erasure
from i18n import DEFAULT_ZONE, long_date, translations
from web.deps import AppSettings, DbEngine, JourneyService, Lang
from web.headers import CSP, content_policy, style_hash
from web.pages import TEMPLATES, page_language, render, translator
from web.session import check_csrf
from web.staff import AnyStaff, SignedInStaff
from web.staff.journeys import journey_path
from workflows.registry import WORKFLOWS

router = APIRouter(prefix="/{lang}/staff/journeys/{journey_id}")

# The filed document carries its style inline, to be read anywhere; its policy allows that one
# style element by its hash and nothing else: no script, no file from the site.
DOCUMENT_STYLE = (Path(__file__).parent / "templates/staff/audit/document.css").read_text()
DOCUMENT_POLICY = content_policy(
    default_src="'none'",
    script_src="'none'",
    style_src=style_hash(DOCUMENT_STYLE),
    img_src="'none'",
    form_action="'none'",
)


def replay_workflows() -> Sequence[type]:
    """Today's workflow code; a test hands in a changed copy to see a replay fail."""
    return WORKFLOWS


class JourneyErased(Exception):
    """The journey's personal information was erased: no page of its history can be made."""

    def __init__(self, journey_id: str, erasure: Erasure) -> None:
        super().__init__(journey_id)
        self.journey_id = journey_id
        self.erasure = erasure


async def journey_history(
    journeys: JourneyService, engine: DbEngine, journey_id: str
) -> JourneyHistory:
    """A dependency: every run of the journey, from Temporal or else the archive; 404 if
    neither has it, or if the id is not one the site makes; JourneyErased (the erased page)
    once its personal information was erased."""
    journey_id = journey_path(journey_id)
    erasure = await journeys.erasure(journey_id)
    if erasure is not None:
        raise JourneyErased(journey_id, erasure)
    try:
        return await journeys.history(engine, journey_id)
    except HistoryNotFound as err:
        raise HTTPException(404) from err


# Routes name the staff member before the journey: the role is checked before Temporal is asked.
Journey = Annotated[JourneyHistory, Depends(journey_history)]
ReplayWorkflows = Annotated[Sequence[type], Depends(replay_workflows)]


@dataclass(frozen=True)
class Line:
    """A timeline entry as a page shows it."""

    iso: str  # UTC, for the <time datetime> attribute and the filed document
    local: str  # in the viewer's time zone, in the page's language
    text: str
    event_id: int


def moment(value: datetime, lang: str, zone: str = DEFAULT_ZONE) -> str:
    """To the second, with the zone named: an auditor compares times across systems."""
    tz = ZoneInfo(zone)
    local = value.astimezone(tz)
    locale = f"{lang}_CA"
    return (
        f"{long_date(local, lang)}, "
        f"{format_time(local, 'medium', tzinfo=tz, locale=locale)} "
        f"({get_timezone_name(local, 'long', locale=locale)})"
    )


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def lines(journey: JourneyHistory, lang: str) -> list[Line]:
    gettext: Callable[[str], str] = translations(lang).gettext
    entries: list[Entry] = []
    for run in journey.runs:
        pending = journey.pending if run is journey.latest and journey.running else ()
        entries += build_timeline(run.shown, pending)
    return [
        Line(iso(e.at), moment(e.at, lang), e.says.render(gettext), e.event_id) for e in entries
    ]


def run_named(journey: JourneyHistory, run_id: str) -> RunHistory:
    if not run_id:
        return journey.latest
    for run in journey.runs:
        if run.run_id == run_id:
            return run
    raise HTTPException(404)


def timeline_page(
    request: Request,
    lang: str,
    journey_id: str,
    staff: SignedInStaff,
    journey: JourneyHistory,
    outcomes: list[ReplayOutcome] | None = None,
) -> Response:
    return render(
        request,
        "staff/audit/timeline.html",
        lang=lang,
        staff=staff,
        journey_id=journey_id,
        journey=journey,
        lines=lines(journey, lang),
        outcomes=outcomes,
        zone_name=get_timezone_name(ZoneInfo(DEFAULT_ZONE), "long", locale=f"{lang}_CA"),
    )


@router.get("/timeline", name="staff_timeline")
async def timeline(
    request: Request, lang: Lang, journey_id: str, staff: AnyStaff, journey: Journey
) -> Response:
    return timeline_page(request, lang, journey_id, staff, journey)


@router.post("/timeline/replay", name="staff_replay", dependencies=[Depends(check_csrf)])
async def replay_journey(
    request: Request,
    lang: Lang,
    journey_id: str,
    staff: AnyStaff,
    journey: Journey,
    workflows: ReplayWorkflows,
    settings: AppSettings,
    journeys: JourneyService,
) -> Response:
    keys = journeys.reader.keys
    outcomes = await replay(journey.runs, settings.payload_ring, workflows, keys=keys)
    return timeline_page(request, lang, journey_id, staff, journey, outcomes)


@router.get("/history.json", name="staff_history_json")
async def history_json(
    lang: Lang, journey_id: str, staff: AnyStaff, journey: Journey, run: str = ""
) -> Response:
    """One run's history (the latest unless named), decoded with the key ring and its hashes
    redacted: the export whose SHA-256 the filed timeline names."""
    chosen = run_named(journey, run)
    filename = f"{journey.workflow_id}-{chosen.run_id}.json"
    return Response(
        chosen.export,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/timeline.html", name="staff_timeline_document")
async def timeline_document(
    request: Request, lang: Lang, journey_id: str, staff: AnyStaff, journey: Journey
) -> Response:
    """One self-contained page to print or file: every entry, who made it and when, and the
    SHA-256 of each run's export (hashes redacted) so the filed copy can be matched to it."""
    generated_at = datetime.now(UTC)
    response = TEMPLATES[lang].TemplateResponse(
        request,
        "staff/audit/document.html",
        {
            "lang": lang,
            "_": translator(lang),
            "journey_id": journey_id,
            "journey": journey,
            "lines": lines(journey, lang),
            "generated_at": iso(generated_at),
            "generated_at_local": moment(generated_at, lang),
            "staff": staff,
            "style": Markup(DOCUMENT_STYLE),  # a file of this package, not input
        },
    )
    response.headers[CSP] = DOCUMENT_POLICY
    filename = f"{journey.workflow_id}-timeline.html"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def erased_page(request: Request, exc: JourneyErased) -> Response:
    """Instead of the timeline, the export or the document: who erased it, when and why."""
    return render(
        request,
        "staff/audit/erased.html",
        lang=page_language(request),
        status_code=410,
        staff=getattr(request.state, "staff", None),
        journey_id=exc.journey_id,
        erasure=exc.erasure,
    )
