"""What an admin does to teams and staff accounts, each as one function shared by the JSON API
(``handoff.admin_routes``) and the admin pages (``handoff.admin_pages``): one unit of work in which
the change is made by its named function in ``handoff`` and recorded in the audit log, so the entry
is stored if and only if the change is. Refusals are raised before anything is written (the unit of
work rolls back): ``Refusal`` subclasses, ``UnknownTeam``, ``UnknownUser``, ``LastAdmin``..."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

import handoff
from core.web import app_state
from handoff.audit import AuditAction, AuditClient, record_audit
from handoff.canned import add_canned_response, delete_canned_response, update_canned_response
from handoff.conversations import requeue_agent_chats
from handoff.invitations import new_invitation
from handoff.models import Role, Team, User
from handoff.teams import archive_team, create_team, delete_team, set_team_members, set_user_teams
from handoff.users import PasswordHash, reactivate_user, set_display_name

TEAM_FIELDS = ("name", "timezone", "hours", "holidays", "sla_seconds", "sla_target", "assignment", "claim_answer_seconds")


async def _audit(
    session: AsyncSession, request: Request, admin: User, action: AuditAction, target: Team | User, details: dict
) -> None:
    kind = "team" if isinstance(target, Team) else "user"
    await record_audit(
        session,
        actor=admin,
        action=action,
        target_type=kind,
        target_id=target.id,
        details=details,
        client=AuditClient.of(request),
    )


def team_settings(team: Team) -> dict:
    """A team's settings as the audit log records them (before and after a change)."""
    return {field: getattr(team, field) for field in TEAM_FIELDS}


async def do_create_team(request: Request, admin: User, team_id: str, *, members: Sequence[int] = (), **settings: Any) -> Team:
    """Create a team with its settings (``handoff.create_team``'s keywords) and members."""
    async with app_state(request).desk.unit_of_work() as session:
        team = await create_team(session, team_id, **settings)
        added = await set_team_members(session, team_id, members)
        await _audit(session, request, admin, AuditAction.TEAM_ADD, team, {**team_settings(team), "members": added})
        return team


async def do_change_team(
    request: Request, admin: User, team_id: str, *, members: Sequence[int] | None = None, **changes: Any
) -> Team:
    """Change a team's settings (``handoff.update_team``'s keywords) and, when given, its members;
    the audit entry records each setting that changed, old and new."""
    async with app_state(request).desk.unit_of_work() as session:
        before = team_settings(await handoff.get_team(session, team_id))
        old_members = sorted((await handoff.team_members(session)).get(team_id, []))
        team = await handoff.update_team(session, team_id, **changes)
        changed = {key: [old, new] for key, new in team_settings(team).items() if (old := before[key]) != new}
        if members is not None:
            new_members = await set_team_members(session, team_id, members)
            if new_members != old_members:
                changed["members"] = [old_members, new_members]
        await _audit(session, request, admin, AuditAction.TEAM_CHANGE, team, {"changed": changed})
        return team


async def do_archive_team(request: Request, admin: User, team_id: str, *, move_to: str) -> list[str]:
    """Archive a team, moving its queued chats to ``move_to``; returns the chats moved."""
    async with app_state(request).desk.unit_of_work() as session:
        team, moved = await archive_team(session, team_id, move_to=move_to, by=admin)
        await _audit(session, request, admin, AuditAction.TEAM_ARCHIVE, team, {"moved_to": move_to, "chats_moved": len(moved)})
        return moved


async def do_delete_team(request: Request, admin: User, team_id: str) -> None:
    """Remove a team nothing names yet (refused while articles or conversations do)."""
    state = app_state(request)
    async with state.desk.unit_of_work() as session:
        team = await handoff.get_team(session, team_id)
        details = team_settings(team)
        await delete_team(session, team_id, articles=await state.team_articles(session, team_id))
        await record_audit(
            session,
            actor=admin,
            action=AuditAction.TEAM_DELETE,
            target_type="team",
            target_id=team_id,
            details=details,
            client=AuditClient.of(request),
        )


@dataclass(frozen=True)
class NewUser:
    """A staff account an admin is adding, and its one-time password (shown once)."""

    email: str
    name: str
    role: Role
    teams: Sequence[str]


