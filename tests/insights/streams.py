"""Generated event streams: conversations written as the rows the desk appends (ownership events,
messages, surveys), at chosen times, so KPI expectations can be computed by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.events import appended
from handoff.models import Conversation, Message, OwnershipEvent
from insights.models import Survey
from insights.summaries import note_survey


@dataclass
class Stream:
    """Rows of a desk's history; times are seconds after ``t0``."""

    t0: datetime
    rows: list = field(default_factory=list)
    _teams: dict[str, str | None] = field(default_factory=dict)
    _agents: dict[str, int | None] = field(default_factory=dict)
    _channels: dict[str, str] = field(default_factory=dict)

    def at(self, seconds: float) -> datetime:
        return self.t0 + timedelta(seconds=seconds)

    def start(
        self, cid: str, at: float, *, channel: str = "widget", customer: str | None = None, language: str = "pt-BR"
    ) -> Stream:
        self._channels[cid] = channel
        self.rows.append(
            Conversation(
                id=cid,
                channel=channel,
                customer_id=customer or f"customer-{cid}",
                language=language,
                state="bot",
                version=0,
                created_at=self.at(at),
            )
        )
        return self

    def move(
        self,
        cid: str,
        at: float,
        from_state: str,
        to_state: str,
        *,
        team: str | None = None,
        agent: int | None = None,
        reason: str | None = None,
    ) -> Stream:
        if team is not None:
            self._teams[cid] = team
        if to_state == "human":
            self._agents[cid] = agent
        self.rows.append(
            OwnershipEvent(
                conversation_id=cid,
                at=self.at(at),
                actor="test",
                from_state=from_state,
                to_state=to_state,
                team_id=self._teams.get(cid),
                agent_id=self._agents.get(cid) if to_state != "queued" else None,
                reason=reason,
            )
        )
        return self

    def message(
        self, cid: str, at: float, sender: str, text: str = "…", *, kb: str | None = None, internal: bool = False
    ) -> Stream:
        self.rows.append(
            Message(
                conversation_id=cid,
                sender=sender,
                text=text,
                channel=self._channels[cid],
                data={"kb": kb} if kb else None,
                internal=internal,
                created_at=self.at(at),
            )
        )
        return self

    def survey(
        self, cid: str, at: float, *, ending: str, score: int | None, reason: str | None = None, answered: bool = True
    ) -> Stream:
        self.rows.append(
            Survey(
                conversation_id=cid,
                channel=self._channels[cid],
                language="pt-BR",
                ending=ending,
                team_id=self._teams.get(cid),
                agent_id=self._agents.get(cid),
                bot_only=cid not in self._agents,
                asked_at=self.at(at),
                score=score,
                reason=reason,
                answered_at=self.at(at + 10) if answered and score is not None else None,
            )
        )
        return self

    async def save(self, session: AsyncSession) -> None:
        """Append the rows in time order, each folded into its conversation's summary as the desk
        does (handoff's append listeners, then the survey's own step)."""
        for row in sorted(self.rows, key=_when):
            session.add(row)
            await session.flush()
            if isinstance(row, Survey):
                await note_survey(session, row)
            elif isinstance(row, (Conversation, Message, OwnershipEvent)):
                await appended(session, row)


def _when(row: object) -> datetime:
    """When the desk appended ``row`` (staff users come first: they exist before any chat)."""
    if isinstance(row, OwnershipEvent):
        return row.at
    if isinstance(row, Survey):
        return row.asked_at
    if isinstance(row, (Conversation, Message)):
        return row.created_at
    return datetime.min.replace(tzinfo=UTC)
