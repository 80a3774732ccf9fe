"""What the desk reads from the hub's settings, as a typed protocol: the hub passes its
``Settings`` object (which has every field), and the desk never imports the hub."""

from __future__ import annotations

from typing import Protocol


class DeskSettings(Protocol):
    """The settings the desk's flows use. They are read at each use, not copied, so a value
    changed on the running desk (tests shorten the timers) takes effect at once."""

    # customers' messages
    max_message_chars: int
    # what the widget says when it opens, per language (overrides desk.texts' "greeting")
    widget_greeting: dict[str, str]
    # the knowledge base's answers: how close to the first article a second one must score
    kb_next_answer_margin: float
    # search a customer's question while Rasa reads it, for the knowledge-base action (desk.early_search)
    kb_early_search: bool
    turn_lock_s: float
    # how long a customer waits for a busy bot (seeing it type) before being queued for a person
    bot_wait_s: float
    # endings and departures
    inactivity_seconds: int
    inactivity_check_seconds: float
    survey_no_answer_seconds: int
    whatsapp_window_hours: float
    abandon_after_disconnect_seconds: int
    abandon_after_silence_seconds: int
    # agents' presence
    presence_grace_seconds: float
    # the NPS survey
    company_name: str
    survey_question: dict[str, str]
    survey_reason_question: dict[str, str]
    # detractor alerts
    detractor_webhook_url: str
    public_url: str
    smtp_host: str
    smtp_port: int
    smtp_username: str
    smtp_password: str
    smtp_starttls: bool
    smtp_ssl: bool
    smtp_from: str
    smtp_to: list[str]

    @property
    def default_language(self) -> str:
        """The customers' language when nothing names one Balcão speaks (read-only: the hub's is a ``Literal``)."""
