"""Teams: business hours, holidays, service-level target and assignment mode (editable by an admin)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff.hours import check_hours
from handoff.models import Team


class UnknownTeam(LookupError):
    def __init__(self, team_id: str) -> None:
        super().__init__(f"there is no team {team_id!r}")


async def list_teams(session: AsyncSession) -> Sequence[Team]:
    return (await session.execute(select(Team).order_by(Team.id))).scalars().all()


async def team_ids(session: AsyncSession) -> list[str]:
    """The ids of the desk's teams, in order (what an article's or a chat's team must be one of)."""
    return list((await session.execute(select(Team.id).order_by(Team.id))).scalars())


async def get_team(session: AsyncSession, team_id: str) -> Team:
    team = await session.get(Team, team_id)
    if team is None:
        raise UnknownTeam(team_id)
    return team


async def update_team(
    session: AsyncSession,
    team_id: str,
    *,
    name: str | None = None,
    timezone: str | None = None,
    hours: dict | None = None,
    always_open: bool = False,
    holidays: list[str] | None = None,
    sla_seconds: int | None = None,
    sla_target: float | None = None,
    assignment: str | None = None,
) -> Team:
    """Change a team's settings; ``always_open=True`` removes its hours (answers 24/7)."""
    team = await get_team(session, team_id)
    new_hours = None if always_open else (hours if hours is not None else team.hours)
    new_holidays = holidays if holidays is not None else list(team.holidays or [])
    new_timezone = timezone or team.timezone
    check_hours(new_hours, new_holidays, new_timezone)
    if assignment is not None and assignment not in ("pick", "auto"):
        raise ValueError("assignment is 'pick' (agents take chats) or 'auto' (the desk assigns them)")
    if sla_target is not None and not 0 < sla_target <= 1:
        raise ValueError("the service-level target is a share between 0 and 1, e.g. 0.8")
    if sla_seconds is not None and sla_seconds <= 0:
        raise ValueError("the service-level time must be positive seconds")
    team.name = name or team.name
    team.timezone, team.hours, team.holidays = new_timezone, new_hours, new_holidays
    team.sla_seconds = sla_seconds or team.sla_seconds
    team.sla_target = sla_target or team.sla_target
    team.assignment = assignment or team.assignment
    await session.flush()
    return team
