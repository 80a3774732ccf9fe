"""Custom actions of the Balcão assistant, run in the hub by rasa-sdk's executor."""

from bot.actions.services import DeskServices, configure

__all__ = ["DeskServices", "configure"]
