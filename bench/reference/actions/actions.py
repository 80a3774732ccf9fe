"""One custom action with a fixed reply: the cost of a custom-action round trip and nothing else."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

FIXED_TEXT = "Resposta fixa do benchmark de referência."


class ActionFixed(Action):
    """Replies with the same text to every question."""

    def name(self) -> str:
        return "action_fixed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=FIXED_TEXT)
        return []