async def do_add_user(request: Request, admin: User, new: NewUser) -> tuple[User, str]:
    """Add a staff account with a one-time password (they choose their own at the first login);
    returns the user and the password, which is shown once and stored only hashed."""
    password = handoff.new_one_time_password()
    async with app_state(request).desk.unit_of_work() as session:
        user = await handoff.add_user(
            session, email=new.email, name=new.name, password=password, role=new.role, teams=new.teams, one_time=True
        )
        details = {"email": user.email, "name": user.name, "role": user.role, "teams": list(new.teams)}
        await _audit(session, request, admin, AuditAction.USER_ADD, user, details)
        return user, password


async def do_add_invited_user(request: Request, admin: User, new: NewUser) -> tuple[User, str]:
    """Add a staff account that gets in through an invitation link instead of a one-time password
    (theirs is random and never shown); returns the user and the link's token, shown once."""
    unknown = handoff.new_one_time_password()  # nobody ever sees it: only the link opens the account
    hours = app_state(request).settings.invitation_hours
    async with app_state(request).desk.unit_of_work() as session:
        user = await handoff.add_user(
            session, email=new.email, name=new.name, password=unknown, role=new.role, teams=new.teams, one_time=True
        )
        token = await new_invitation(session, user.id, hours=hours)
        details = {"email": user.email, "name": user.name, "role": user.role, "teams": list(new.teams), "invitation_hours": hours}
        await _audit(session, request, admin, AuditAction.USER_ADD, user, details)
        return user, token


async def do_invite_user(request: Request, admin: User, user_id: int) -> tuple[User, str]:
    """A new invitation link for the person (their older links stop working); returns the user and
    the token, shown once. Their password and sessions stay until they use it."""
    hours = app_state(request).settings.invitation_hours
    async with app_state(request).desk.unit_of_work() as session:
        token = await new_invitation(session, user_id, hours=hours)
        user = await session.get(User, user_id)
        if user is None:  # never: new_invitation refused an unknown user (this narrows the type)
            raise handoff.UnknownUser(user_id)
        await _audit(session, request, admin, AuditAction.USER_INVITE, user, {"invitation_hours": hours})
        return user, token


async def do_reactivate_user(request: Request, admin: User, user_id: int) -> User:
    """Let a deactivated person log in again (with their old password, or a new link or one-time one)."""
    async with app_state(request).desk.unit_of_work() as session:
        user = await reactivate_user(session, user_id)
        await _audit(session, request, admin, AuditAction.USER_CHANGE, user, {"active": True})
        return user


async def do_reset_password(request: Request, admin: User, user_id: int) -> tuple[User, str]:
    """A new one-time password for the user (returned, to be shown once); their sessions end."""
    password = handoff.new_one_time_password()
    new_hash: PasswordHash = await handoff.hash_password(password)  # off the event loop, before the transaction
    async with app_state(request).desk.unit_of_work() as session:
        user = await handoff.reset_password(session, user_id, new_hash)
        await _audit(session, request, admin, AuditAction.USER_CHANGE, user, {"password": "reset"})
        return user, password


async def do_deactivate_user(request: Request, admin: User, user_id: int) -> tuple[User, list[str]]:
    """The user can no longer log in, their sessions end and the chats they held go back to their
    teams' queues (returned); refused for the last active admin."""
    async with app_state(request).desk.unit_of_work() as session:
        user = await handoff.deactivate_user(session, user_id)
        requeued = await requeue_agent_chats(session, user_id, by=admin)
        await _audit(session, request, admin, AuditAction.USER_CHANGE, user, {"active": False, "chats_requeued": len(requeued)})
        return user, requeued


async def do_change_role(request: Request, admin: User, user_id: int, role: Role) -> User:
    """Give the user another role (their sessions end); refused for the last active admin."""
    async with app_state(request).desk.unit_of_work() as session:
        user = await handoff.set_user_role(session, user_id, role)
        await _audit(session, request, admin, AuditAction.USER_CHANGE, user, {"role": role.value})
        return user


async def do_set_user_teams(request: Request, admin: User, user_id: int, teams: Sequence[str]) -> tuple[User, list[str]]:
    """Make the user a member of exactly these teams; returns the user and their teams."""
    async with app_state(request).desk.unit_of_work() as session:
        user = await session.get(User, user_id)
        if user is None:
            raise handoff.UnknownUser(user_id)
        chosen = await set_user_teams(session, user_id, teams)
        await _audit(session, request, admin, AuditAction.USER_CHANGE, user, {"teams": chosen})
        return user, chosen


