"""Admins create, change, archive and remove teams (business hours, holidays, service level, how
chats are assigned, members) and staff accounts (adding them, password resets, deactivation, roles,
teams, names), and read the audit log: who did what, when and from
where (``/api/admin/audit``, ``audit.csv``)."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

import handoff
from core.models import aware
from core.web import DB_INT_MAX, DbInt, app_state
from handoff import Role, Team, admin_pages, canned_pages, invitation_pages, people_pages, words_pages
from handoff.admin_actions import (
    REFUSALS,
    NewUser,
    do_add_user,
    do_archive_team,
    do_change_role,
    do_change_team,
    do_create_team,
    do_deactivate_user,
    do_delete_team,
    do_rename_user,
    do_reset_password,
    do_set_user_teams,
    refusal_status,
)
from handoff.audit import AuditAction, AuditEntry, audit_request, list_audit
from handoff.auth import CurrentUser, DbSession, csrf_protected, require_roles
from insights.export import to_csv

router = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[Depends(require_roles(Role.ADMIN))])


class TeamOut(BaseModel):
    id: str
    name: str
    timezone: str
    hours: dict | None
    holidays: list[str]
    sla_seconds: int
    sla_target: float
    assignment: str
    claim_answer_seconds: int | None = None
    archived: bool = False
    moved_to: str | None = None
    members: list[int] = []

    @classmethod
    def of(cls, team: Team, members: dict[str, list[int]]) -> TeamOut:
        out = cls.model_validate(team, from_attributes=True)
        out.archived, out.members = team.archived_at is not None, sorted(members.get(team.id, []))
        return out


class TeamIn(BaseModel):
    name: str | None = Field(None, max_length=120)
    timezone: str | None = Field(None, max_length=60)
    hours: dict[str, list[str]] | None = Field(None, description='{"mon": ["08:00", "20:00"], ...}; a missing day is closed')
    always_open: bool = False
    holidays: list[str] | None = None
    sla_seconds: DbInt | None = None
    sla_target: float | None = None
    assignment: str | None = Field(None, pattern="^(pick|auto)$")
    claim_answer_seconds: DbInt | None = Field(
        None, description="a claimed chat unanswered this long goes back to the queue; 0: never; omitted: unchanged"
    )
    members: list[DbInt] | None = Field(None, description="the members' user ids (all of them); omitted: unchanged")


class NewTeamIn(BaseModel):
    id: str = Field(max_length=40, description="lower-case letters, digits, - and _; never changes")
    name: str = Field(max_length=120)
    timezone: str = Field("America/Sao_Paulo", max_length=60)
    hours: dict[str, list[str]] | None = Field(None, description="as in TeamIn; null: always open")
    holidays: list[str] = []
    sla_seconds: DbInt = 60
    sla_target: float = 0.8
    assignment: str = Field("pick", pattern="^(pick|auto)$")
    claim_answer_seconds: DbInt | None = Field(None, description="as in TeamIn; null or 0: never")
    members: list[DbInt] = []


class ArchiveIn(BaseModel):
    move_to: str = Field(max_length=40, description="the active team that takes the queued chats (and future ones)")


class ArchiveOut(BaseModel):
    team: TeamOut
    moved: list[str] = Field(description="the conversations moved to the other team's queue")


def _refused(exc: Exception) -> HTTPException:
    return HTTPException(refusal_status(exc), str(exc))


async def _team_out(request: Request, team_id: str) -> TeamOut:
    async with app_state(request).read_sessions() as session:
        return TeamOut.of(await handoff.get_team(session, team_id), await handoff.team_members(session))


@router.get("/teams", response_model=list[TeamOut])
async def teams(session: DbSession) -> list[TeamOut]:
    """Every team and its settings, archived ones too."""
    members = await handoff.team_members(session)
    return [TeamOut.of(t, members) for t in await handoff.list_teams(session, archived=True)]


@router.post("/teams", response_model=TeamOut, status_code=201, dependencies=[Depends(csrf_protected)])
async def create_team(body: NewTeamIn, request: Request, user: CurrentUser) -> TeamOut:
    """Create a team; a taken id is a 409, invalid hours or an unknown time zone a 422."""
    try:
        await do_create_team(request, user, body.id, **body.model_dump(exclude={"id"}))
    except REFUSALS as exc:
        raise _refused(exc) from exc
    return await _team_out(request, body.id)


@router.put("/teams/{team_id}", response_model=TeamOut, dependencies=[Depends(csrf_protected)])
async def update_team(team_id: str, body: TeamIn, request: Request, user: CurrentUser) -> TeamOut:
    """Change a team (its name too); invalid hours or an unknown time zone are refused with the reason."""
    try:
        await do_change_team(request, user, team_id, **body.model_dump(exclude_unset=True))
    except REFUSALS as exc:
        raise _refused(exc) from exc
    return await _team_out(request, team_id)


@router.post("/teams/{team_id}/archive", response_model=ArchiveOut, dependencies=[Depends(csrf_protected)])
async def archive_team(team_id: str, body: ArchiveIn, request: Request, user: CurrentUser) -> ArchiveOut:
    """Archive a team: its queued chats, and chats handed to it from now on, go to ``move_to``."""
    try:
        moved = await do_archive_team(request, user, team_id, move_to=body.move_to)
    except REFUSALS as exc:
        raise _refused(exc) from exc
    return ArchiveOut(team=await _team_out(request, team_id), moved=moved)


@router.delete("/teams/{team_id}", status_code=204, dependencies=[Depends(csrf_protected)])
async def delete_team(team_id: str, request: Request, user: CurrentUser) -> Response:
    """Remove a team made by mistake; 409 (naming them) while articles or conversations use it: archive it instead."""
    try:
        await do_delete_team(request, user, team_id)
    except REFUSALS as exc:
        raise _refused(exc) from exc
    return Response(status_code=204)


# -- the audit log ------------------------------------------------------------------------------

MAX_PAGE = 500
AUDIT_COLUMNS = [
    "at",
    "at_local",
    "actor_id",
    "actor",
    "actor_name",
    "action",
    "target_type",
    "target_id",
    "details",
    "client_ip",
    "user_agent",
]


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor_id: int | None
    actor: str
    actor_name: str | None
    action: str
    target_type: str | None
    target_id: str | None
    details: dict | None
    client_ip: str | None
    user_agent: str | None

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        out = cls.model_validate(entry, from_attributes=True)
        out.at = aware(entry.at)  # SQLite gives naive times back; every stored time is UTC
        return out


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next_offset: int | None = Field(description="the offset of the next (older) page; null on the last page")


class AuditQuery(BaseModel):
    """The audit log's filters: local days of the desk's time zone (both included), who, what."""

    start: date | None = None
    end: date | None = None
    actor: str | None = None
    action: AuditAction | None = None

    def bounds(self, timezone: str) -> tuple[datetime | None, datetime | None]:
        """The period as instants: from the first day's local midnight to the one after the last day
        (every timestamp column compares them in UTC, ``core.models.UTCDateTime``)."""
        if self.start and self.end and self.end < self.start:
            raise HTTPException(422, "`to` is before `from`")
        zone = ZoneInfo(timezone)
        start = datetime.combine(self.start, time(), zone) if self.start else None
        try:
            end = datetime.combine(self.end + timedelta(days=1), time(), zone) if self.end else None
        except OverflowError as exc:  # 9999-12-31 has no next day
            raise HTTPException(422, "`to` is past the last day a calendar has") from exc
        return start, end

    def as_details(self) -> dict:
        """The filters, as an export's audit entry records them."""
        return {k: str(v.value if isinstance(v, AuditAction) else v) for k, v in self.model_dump().items() if v}


