"""The assistant's custom actions. Each reads the turn, calls the desk and returns events."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActionExecuted, EventType, FollowupAction, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.services import DeskServices
from core.languages import LANGUAGES, supported
from insights.nps import parse_nps_score
from insights.wording import skip_title
from kb_index import Decision, Hit

logger = logging.getLogger(__name__)

NO_VALUE = "-"  # what the survey slots hold when the customer gave no usable answer
MAX_ARTICLES_BEFORE_HANDOFF = 2  # "no" to the best two answers → a person
MAX_MISSES_BEFORE_HANDOFF = 2  # the knowledge base did not know twice in a row → a person
# How the hand-over names the demo desk's seeded teams in each language; any other team (teams are
# data that admins create) is named as the admins named it. Per-language team names belong with the
# teams themselves once admins edit them on a page.
SEEDED_TEAM_WORDING = {
    "tecnico": {"en": "technical support", "pt": "suporte técnico"},
    "financeiro": {"en": "billing", "pt": "finanças"},
    "logistica": {"en": "delivery", "pt": "logística"},
    "geral": {"en": "customer care", "pt": "atendimento"},
}


def language(tracker: Tracker) -> str:
    """The customer's language: the slot, else this message's metadata, else Portuguese."""
    lang = tracker.get_slot("language") or (tracker.latest_message.get("metadata") or {}).get("language")
    return supported(lang)


def team_wording(team_id: str, name: str, lang: str) -> str:
    """The team as the hand-over names it in ``lang``."""
    wording = SEEDED_TEAM_WORDING.get(team_id)
    return wording["en" if lang == "en" else "pt"] if wording else name


def _reset_kb() -> list[EventType]:
    return [SlotSet("kb_question", None), SlotSet("kb_tried", None), SlotSet("kb_misses", 0.0), SlotSet("awaiting", None)]


def show_article(
    dispatcher: CollectingDispatcher,
    hit: Hit,
    tried: list[str],
    question: str,
    *,
    kb: str | None = None,
    lead_in: bool = False,
) -> list[EventType]:
    """Send the passage of the article that answers the question (with the whole article beside it
    when the passage is only part of it) and ask whether it solved the question. ``kb="answer"``
    marks a new question the knowledge base answered, for the unanswered-question rate;
    ``lead_in`` introduces an article offered after a "no"."""
    if lead_in:
        dispatcher.utter_message(response="utter_next_article")
    # Sent as one custom message: Rasa's REST channel would split a text at every blank line.
    message = {"text": f"**{hit.title}**\n\n{hit.answer}", "article": hit.article_id, "lang": hit.lang, "score": hit.score}
    if hit.is_excerpt:  # the widget offers "read the whole article"; other channels get the passage
        message["full_text"] = f"**{hit.title}**\n\n{hit.body}"
    if kb:
        message["kb"] = kb
    dispatcher.utter_message(json_message=message)
    dispatcher.utter_message(response="utter_ask_resolved")
    return [
        SlotSet("kb_question", question),
        SlotSet("kb_tried", tried + [hit.article_id]),
        SlotSet("kb_misses", 0.0),
        SlotSet("awaiting", "resolution"),
    ]


async def hand_over(
    desk: DeskServices, dispatcher: CollectingDispatcher, tracker: Tracker, *, team: str, reason: str, kb: str | None = None
) -> list[EventType]:
    """Queue the conversation and tell the customer which team will answer."""
    lang = language(tracker)
    queued = await desk.escalate(tracker.sender_id, team=team, reason=reason)
    marker = {"json_message": {"kb": kb}} if kb else {}
    if reason == "complaint":
        dispatcher.utter_message(response="utter_complaint", **marker)
    else:
        dispatcher.utter_message(response="utter_handoff", team=team_wording(queued.team_id, queued.name, lang), **marker)
    return _reset_kb()


async def end_conversation(
    desk: DeskServices, dispatcher: CollectingDispatcher, tracker: Tracker, *, ending: str
) -> list[EventType]:
    """Every ending asks the NPS question, once per conversation; after that it only says goodbye."""
    # The survey slots were cleared when the last survey was submitted; setting them here
    # would make the form validate them as if the customer had answered.
    reset = _reset_kb() + [SlotSet("nps_attempts", 0.0)]
    if await desk.begin_ending(tracker.sender_id, ending=ending):
        return reset + [FollowupAction("nps_form")]
    dispatcher.utter_message(response="utter_goodbye")
    await desk.end(tracker.sender_id, reason=ending)
    return reset


class DeskAction(Action):
    """An action that needs the desk (knowledge base, queues, survey), given by the hub."""

    def __init__(self, desk: DeskServices) -> None:
        self.desk = desk


class ActionSessionStart(Action):
    """Starts a session with the customer's language taken from the channel's metadata."""

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        metadata = tracker.get_slot("session_started_metadata") or {}
        events: list[EventType] = [SessionStarted()]
        # Slots carried over from the previous session survive; the language follows the channel.
        for slot in ("language", "kb_question", "kb_tried", "kb_misses", "awaiting"):
            value = tracker.get_slot(slot)
            if value is not None:
                events.append(SlotSet(slot, value))
        lang = metadata.get("language")
        if lang in LANGUAGES:
            events.append(SlotSet("language", lang))
        events.append(ActionExecuted("action_listen"))
        return events


class ActionGreet(DeskAction):
    """The reply to "hi", naming the company and the bot as the admins set them (no retraining)."""

    def name(self) -> str:
        return "action_greet"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(text=self.desk.greeting_text(language(tracker)))
        return []


class ActionKbAnswer(DeskAction):
    """Any question: answer from the best article, offer choices, or hand over after two misses."""

    def name(self) -> str:
        return "action_kb_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        question = (tracker.latest_message.get("text") or "").strip()
        lang = language(tracker)
        result = await self.desk.search(question, lang, conversation_id=tracker.sender_id)
        # Each new question's outcome is marked on the bot's message ("kb": answer | clarify | miss).
        if result.decision is Decision.ANSWER and result.best:
            return show_article(dispatcher, result.best, [], question, kb="answer")
        if result.decision is Decision.CLARIFY:
            buttons = [
                {"title": hit.title, "payload": f'/choose_article{{"article": "{hit.article_id}"}}'} for hit in result.hits
            ]
            none_title = {"en": "None of these", "pt-PT": "Nenhum destes"}.get(lang, "Nenhum desses")
            buttons.append({"title": none_title, "payload": "/deny"})
            dispatcher.utter_message(response="utter_clarify", buttons=buttons, json_message={"kb": "clarify"})
            return [SlotSet("kb_question", question), SlotSet("kb_tried", []), SlotSet("awaiting", "choice")]
        misses = int(tracker.get_slot("kb_misses") or 0) + 1
        if misses >= MAX_MISSES_BEFORE_HANDOFF:
            team = result.best.team if result.best else "geral"
            return await hand_over(self.desk, dispatcher, tracker, team=team, reason="kb_unanswered", kb="miss")
        dispatcher.utter_message(response="utter_rephrase", json_message={"kb": "miss"})
        return [SlotSet("kb_misses", float(misses)), SlotSet("awaiting", None), SlotSet("kb_question", question)]


class ActionShowArticle(DeskAction):
    """The customer tapped one of the offered articles."""

    def name(self) -> str:
        return "action_show_article"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        article_id = next(tracker.get_latest_entity_values("article"), None) or tracker.get_slot("article")
        question = tracker.get_slot("kb_question") or ""
        hit = await self.desk.article(str(article_id), language(tracker), question=question) if article_id else None
        if hit is None:
            dispatcher.utter_message(response="utter_how_can_help")
            return []
        return show_article(dispatcher, hit, list(tracker.get_slot("kb_tried") or []), question)


class ActionFeedbackYes(DeskAction):
    """ "Yes": after an answer, it solved the question, so the conversation ends with the survey."""

    def name(self) -> str:
        return "action_feedback_yes"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if tracker.get_slot("awaiting") == "resolution":
            return await end_conversation(self.desk, dispatcher, tracker, ending="resolved")
        dispatcher.utter_message(response="utter_how_can_help")
        return []


class ActionFeedbackNo(DeskAction):
    """ "No": offer the next article when it plausibly answers the question, introduced as such;
    else, or after the best two, hand over to the team of the first article."""

    def name(self) -> str:
        return "action_feedback_no"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        awaiting = tracker.get_slot("awaiting")
        question = tracker.get_slot("kb_question")
        if awaiting not in ("resolution", "choice") or not question:
            dispatcher.utter_message(response="utter_how_can_help")
            return []
        lang = language(tracker)
        tried = list(tracker.get_slot("kb_tried") or [])
        hit = None
        if awaiting == "resolution" and len(tried) < MAX_ARTICLES_BEFORE_HANDOFF:
            hit = await self.desk.next_answer(question, lang, tried=tried)
        if hit is None:
            first = await self.desk.article(tried[0], lang) if tried else (await self.desk.search(question, lang)).best
            return await hand_over(self.desk, dispatcher, tracker, team=first.team if first else "geral", reason="not_resolved")
        return show_article(dispatcher, hit, tried, question, lead_in=True)


class ActionRequestHuman(DeskAction):
    """The customer asked for a person, in any wording."""

    def name(self) -> str:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        return await hand_over(self.desk, dispatcher, tracker, team="geral", reason="customer_request")


class ActionComplaint(DeskAction):
    """A complaint goes to a person first in line; the team is the subject's when the KB recognises it."""

    def name(self) -> str:
        return "action_complaint"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        result = await self.desk.search(tracker.latest_message.get("text") or "", language(tracker))
        team = result.best.team if result.best and result.decision is not Decision.ESCALATE else "geral"
        return await hand_over(self.desk, dispatcher, tracker, team=team, reason="complaint")


