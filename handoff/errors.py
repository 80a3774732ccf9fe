"""handoff's errors: each message says what happened in words an agent understands."""

from __future__ import annotations

from handoff.models import User


class HandoffError(Exception):
    """Base of handoff's errors; the message says what happened in words an agent understands."""


class ConversationNotFound(HandoffError):
    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"conversation {conversation_id} does not exist")


class InvalidTransition(HandoffError):
    """The conversation is not in a state that allows the change (or someone else changed it first)."""


class AlreadyClaimed(InvalidTransition):
    def __init__(self) -> None:
        super().__init__("another agent has already taken this conversation")


class DuplicateMessage(HandoffError):
    def __init__(self, channel: str, channel_message_id: str) -> None:
        super().__init__(f"message {channel_message_id} from {channel} was already received")


class NotYourConversation(HandoffError):
    def __init__(self) -> None:
        super().__init__("this conversation is handled by another agent")


class CannotReceiveTransfer(HandoffError):
    """The person chosen for a transfer may not take chats of that team."""

    def __init__(self, user: User, team_id: str | None, why: str) -> None:
        super().__init__(
            f"{user.name} cannot receive this conversation: {why}; choose an active agent of the team {team_id or '(none)'}"
        )
        self.user_id = user.id
        self.team_id = team_id


class Refusal(ValueError):
    """A change an admin asked for, refused before anything changed. The message says why in
    English (the API's answer); ``key`` and ``params`` let a page say it in the reader's language."""

    def __init__(self, message: str, *, key: str, **params: object) -> None:
        super().__init__(message)
        self.key = key
        self.params = params
