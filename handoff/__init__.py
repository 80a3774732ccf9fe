"""Human handoff: who owns each conversation, team queues, agents, and their console."""

from handoff.agents import STATUSES, AgentLoad, UnknownStatus, assign_waiting, choose_agent, set_agent_status, team_loads
from handoff.canned import InvalidCannedResponse, add_canned_response, ensure_default_canned, list_canned, render_canned
from handoff.conversations import (
    AlreadyClaimed,
    ConversationNotFound,
    DuplicateMessage,
    HandoffError,
    InvalidTransition,
    NotYourConversation,
    abandon_conversation,
    add_note,
    agent_reply,
    assign_conversation,
    begin_closing,
    can_access,
    claim_conversation,
    close_conversation,
    conversation_history,
    customer_conversations,
    end_conversation,
    escalate_conversation,
    find_open_conversation,
    get_conversation,
    latest_conversation,
    list_agent_conversations,
    list_queue,
    queued_conversations,
    quiet_conversations,
    record_message,
    start_conversation,
    transfer_conversation,
    unassign_conversation,
)
from handoff.events import AgentStatusChanged, Event, MessageAdded, OwnerChanged, QueueUpdate, Typing, take_pending_events
from handoff.hours import InvalidHours, is_open, next_opening
from handoff.models import CannedResponse, Conversation, Message, Priority, Role, State, Team, User
from handoff.queue import QueueStanding, queue_standing, queue_standings
from handoff.teams import UnknownTeam, get_team, list_teams, update_team
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

__all__ = [name for name in dir() if not name.startswith("_")]
