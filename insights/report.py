"""What a KPI report holds (also the JSON API's schema)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from insights.summaries import WAIT_BUCKETS

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # the heatmap's rows (0 = Monday)


class Totals(BaseModel):
    conversations: int = 0
    bot_only: int = 0
    escalated: int = 0
    deflected: int = 0
    picked_up: int = 0
    abandoned: int = 0
    resolved: int = 0
    first_contact_resolved: int = 0
    within_service_level: int = 0
    complaints: int = 0
    kb_questions: int = 0
    kb_unanswered: int = 0


class Rates(BaseModel):
    """Shares between 0 and 1; ``None`` when the denominator is zero."""

    escalation: float | None = None
    deflection: float | None = None
    abandonment: float | None = None
    service_level: float | None = None
    first_contact_resolution: float | None = None
    unanswered_questions: float | None = None
    survey_response: float | None = None


class Nps(BaseModel):
    asked: int = 0
    answered: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    score: float | None = Field(None, description="-100 to 100; None without answers")
    distribution: list[int] = Field(default_factory=lambda: [0] * 11, description="answers per score 0..10")


class Durations(BaseModel):
    """Seconds; ``None`` when nothing was measured."""

    wait_avg: float | None = None
    wait_p90: float | None = None
    first_response_avg: float | None = None
    first_response_p90: float | None = None
    handling_avg: float | None = None
    resolution_avg: float | None = None
    resolution_p90: float | None = None


class DayPoint(BaseModel):
    day: date
    conversations: int
    escalated: int
    deflected: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None


class Group(BaseModel):
    """One row of the per-channel / per-team / per-ending tables."""

    key: str
    conversations: int = 0
    escalated: int = 0
    deflected: int = 0
    picked_up: int = 0
    abandoned: int = 0
    within_service_level: int = 0
    wait_avg: float | None = None
    handling_avg: float | None = None
    asked: int = 0
    answered: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    nps: float | None = None


class AgentRow(BaseModel):
    agent_id: int
    name: str
    handled: int
    handling_avg: float | None
    handling_total: float
    first_response_avg: float | None
    answered: int
    nps: float | None
    load: float | None = Field(None, description="average chats at once while busy")
    occupancy: float | None = Field(None, description="busy ÷ working span (first pick-up to last ending of each day)")


class Complaint(BaseModel):
    conversation_id: str
    started_at: datetime
    channel: str
    team_id: str | None
    agent_id: int | None
    agent_name: str | None = None  # whoever took it, whatever their role
    outcome: str
    score: int | None


class Theme(BaseModel):
    word: str
    count: int


class Report(BaseModel):
    """Everything the dashboard shows for a period and filters."""

    start: datetime
    end: datetime
    timezone: str
    filters: dict
    totals: Totals
    rates: Rates
    nps: Nps
    durations: Durations
    days: list[DayPoint]
    heatmap: list[list[int]] = Field(description="conversations per weekday (0 = Monday) and local hour")
    wait_histogram: list[int] = Field(description=f"picked-up waits per bucket, upper bounds {WAIT_BUCKETS} s, then more")
    channels: list[Group]
    teams: list[Group]
    agents: list[AgentRow]
    endings: list[Group]
    complaints: list[Complaint]
    detractor_themes: list[Theme]
