"""The supervisors' dashboard, the KPI JSON API and CSV exports, and the agents' follow-ups of
detractors. Routes only parse and check access; insights computes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal, NamedTuple
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

import handoff
import insights
from core.languages import page_language
from core.web import DbInt, RouteSettings, app_state, page_templates
from handoff.audit import AuditAction, audit_request
from handoff.auth import Agent, DbSession, Supervisor, csrf_protected, csrf_token, page_user
from handoff.models import Role, Team, User
from insights import charts
from insights.dashboard_texts import SCRIPT_KEYS, follow_up_texts
from insights.display import Display
from insights.export import TABLES, UnknownTable, report_table, surveys_table, to_csv

api = APIRouter(tags=["insights"])
pages = APIRouter(include_in_schema=False)
templates = page_templates(Path(__file__).parent / "templates")
MAX_DAYS = 366
_dashboard_user = page_user(Role.SUPERVISOR, Role.ADMIN, refusal="the dashboard is for supervisors and admins")


class ReportQuery(BaseModel):
    """The period (local days, both included) and the filters of a report."""

    start: date | None = Field(None, alias="from")
    end: date | None = Field(None, alias="to")
    channel: str | None = Field(None, max_length=20)
    team: str | None = Field(None, max_length=40)
    agent: int | None = None
    language: str | None = Field(None, max_length=8)
    handled_by: Literal["bot", "person"] | None = None

    def period(self, settings: RouteSettings) -> insights.Period:
        today = datetime.now(ZoneInfo(settings.report_timezone)).date()
        end = self.end or today
        start = self.start or end - timedelta(days=6)
        if (end - start).days >= MAX_DAYS:
            raise HTTPException(422, f"choose a period of at most {MAX_DAYS} days")
        try:
            return insights.Period.of_days(start, end, settings.report_timezone)
        except insights.InvalidPeriod as exc:
            raise HTTPException(422, str(exc)) from exc

    def as_details(self, fmt: str) -> dict:
        """The export's format, period and filters, as its audit entry records them."""
        return {"format": fmt} | {k: str(v) for k, v in self.model_dump(by_alias=True).items() if v is not None}

    def filters(self) -> insights.Filters:
        return insights.Filters(
            channel=self.channel or None,
            team_id=self.team or None,
            agent_id=self.agent,
            language=self.language or None,
            handled_by=self.handled_by,
        )


def _query(
    start: Annotated[date | None, Query(alias="from", description="first local day (default: 6 days before `to`)")] = None,
    end: Annotated[date | None, Query(alias="to", description="last local day, included (default: today)")] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    team: Annotated[str | None, Query(max_length=40)] = None,
    agent: Annotated[str | None, Query(max_length=12, description="agent id")] = None,
    language: Annotated[str | None, Query(max_length=8)] = None,
    handled_by: Annotated[Literal["bot", "person", ""] | None, Query()] = None,
) -> ReportQuery:
    # Empty form fields ("all") arrive as "", which mean no filter.
    if agent and not agent.isdigit():
        raise HTTPException(422, "agent must be an agent id")
    return ReportQuery.model_validate(
        {
            "from": start,
            "to": end,
            "channel": channel,
            "team": team,
            "agent": int(agent) if agent else None,
            "language": language,
            "handled_by": handled_by or None,
        }
    )


Params = Annotated[ReportQuery, Depends(_query)]


def _targets(settings: RouteSettings) -> insights.Targets:
    return insights.Targets(service_level_seconds=settings.service_level_seconds, fcr_days=settings.fcr_days)


async def _report(request: Request, session: DbSession, params: ReportQuery) -> insights.Report:
    settings: RouteSettings = app_state(request).settings
    return await insights.compute_report(session, params.period(settings), params.filters(), targets=_targets(settings))


@api.get("/api/insights/report", response_model=insights.Report)
async def report(request: Request, session: DbSession, params: Params, user: Supervisor) -> insights.Report:
    """Every KPI for conversations started in the period that match the filters."""
    result = await _report(request, session, params)
    await audit_request(
        request,
        actor=user,
        action=AuditAction.EXPORT,
        target_type="report",
        target_id="report",
        details=params.as_details("json"),
    )
    return result


@api.get("/api/insights/live", response_model=insights.LiveCounters)
async def live(request: Request, session: DbSession, user: Supervisor) -> insights.LiveCounters:
    """Queued now, with agents now, longest current wait, agents with the console open."""
    return await insights.live_counters(session)


