"""Admins edit teams (business hours, holidays, service level and how chats are assigned) and staff
accounts (password resets, deactivation, roles), and read the audit log: who did what, when and from
where (``/api/admin/audit``, ``audit.csv``)."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

import handoff
from core.models import aware
from core.web import DB_INT_MAX, DbInt, app_state
from handoff import Role, User
from handoff.audit import AuditAction, AuditClient, AuditEntry, audit_request, list_audit, record_audit
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


class TeamIn(BaseModel):
    name: str | None = Field(None, max_length=120)
    timezone: str | None = Field(None, max_length=60)
    hours: dict[str, list[str]] | None = Field(None, description='{"mon": ["08:00", "20:00"], ...}; a missing day is closed')
    always_open: bool = False
    holidays: list[str] | None = None
    sla_seconds: DbInt | None = None
    sla_target: float | None = None
    assignment: str | None = Field(None, pattern="^(pick|auto)$")


@router.get("/teams", response_model=list[TeamOut])
async def teams(session: DbSession) -> list[TeamOut]:
    """Every team and its settings."""
    return [TeamOut.model_validate(t, from_attributes=True) for t in await handoff.list_teams(session)]


@router.put("/teams/{team_id}", response_model=TeamOut, dependencies=[Depends(csrf_protected)])
async def update_team(team_id: str, body: TeamIn, request: Request, user: CurrentUser) -> TeamOut:
    """Change a team; invalid hours or an unknown time zone are refused with the reason."""
    async with app_state(request).desk.unit_of_work() as session:
        try:
            before = TeamOut.model_validate(await handoff.get_team(session, team_id), from_attributes=True).model_dump()
            team = await handoff.update_team(session, team_id, **body.model_dump(exclude_unset=True))
        except handoff.UnknownTeam as exc:
            raise HTTPException(404, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        after = TeamOut.model_validate(team, from_attributes=True)
        changed = {key: [old, new] for key, new in after.model_dump().items() if (old := before[key]) != new}
        await record_audit(
            session,
            actor=user,
            action=AuditAction.TEAM_CHANGE,
            target_type="team",
            target_id=team_id,
            details={"changed": changed},
            client=AuditClient.of(request),
        )
        return after


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
        """The period as UTC instants: from the first day's local midnight to the one after the last day."""
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


async def _audit_user_change(session: AsyncSession, request: Request, admin: User, user_id: int, details: dict) -> None:
    """Record in the audit log what an admin changed of a staff account, in the change's transaction."""
    await record_audit(
        session,
        actor=admin,
        action=AuditAction.USER_CHANGE,
        target_type="user",
        target_id=user_id,
        details=details,
        client=AuditClient.of(request),
    )


def _user_refusal(exc: Exception) -> HTTPException:
    if isinstance(exc, handoff.UnknownUser):
        return HTTPException(404, str(exc))
    return HTTPException(409, str(exc))  # LastAdmin


@router.get("/users", response_model=list[UserOut])
async def users(session: DbSession) -> list[UserOut]:
    """Every staff account, active or not."""
    return [UserOut.model_validate(u, from_attributes=True) for u in await handoff.list_users(session)]


@router.post("/users/{user_id}/password-reset", response_model=OneTimePasswordOut, dependencies=[Depends(csrf_protected)])
async def reset_password(user_id: DbInt, request: Request, admin: CurrentUser) -> OneTimePasswordOut:
    """Give the user a new one-time password (returned once) and end all their sessions; they
    must choose their own at the next login."""
    password = handoff.new_one_time_password()
    new_hash = await handoff.hash_password(password)  # off the event loop, before the transaction
    async with app_state(request).desk.unit_of_work() as session:
        try:
            user = await handoff.reset_password(session, user_id, new_hash)
        except handoff.UnknownUser as exc:
            raise _user_refusal(exc) from exc
        await _audit_user_change(session, request, admin, user_id, {"password": "reset"})
        return OneTimePasswordOut(user=UserOut.model_validate(user, from_attributes=True), password=password)


@router.post("/users/{user_id}/deactivate", response_model=UserOut, dependencies=[Depends(csrf_protected)])
async def deactivate(user_id: DbInt, request: Request, admin: CurrentUser) -> UserOut:
    """The user can no longer log in; every session of theirs ends at once (409 for the last admin)."""
    async with app_state(request).desk.unit_of_work() as session:
        try:
            user = await handoff.deactivate_user(session, user_id)
        except (handoff.UnknownUser, handoff.LastAdmin) as exc:
            raise _user_refusal(exc) from exc
        await _audit_user_change(session, request, admin, user_id, {"active": False})
        return UserOut.model_validate(user, from_attributes=True)


@router.put("/users/{user_id}/role", response_model=UserOut, dependencies=[Depends(csrf_protected)])
async def change_role(user_id: DbInt, body: RoleIn, request: Request, admin: CurrentUser) -> UserOut:
    """Give the user another role; their sessions end, so they log in again with it (409 for the
    last admin's own role)."""
    async with app_state(request).desk.unit_of_work() as session:
        try:
            user = await handoff.set_user_role(session, user_id, body.role)
        except (handoff.UnknownUser, handoff.LastAdmin) as exc:
            raise _user_refusal(exc) from exc
        await _audit_user_change(session, request, admin, user_id, {"role": body.role.value})
        return UserOut.model_validate(user, from_attributes=True)