async def do_rename_user(request: Request, actor: User, user_id: int, name: str) -> User:
    """Change the user's display name (the name customers see): their own, or an admin's change."""
    async with app_state(request).desk.unit_of_work() as session:
        user = await set_display_name(session, user_id, name)
        await _audit(session, request, actor, AuditAction.USER_CHANGE, user, {"name": user.name})
        return user


async def do_change_words(request: Request, admin: User, changes: dict[str, object]) -> dict[str, list[Any]]:
    """Change the company's words (``handoff.set_words``: all checked first, a refusal changes
    nothing); the audit entry records each that changed, old and new. Once committed, every
    replica's desk forgets its copy (``WordsChanged``): the next widget page and bot turn use them."""
    async with app_state(request).desk.unit_of_work() as session:
        changed = await handoff.set_words(session, changes)
        if changed:
            await record_audit(
                session,
                actor=admin,
                action=AuditAction.WORDS_CHANGE,
                target_type="settings",
                target_id="words",
                details=changed,
                client=AuditClient.of(request),
            )
    return changed


def _canned_details(canned: handoff.CannedResponse) -> dict:
    return {"shortcut": canned.shortcut, "lang": canned.lang, "team": canned.team_id, "text": canned.text}


async def _audit_canned(
    session: AsyncSession, request: Request, actor: User, action: AuditAction, canned_id: int, details: dict
) -> None:
    await record_audit(
        session,
        actor=actor,
        action=action,
        target_type="canned_response",
        target_id=canned_id,
        details=details,
        client=AuditClient.of(request),
    )


async def do_add_canned(request: Request, actor: User, *, shortcut: str, lang: str, text: str, team_id: str | None) -> str:
    """Add a canned response (``handoff.canned.add_canned_response``), audited; returns its shortcut."""
    async with app_state(request).desk.unit_of_work() as session:
        canned = await add_canned_response(session, shortcut=shortcut, lang=lang, text=text, team_id=team_id)
        await _audit_canned(session, request, actor, AuditAction.CANNED_ADD, canned.id, _canned_details(canned))
        return canned.shortcut


async def do_change_canned(
    request: Request, actor: User, canned_id: int, *, shortcut: str, lang: str, text: str, team_id: str | None
) -> str:
    """Change a canned response; the audit entry records what changed, old and new. Returns its shortcut."""
    async with app_state(request).desk.unit_of_work() as session:
        canned, changed = await update_canned_response(
            session, canned_id, shortcut=shortcut, lang=lang, text=text, team_id=team_id
        )
        if changed:
            await _audit_canned(session, request, actor, AuditAction.CANNED_CHANGE, canned_id, {"changed": changed})
        return canned.shortcut


async def do_delete_canned(request: Request, actor: User, canned_id: int) -> str:
    """Remove a canned response; the audit entry keeps what it was. Returns its shortcut."""
    async with app_state(request).desk.unit_of_work() as session:
        canned = await delete_canned_response(session, canned_id)
        await _audit_canned(session, request, actor, AuditAction.CANNED_DELETE, canned_id, _canned_details(canned))
        return canned.shortcut


CONFLICTS = {"canned_taken", "team_exists", "used_by_articles", "used_by_history", "archived_already"}
REFUSALS = (handoff.Refusal, handoff.UnknownTeam, handoff.UnknownUser, handoff.LastAdmin, handoff.UserExists, handoff.InvalidName)
"""What the functions above refuse with: nothing was changed, and the message says why."""


def refusal_status(exc: Exception) -> int:
    """The HTTP status of a refusal: 404 for what does not exist, 409 for a conflict with what
    does (a taken id or e-mail, the last admin, a team still in use), 422 for input to correct."""
    if isinstance(exc, handoff.UnknownTeam | handoff.UnknownUser) or getattr(exc, "key", None) == "canned_unknown":
        return 404
    if isinstance(exc, handoff.LastAdmin | handoff.UserExists):
        return 409
    if isinstance(exc, handoff.Refusal) and exc.key in CONFLICTS:
        return 409
    return 422
