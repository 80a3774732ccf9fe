"""Admins edit teams (business hours, holidays, service level and how chats are assigned) and staff
accounts (password resets, deactivation, roles)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

import handoff
from core.web import app_state
from handoff import Role
from handoff.auth import DbSession, csrf_protected, require_roles

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
    sla_seconds: int | None = None
    sla_target: float | None = None
    assignment: str | None = Field(None, pattern="^(pick|auto)$")


@router.get("/teams", response_model=list[TeamOut])
async def teams(session: DbSession) -> list[TeamOut]:
    """Every team and its settings."""
    return [TeamOut.model_validate(t, from_attributes=True) for t in await handoff.list_teams(session)]


@router.put("/teams/{team_id}", response_model=TeamOut, dependencies=[Depends(csrf_protected)])
async def update_team(team_id: str, body: TeamIn, request: Request) -> TeamOut:
    """Change a team; invalid hours or an unknown time zone are refused with the reason."""
    async with app_state(request).desk.unit_of_work() as session:
        try:
            team = await handoff.update_team(session, team_id, **body.model_dump(exclude_unset=True))
        except handoff.UnknownTeam as exc:
            raise HTTPException(404, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        return TeamOut.model_validate(team, from_attributes=True)


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


def _user_refusal(exc: Exception) -> HTTPException:
    if isinstance(exc, handoff.UnknownUser):
        return HTTPException(404, str(exc))
    return HTTPException(409, str(exc))  # LastAdmin


@router.get("/users", response_model=list[UserOut])
async def users(session: DbSession) -> list[UserOut]:
    """Every staff account, active or not."""
    return [UserOut.model_validate(u, from_attributes=True) for u in await handoff.list_users(session)]


@router.post("/users/{user_id}/password-reset", response_model=OneTimePasswordOut, dependencies=[Depends(csrf_protected)])
async def reset_password(user_id: int, request: Request) -> OneTimePasswordOut:
    """Give the user a new one-time password (returned once) and end all their sessions; they
    must choose their own at the next login."""
    password = handoff.new_one_time_password()
    new_hash = await handoff.hash_password(password)  # off the event loop, before the transaction
    async with app_state(request).desk.unit_of_work() as session:
        try:
            user = await handoff.reset_password(session, user_id, new_hash)
        except handoff.UnknownUser as exc:
            raise _user_refusal(exc) from exc
        return OneTimePasswordOut(user=UserOut.model_validate(user, from_attributes=True), password=password)


@router.post("/users/{user_id}/deactivate", response_model=UserOut, dependencies=[Depends(csrf_protected)])
async def deactivate(user_id: int, request: Request) -> UserOut:
    """The user can no longer log in; every session of theirs ends at once (409 for the last admin)."""
    async with app_state(request).desk.unit_of_work() as session:
        try:
            user = await handoff.deactivate_user(session, user_id)
        except (handoff.UnknownUser, handoff.LastAdmin) as exc:
            raise _user_refusal(exc) from exc
        return UserOut.model_validate(user, from_attributes=True)


@router.put("/users/{user_id}/role", response_model=UserOut, dependencies=[Depends(csrf_protected)])
async def change_role(user_id: int, body: RoleIn, request: Request) -> UserOut:
    """Give the user another role; their sessions end, so they log in again with it (409 for the
    last admin's own role)."""
    async with app_state(request).desk.unit_of_work() as session:
        try:
            user = await handoff.set_user_role(session, user_id, body.role)
        except (handoff.UnknownUser, handoff.LastAdmin) as exc:
            raise _user_refusal(exc) from exc
        return UserOut.model_validate(user, from_attributes=True)