def _audit_query(
    start: Annotated[date | None, Query(alias="from", description="first local day (BALCAO_REPORT_TIMEZONE)")] = None,
    end: Annotated[date | None, Query(alias="to", description="last local day, included")] = None,
    actor: Annotated[str | None, Query(max_length=254, description="an e-mail, `cli` or `anonymous`")] = None,
    action: Annotated[AuditAction | None, Query()] = None,
) -> AuditQuery:
    return AuditQuery(start=start, end=end, actor=actor or None, action=action)


AuditParams = Annotated[AuditQuery, Depends(_audit_query)]


async def _entries(request: Request, session: DbSession, params: AuditQuery, **page: int) -> list[AuditEntry]:
    start, end = params.bounds(app_state(request).settings.report_timezone)
    return list(await list_audit(session, start=start, end=end, actor=params.actor, action=params.action, **page))


@router.get("/audit", response_model=AuditPage)
async def audit(
    request: Request,
    session: DbSession,
    params: AuditParams,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
) -> AuditPage:
    """The audit log, newest first: logins, claims, transfers, closes, exports, articles published,
    users and teams changed, each with who, when, what and from where."""
    rows = await _entries(request, session, params, limit=limit + 1, offset=offset)
    return AuditPage(
        entries=[AuditEntryOut.of(e) for e in rows[:limit]], next_offset=offset + limit if len(rows) > limit else None
    )


