"""Human handoff: who owns each conversation, team queues, agents, and their console."""

from handoff.conversations import (
    AlreadyClaimed,
    ConversationNotFound,
    DuplicateMessage,
    HandoffError,
    InvalidTransition,
    NotYourConversation,
    agent_reply,
    begin_closing,
    can_access,
    claim_conversation,
    close_conversation,
    conversation_history,
    end_conversation,
    escalate_conversation,
    find_open_conversation,
    get_conversation,
    latest_conversation,
    list_agent_conversations,
    list_queue,
    quiet_conversations,
    record_message,
    start_conversation,
)
from handoff.events import Event, MessageAdded, OwnerChanged, take_pending_events
from handoff.models import Conversation, Message, Priority, Role, State, User
from handoff.users import (
    DEFAULT_TEAMS,
    InvalidCredentials,
    UserExists,
    add_user,
    authenticate,
    ensure_default_teams,
    get_user,
    user_team_ids,
)

__all__ = [
    "AlreadyClaimed", "ConversationNotFound", "DuplicateMessage", "HandoffError", "InvalidTransition",
    "NotYourConversation", "agent_reply", "begin_closing", "can_access", "claim_conversation", "close_conversation",
    "conversation_history", "end_conversation", "escalate_conversation", "find_open_conversation",
    "get_conversation", "latest_conversation", "list_agent_conversations", "list_queue", "quiet_conversations", "record_message",
    "start_conversation", "Event", "MessageAdded", "OwnerChanged", "take_pending_events", "Conversation",
    "Message", "Priority", "Role", "State", "User", "DEFAULT_TEAMS", "InvalidCredentials", "UserExists",
    "add_user", "authenticate", "ensure_default_teams", "get_user", "user_team_ids",
]
