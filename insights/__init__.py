"""NPS and service KPIs: the survey asked at the end of every conversation, the follow-up of
detractors, and the KPIs supervisors read (computed from the conversations' appended events)."""

from insights.agents import filter_agents
from insights.alerts import DetractorAlert, EmailFailed, SmtpConfig, WebhookFailed, post_webhook, send_alert_email
from insights.follow_ups import (
    FollowUpAlreadyClaimed,
    FollowUpError,
    FollowUpNotFound,
    NotYourFollowUp,
    claim_follow_up,
    complete_follow_up,
    get_follow_up,
    is_detractor,
    list_follow_ups,
    open_follow_up,
)
from insights.kpis import Filters, InvalidPeriod, Period, Report, Targets, compute_report
from insights.live import LiveCounters, agents_online, live_counters
from insights.models import ConversationSummary, FollowUp, Survey
from insights.nps import NpsParse, parse_nps_score
from insights.summaries import note_appended, note_survey, rebuild_summaries
from insights.surveys import SurveyAlreadyAnswered, answer_survey, get_survey, list_surveys, open_survey, record_reason
from insights.wording import survey_wording

__all__ = [
    "ConversationSummary",
    "DetractorAlert",
    "EmailFailed",
    "Filters",
    "FollowUp",
    "FollowUpAlreadyClaimed",
    "FollowUpError",
    "FollowUpNotFound",
    "InvalidPeriod",
    "LiveCounters",
    "NotYourFollowUp",
    "NpsParse",
    "Period",
    "Report",
    "SmtpConfig",
    "Survey",
    "SurveyAlreadyAnswered",
    "Targets",
    "WebhookFailed",
    "agents_online",
    "answer_survey",
    "claim_follow_up",
    "complete_follow_up",
    "compute_report",
    "filter_agents",
    "get_follow_up",
    "get_survey",
    "is_detractor",
    "list_follow_ups",
    "list_surveys",
    "live_counters",
    "note_appended",
    "note_survey",
    "open_follow_up",
    "open_survey",
    "parse_nps_score",
    "post_webhook",
    "rebuild_summaries",
    "record_reason",
    "send_alert_email",
    "survey_wording",
]
