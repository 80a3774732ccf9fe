"""Teams are data: admins create them, change their business hours, holidays, service-level target,
assignment mode and members, and archive them. An archived team stays in the database (the history,
the KPIs and the audit log name it) but is no longer offered anywhere; chats for it go to the team
its queue was moved to (``handoff.finders.routing_team``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff.conversations import move_queued
from handoff.errors import Refusal
from handoff.hours import check_hours
from handoff.models import CannedResponse, Conversation, Team, TeamMember, User, utcnow

TEAM_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
"""A team's id: what articles, URLs and exports name it by (lower-case letters, digits, - and _)."""


class UnknownTeam(LookupError):
    def __init__(self, team_id: str) -> None:
        super().__init__(f"there is no team {team_id!r}")
        self.key, self.params = "unknown_team", {"team": team_id}


class TeamRefused(Refusal):
    """A team change refused (a duplicate id, an archived team, one still in use...); nothing changed."""


async def list_teams(session: AsyncSession, *, archived: bool = False) -> Sequence[Team]:
    """The desk's active teams by id; with ``archived=True`` the archived ones too."""
    query = select(Team).order_by(Team.id)
    if not archived:
        query = query.where(Team.archived_at.is_(None))
    return (await session.execute(query)).scalars().all()


async def team_ids(session: AsyncSession) -> list[str]:
    """The ids of the desk's active teams, in order (what an article's or a chat's team must be one of)."""
    return [t.id for t in await list_teams(session)]


async def get_team(session: AsyncSession, team_id: str) -> Team:
    """The team (active or archived), or ``UnknownTeam``."""
    team = await session.get(Team, team_id)
    if team is None:
        raise UnknownTeam(team_id)
    return team


def _check_settings(
    sla_seconds: int | None, sla_target: float | None, assignment: str | None, claim_answer_seconds: int | None = None
) -> None:
    if assignment is not None and assignment not in ("pick", "auto"):
        raise TeamRefused("assignment is 'pick' (agents take chats) or 'auto' (the desk assigns them)", key="bad_assignment")
    if sla_target is not None and not 0 < sla_target <= 1:
        raise TeamRefused("the service-level target is a share between 0 and 1, e.g. 0.8", key="bad_sla_target")
    if sla_seconds is not None and sla_seconds <= 0:
        raise TeamRefused("the service-level time must be positive seconds", key="bad_sla_seconds")
    if claim_answer_seconds is not None and claim_answer_seconds < 0:
        raise TeamRefused("the time to answer a claimed chat is seconds, or 0 for never", key="bad_claim_answer_seconds")


async def create_team(
    session: AsyncSession,
    team_id: str,
    *,
    name: str,
    timezone: str = "America/Sao_Paulo",
    hours: dict | None = None,
    holidays: Sequence[str] = (),
    sla_seconds: int = 60,
    sla_target: float = 0.8,
    assignment: str = "pick",
    claim_answer_seconds: int | None = None,
) -> Team:
    """A new team (``hours=None``: always open; ``claim_answer_seconds`` None or 0: a claimed chat
    never goes back to the queue unanswered). Refused with ``TeamRefused`` for a malformed or
    taken id (an archived team keeps its id) and ``InvalidHours`` for hours that cannot be understood."""
    if not TEAM_ID.fullmatch(team_id):
        raise TeamRefused(
            f"{team_id!r} cannot be a team id: use lower-case letters, digits, - and _ (up to 40)",
            key="bad_team_id",
            team=team_id,
        )
    if not name.strip():
        raise TeamRefused("give the team a name", key="no_name")
    if await session.get(Team, team_id) is not None:
        raise TeamRefused(
            f"a team with the id {team_id!r} exists already (archived teams keep theirs)", key="team_exists", team=team_id
        )
    check_hours(hours, list(holidays), timezone)
    _check_settings(sla_seconds, sla_target, assignment, claim_answer_seconds)
    team = Team(id=team_id, name=name.strip(), timezone=timezone, hours=hours, holidays=list(holidays))
    team.sla_seconds, team.sla_target, team.assignment = sla_seconds, sla_target, assignment
    team.claim_answer_seconds = claim_answer_seconds or None
    session.add(team)
    await session.flush()
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
    claim_answer_seconds: int | None = None,
) -> Team:
    """Change a team's settings; ``always_open=True`` removes its hours (answers 24/7);
    ``claim_answer_seconds=0`` turns the return of unanswered claims off (None: unchanged).
    Everything is checked before anything changes (``InvalidHours``, ``TeamRefused``)."""
    team = await get_team(session, team_id)
    new_hours = None if always_open else (hours if hours is not None else team.hours)
    new_holidays = holidays if holidays is not None else list(team.holidays or [])
    new_timezone = timezone or team.timezone
    check_hours(new_hours, new_holidays, new_timezone)
    if name is not None and not name.strip():
        raise TeamRefused("give the team a name", key="no_name")
    _check_settings(sla_seconds, sla_target, assignment, claim_answer_seconds)
    team.name = (name or team.name).strip()
    team.timezone, team.hours, team.holidays = new_timezone, new_hours, new_holidays
    team.sla_seconds = sla_seconds or team.sla_seconds
    team.sla_target = sla_target or team.sla_target
    team.assignment = assignment or team.assignment
    if claim_answer_seconds is not None:
        team.claim_answer_seconds = claim_answer_seconds or None
    await session.flush()
    return team