@router.get("/audit.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def audit_csv(request: Request, session: DbSession, params: AuditParams, user: CurrentUser) -> Response:
    """The audit log as CSV (the same filters, every matching entry, newest first); text cells that
    a spreadsheet would run as a formula are neutralised. This export is itself audited."""
    zone = ZoneInfo(app_state(request).settings.report_timezone)
    rows = [
        (
            aware(e.at),
            aware(e.at).astimezone(zone),
            e.actor_id,
            e.actor,
            e.actor_name,
            e.action,
            e.target_type,
            e.target_id,
            json.dumps(e.details, ensure_ascii=False, sort_keys=True) if e.details else None,
            e.client_ip,
            e.user_agent,
        )
        for e in await _entries(request, session, params)
    ]
    body = to_csv((AUDIT_COLUMNS, rows))
    await audit_request(
        request, actor=user, action=AuditAction.EXPORT, target_type="audit", target_id="audit.csv", details=params.as_details()
    )
    return Response(
        body, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": 'attachment; filename="audit.csv"'}
    )


# -- staff accounts ---------------------------------------------------------------------------


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: str
    active: bool
    must_change_password: bool


class RoleIn(BaseModel):
    role: Role


class OneTimePasswordOut(BaseModel):
    user: UserOut
    password: str = Field(description="shown once: the user must change it at their next login")


class NewUserIn(BaseModel):
    email: str = Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str = Field(max_length=120, description="the name customers see")
    role: Role = Role.AGENT
    teams: list[str] = []


class TeamsIn(BaseModel):
    teams: list[str] = Field(description="every team the user is a member of")


class NameIn(BaseModel):
    name: str = Field(max_length=200)


@router.get("/users", response_model=list[UserOut])
async def users(session: DbSession) -> list[UserOut]:
    """Every staff account, active or not."""
    return [UserOut.model_validate(u, from_attributes=True) for u in await handoff.list_users(session)]


@router.post("/users", response_model=OneTimePasswordOut, status_code=201, dependencies=[Depends(csrf_protected)])
async def add_user(body: NewUserIn, request: Request, admin: CurrentUser) -> OneTimePasswordOut:
    """Add a staff account with a one-time password (returned once; changed at the first login)."""
    try:
        user, password = await do_add_user(request, admin, NewUser(body.email, body.name, body.role, body.teams))
    except REFUSALS as exc:
        raise _refused(exc) from exc
    return OneTimePasswordOut(user=UserOut.model_validate(user, from_attributes=True), password=password)


@router.post("/users/{user_id}/password-reset", response_model=OneTimePasswordOut, dependencies=[Depends(csrf_protected)])
async def reset_password(user_id: DbInt, request: Request, admin: CurrentUser) -> OneTimePasswordOut:
    """Give the user a new one-time password (returned once) and end all their sessions; they
    must choose their own at the next login."""
    try:
        user, password = await do_reset_password(request, admin, user_id)
    except REFUSALS as exc:
        raise _refused(exc) from exc
    return OneTimePasswordOut(user=UserOut.model_validate(user, from_attributes=True), password=password)


@router.post("/users/{user_id}/deactivate", response_model=UserOut, dependencies=[Depends(csrf_protected)])
async def deactivate(user_id: DbInt, request: Request, admin: CurrentUser) -> UserOut:
    """The user can no longer log in; every session of theirs ends at once and the chats they held
    go back to their teams' queues (409 for the last admin)."""
    try:
        user, _ = await do_deactivate_user(request, admin, user_id)
    except REFUSALS as exc:
        raise _refused(exc) from exc
    return UserOut.model_validate(user, from_attributes=True)


@router.put("/users/{user_id}/role", response_model=UserOut, dependencies=[Depends(csrf_protected)])
async def change_role(user_id: DbInt, body: RoleIn, request: Request, admin: CurrentUser) -> UserOut:
    """Give the user another role; their sessions end, so they log in again with it (409 for the
    last admin's own role)."""
    try:
        user = await do_change_role(request, admin, user_id, body.role)
    except REFUSALS as exc:
        raise _refused(exc) from exc
    return UserOut.model_validate(user, from_attributes=True)


@router.put("/users/{user_id}/teams", response_model=list[str], dependencies=[Depends(csrf_protected)])
async def set_teams(user_id: DbInt, body: TeamsIn, request: Request, admin: CurrentUser) -> list[str]:
    """Make the user a member of exactly these (active) teams."""
    try:
        return (await do_set_user_teams(request, admin, user_id, body.teams))[1]
    except REFUSALS as exc:
        raise _refused(exc) from exc


@router.put("/users/{user_id}/name", response_model=UserOut, dependencies=[Depends(csrf_protected)])
async def rename_user(user_id: DbInt, body: NameIn, request: Request, admin: CurrentUser) -> UserOut:
    """Change the user's display name (the name customers see)."""
    try:
        user = await do_rename_user(request, admin, user_id, body.name)
    except REFUSALS as exc:
        raise _refused(exc) from exc
    return UserOut.model_validate(user, from_attributes=True)


pages = APIRouter()
"""The admin pages (teams, people, the company's words) and every user's account page."""
pages.include_router(admin_pages.pages)
pages.include_router(people_pages.pages)
pages.include_router(words_pages.pages)
pages.include_router(canned_pages.pages)
pages.include_router(invitation_pages.pages)