@api.get("/api/insights/export/{table}.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def export_csv(table: str, request: Request, session: DbSession, params: Params, user: Supervisor) -> Response:
    """One table as CSV: summary, days, heatmap, waits, channels, teams, agents, endings, complaints,
    themes, or surveys (the raw answers)."""
    if table == "surveys":
        period = params.period(app_state(request).settings)
        rows = await insights.list_surveys(
            session,
            start=period.start,
            end=period.end,
            channel=params.channel,
            team_id=params.team,
            agent_id=params.agent,
            language=params.language,
        )
        body = to_csv(surveys_table(rows))
    else:
        try:
            body = to_csv(report_table(await _report(request, session, params), table))
        except UnknownTable as exc:
            raise HTTPException(404, str(exc)) from exc
    await audit_request(
        request, actor=user, action=AuditAction.EXPORT, target_type="table", target_id=table, details=params.as_details("csv")
    )
    return Response(
        body, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{table}.csv"'}
    )


# -- follow-ups of detractors -----------------------------------------------------------------


class FollowUpOut(BaseModel):
    id: int
    conversation_id: str
    team_id: str | None
    score: int
    reason: str | None
    created_at: datetime
    claimed_by: int | None
    claimed_at: datetime | None
    done_at: datetime | None
    outcome: str | None
    team_name: str | None = Field(None, description="the team as the admins named it (the list only)")


class DoneIn(BaseModel):
    outcome: str = Field(min_length=1, max_length=2000, description="what came of calling the customer back")


def _follow_up_error(exc: insights.FollowUpError) -> HTTPException:
    return HTTPException(404 if isinstance(exc, insights.FollowUpNotFound) else 409, str(exc))


@api.get("/api/insights/follow-ups", response_model=list[FollowUpOut])
async def follow_ups(user: Agent, session: DbSession, open_only: bool = True) -> list[FollowUpOut]:
    """Detractors to call back, of the user's teams (every team for supervisors), oldest first."""
    teams = await handoff.user_team_ids(session, user)
    names = dict((await session.execute(select(Team.id, Team.name))).tuples().all())
    return [
        FollowUpOut.model_validate(t, from_attributes=True).model_copy(update={"team_name": names.get(t.team_id or "")})
        for t in await insights.list_follow_ups(session, teams, open_only=open_only)
    ]


@api.get("/api/insights/follow-ups/words")
async def follow_up_words(user: Agent, request: Request, lang: str | None = Query(None, max_length=20)) -> dict[str, str]:
    """The follow-up list's words in the reader's language (``?lang=``, else the browser's)."""
    return follow_up_texts(page_language(lang, request.headers.get("accept-language")))


async def _check_team(session: DbSession, user: User, follow_up_id: int) -> None:
    try:
        task = await insights.get_follow_up(session, follow_up_id)
    except insights.FollowUpNotFound as exc:
        raise _follow_up_error(exc) from exc
    teams = await handoff.user_team_ids(session, user)
    if teams is not None and task.team_id is not None and task.team_id not in teams:
        raise HTTPException(403, "this follow-up belongs to a team you are not in")


@api.post("/api/insights/follow-ups/{follow_up_id}/claim", response_model=FollowUpOut, dependencies=[Depends(csrf_protected)])
async def claim_follow_up(follow_up_id: DbInt, user: Agent, request: Request) -> FollowUpOut:
    """Take the follow-up; 409 when another agent was first."""
    async with app_state(request).desk.unit_of_work() as session:
        await _check_team(session, user, follow_up_id)
        try:
            task = await insights.claim_follow_up(session, follow_up_id, user.id)
        except insights.FollowUpError as exc:
            raise _follow_up_error(exc) from exc
    return FollowUpOut.model_validate(task, from_attributes=True)


@api.post("/api/insights/follow-ups/{follow_up_id}/done", response_model=FollowUpOut, dependencies=[Depends(csrf_protected)])
async def finish_follow_up(follow_up_id: DbInt, body: DoneIn, user: Agent, request: Request) -> FollowUpOut:
    """Record what came of the call back (only the agent who claimed it)."""
    async with app_state(request).desk.unit_of_work() as session:
        await _check_team(session, user, follow_up_id)
        try:
            task = await insights.complete_follow_up(session, follow_up_id, user.id, body.outcome)
        except insights.FollowUpError as exc:
            raise _follow_up_error(exc) from exc
    return FollowUpOut.model_validate(task, from_attributes=True)


# -- the page -----------------------------------------------------------------------------------


class _DashboardAsk(NamedTuple):
    params: ReportQuery
    user: User


async def _dashboard_ask(request: Request, session: DbSession, params: Params) -> _DashboardAsk:
    """The report's filters, and the dashboard's user checked only once they are valid: a bad
    filter is a 422 for anyone, logged in or not. (FastAPI still calls a dependency when another
    one failed validation, never one whose own parameters failed: hence both in one.)"""
    return _DashboardAsk(params, await _dashboard_user(request, session))


@pages.get("/dashboard", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    session: DbSession,
    ask: Annotated[_DashboardAsk, Depends(_dashboard_ask)],
    lang: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    """The supervisors' page, drawn on the server (charts are inline SVG), in the reader's language
    (``?lang=``, else the browser's) and the desk's time zone."""
    params, user = ask
    report = await _report(request, session, params)
    live = await insights.live_counters(session)
    teams = (await session.execute(select(Team).order_by(Team.name))).scalars().all()
    agents = await insights.filter_agents(session)
    open_follow_ups = await insights.list_follow_ups(session, None)
    settings = app_state(request).settings
    period = params.period(settings)
    show = Display(page_language(lang, request.headers.get("accept-language")), settings.report_timezone)
    query = str(request.url.query)
    context = {
        "lang": show.lang,
        "show": show,
        "t": show.t,
        # the alerts name a team by its name (the script has no table of teams otherwise)
        "script_texts": {key: show.t[key] for key in SCRIPT_KEYS} | {"teams": {team.id: team.name for team in teams}},
        "user": user,
        "report": report,
        "live": live,
        "teams": teams,
        "team_names": {team.id: team.name for team in teams},  # the tables name teams, never show their ids
        "agents": agents,
        "params": params,
        "first_day": (period.start.astimezone(ZoneInfo(period.tz))).date(),
        "last_day": (period.end.astimezone(ZoneInfo(period.tz)) - timedelta(seconds=1)).date(),
        "follow_ups": open_follow_ups,
        "charts": charts,
        "tables": TABLES,
        "query": query,
        "csrf": csrf_token(request),
        # Whoever took a follow-up, whatever their role.
        "agent_names": dict((await session.execute(select(User.id, User.name))).tuples().all()),
        "service_level_seconds": settings.service_level_seconds,
        "fcr_days": settings.fcr_days,
    }
    return templates.TemplateResponse(request, "dashboard.html", context)


router = APIRouter()
"""Everything of insights on the web: the KPI API, CSV exports, follow-ups and the ``/dashboard`` page."""
router.include_router(api)
router.include_router(pages)