async def team_members(session: AsyncSession) -> dict[str, list[int]]:
    """Each team's members' user ids."""
    members: dict[str, list[int]] = {}
    for team_id, user_id in await session.execute(select(TeamMember.team_id, TeamMember.user_id)):
        members.setdefault(team_id, []).append(user_id)
    return members


async def set_team_members(session: AsyncSession, team_id: str, user_ids: Sequence[int]) -> list[int]:
    """Make exactly these users the team's members; returns them. Unknown user ids are refused."""
    await get_team(session, team_id)
    wanted = set(user_ids)
    known = set((await session.execute(select(User.id).where(User.id.in_(wanted)))).scalars()) if wanted else set()
    if wanted - known:
        missing = ", ".join(str(i) for i in sorted(wanted - known))
        raise TeamRefused(f"there is no user {missing}", key="unknown_user", user=missing)
    await session.execute(delete(TeamMember).where(TeamMember.team_id == team_id))
    session.add_all(TeamMember(user_id=u, team_id=team_id) for u in sorted(wanted))
    await session.flush()
    return sorted(wanted)


async def set_user_teams(session: AsyncSession, user_id: int, teams: Sequence[str]) -> list[str]:
    """Make the user a member of exactly these (active) teams; returns them."""
    wanted = set(teams)
    unknown = wanted - set(await team_ids(session))
    if unknown:
        raise TeamRefused(f"unknown team(s): {', '.join(sorted(unknown))}", key="unknown_team", team=", ".join(sorted(unknown)))
    await session.execute(delete(TeamMember).where(TeamMember.user_id == user_id))
    session.add_all(TeamMember(user_id=user_id, team_id=t) for t in sorted(wanted))
    await session.flush()
    return sorted(wanted)


async def archive_team(session: AsyncSession, team_id: str, *, move_to: str, by: User) -> tuple[Team, list[str]]:
    """Archive the team: its queued chats move to ``move_to`` (an active team), keeping their wait,
    and chats escalated to it from now on go there too. Returns the team and the ids of the chats
    moved. Refused (``TeamRefused``) when it is archived already or ``move_to`` cannot take them."""
    team = await get_team(session, team_id)
    if team.archived_at is not None:
        raise TeamRefused(f"the team {team_id!r} is archived already", key="archived_already", team=team_id)
    target = await session.get(Team, move_to) if move_to else None
    if target is None or target.archived_at is not None or target.id == team_id:
        raise TeamRefused("choose another active team to take this team's queued chats", key="choose_target", team=move_to or "—")
    moved = await move_queued(session, team_id, move_to, by=by)
    team.archived_at, team.moved_to = utcnow(), move_to
    # Teams archived earlier into this one now send their chats straight on.
    for earlier in (await session.execute(select(Team).where(Team.moved_to == team_id))).scalars():
        earlier.moved_to = move_to
    await session.flush()
    return team, moved


async def delete_team(session: AsyncSession, team_id: str, *, articles: Sequence[str] = ()) -> None:
    """Remove a team made by mistake. Refused (``TeamRefused``) while anything names it: the
    ``articles`` (ids) that hand customers to it, conversations (its history) or canned replies —
    archive it instead."""
    await get_team(session, team_id)
    if articles:
        names = ", ".join(articles[:10]) + (" …" if len(articles) > 10 else "")
        raise TeamRefused(
            f"articles still hand customers to this team ({names}): archive it instead, or move them to another team first",
            key="used_by_articles",
            articles=names,
        )
    chats = select(func.count()).select_from(Conversation).where(Conversation.team_id == team_id)
    canned = select(func.count()).select_from(CannedResponse).where(CannedResponse.team_id == team_id)
    if (await session.execute(chats)).scalar_one() or (await session.execute(canned)).scalar_one():
        raise TeamRefused("this team has conversations or canned replies: archive it instead", key="used_by_history")
    await session.execute(delete(TeamMember).where(TeamMember.team_id == team_id))
    await session.execute(delete(Team).where(Team.id == team_id))
    await session.flush()
