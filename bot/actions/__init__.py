"""Custom actions of the Balcão assistant, run in the hub by rasa-sdk's executor."""

from bot.actions.actions import build_actions
from bot.actions.services import DeskServices

__all__ = ["DeskServices", "build_actions"]
