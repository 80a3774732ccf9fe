"""NPS and service KPIs: the survey asked at the end of every conversation."""

from insights.nps import NpsParse, parse_nps_score
from insights.surveys import SurveyAlreadyAnswered, answer_survey, get_survey, open_survey, record_reason

__all__ = [
    "NpsParse",
    "parse_nps_score",
    "SurveyAlreadyAnswered",
    "answer_survey",
    "get_survey",
    "open_survey",
    "record_reason",
]
