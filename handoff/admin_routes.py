"""Admins edit teams: business hours, holidays, service level and how chats are assigned."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

import handoff
from core.web import DbInt, app_state
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
    sla_seconds: DbInt | None = None
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