class ActionEndConversation(DeskAction):
    """Every ending (resolved, goodbye, agent closed, inactivity) asks the NPS question, once."""

    def name(self) -> str:
        return "action_end_conversation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        ending = next(tracker.get_latest_entity_values("ending"), None) or "goodbye"
        return await end_conversation(self.desk, dispatcher, tracker, ending=str(ending))


class ActionAskNpsScore(DeskAction):
    """The 0–10 question, in the customer's language, naming the company (wording from settings)."""

    def name(self) -> str:
        return "action_ask_nps_score"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language(tracker)
        buttons = [{"title": str(n), "payload": str(n)} for n in range(11)]
        buttons.append({"title": skip_title(lang), "payload": "/deny"})  # no score: recorded as no answer
        dispatcher.utter_message(text=self.desk.survey_text("score", lang), buttons=buttons)
        return []


class ActionAskNpsReason(DeskAction):
    """The optional follow-up question: the main reason for the score."""

    def name(self) -> str:
        return "action_ask_nps_reason"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        lang = language(tracker)
        dispatcher.utter_message(
            text=self.desk.survey_text("reason", lang), buttons=[{"title": skip_title(lang), "payload": "/deny"}]
        )
        return []


class ValidateNpsForm(FormValidationAction):
    """Reads the 0–10 answer; an unusable one is asked again once, then the survey moves on."""

    def name(self) -> str:
        return "validate_nps_form"

    def validate_nps_score(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if slot_value is None:  # a reset, not an answer
            return {}
        text = str(slot_value).strip()
        # "Skip", tapped (an intent payload) or typed where buttons are text (WhatsApp): no answer, no reason asked.
        if text.startswith("/") or text.casefold() == skip_title(language(tracker)).casefold():
            return {"nps_score": NO_VALUE, "nps_reason": NO_VALUE}
        parsed = parse_nps_score(str(slot_value))
        if parsed.score is not None:
            return {"nps_score": str(parsed.score)}
        attempts = int(tracker.get_slot("nps_attempts") or 0) + 1
        if attempts >= 2:
            return {"nps_score": NO_VALUE, "nps_reason": NO_VALUE, "nps_attempts": float(attempts)}
        dispatcher.utter_message(response="utter_nps_invalid")
        return {"nps_score": None, "nps_attempts": float(attempts)}

    def validate_nps_reason(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if slot_value is None:  # a reset, not an answer
            return {}
        text = str(slot_value).strip()
        # A tapped "skip" arrives as an intent payload ("/deny"): no reason given.
        return {"nps_reason": NO_VALUE if not text or text.startswith("/") else text}


class ActionNpsSubmit(DeskAction):
    """Stores the survey, thanks the customer and ends the conversation."""

    def name(self) -> str:
        return "action_nps_submit"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        score_text = tracker.get_slot("nps_score")
        reason = tracker.get_slot("nps_reason")
        score = int(score_text) if score_text not in (None, NO_VALUE) else None
        await self.desk.finish_survey(tracker.sender_id, score=score, reason=None if reason in (None, NO_VALUE) else str(reason))
        dispatcher.utter_message(response="utter_nps_thanks" if score is not None else "utter_nps_no_answer")
        return [SlotSet("nps_score", None), SlotSet("nps_reason", None), SlotSet("nps_attempts", 0.0)]


def build_actions(desk: DeskServices) -> list[Action]:
    """The assistant's actions, bound to this hub's desk (register them with rasa-sdk's executor)."""
    with_desk = (
        ActionGreet,
        ActionKbAnswer,
        ActionShowArticle,
        ActionFeedbackYes,
        ActionFeedbackNo,
        ActionRequestHuman,
        ActionComplaint,
        ActionEndConversation,
        ActionNpsSubmit,
        ActionAskNpsScore,
        ActionAskNpsReason,
    )
    return [ActionSessionStart(), ValidateNpsForm(), *(cls(desk) for cls in with_desk)]
