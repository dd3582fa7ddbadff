"""One function per client action: the parsed frame in, the use case called, the answer
sent. Each takes the caller, the frame and the invocation's Notifier; the dispatcher
(livechat.api.gateway) answers with `ack` when an action sent no answer of its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from livechat.api.protocol import (
    AGENT_ACTIONS,
    VISITOR_ACTIONS,
    AcceptFrame,
    AnswerFrame,
    Availability,
    CaptureFrame,
    DeclineFrame,
    EmailTranscript,
    EndChat,
    GetStats,
    GetTranscript,
    ListConversations,
    ListInbox,
    ListOffers,
    Ping,
    RequestChat,
    Resume,
    SendMessage,
    SetStatus,
    StartConversation,
    SubscribePush,
    Typing,
    UnsubscribePush,
)
from livechat.chat import conversations, limits, presence
from livechat.chat.presence import AGENT, VISITOR, Caller
from livechat.domain import routing, transitions
from livechat.domain.clock import iso
from livechat.domain.errors import BadRequest, Conflict, Forbidden, NotFound
from livechat.domain.schedules import Effective
from livechat.domain.snapshots import Conversation
from livechat.domain.states import Status
from livechat.domain.transitions import withdrawn_offer
from livechat.outbound.delivery import Notifier
from livechat.outbound.frames import (
    AckEvent,
    AvailabilityEvent,
    ChatAcceptedEvent,
    ConversationsEvent,
    ConversationStartedEvent,
    InboxEvent,
    OffersEvent,
    PongEvent,
    StatsEvent,
    StatusEvent,
    TranscriptEvent,
    TypingEvent,
    frame_of,
    transcript_item,
    withdrawn_frame,
)
from livechat.runtime import get_settings
from livechat.store import agents, catalog
from livechat.store import conversations as stored
from livechat.store.parties import Parties

Handler = Callable[[Caller, Any, Notifier], None]

# The use cases that only some actions need — routing and the offer workflow (requestChat,
# availability, accept, decline, a visitor leaving an offer), the transcript e-mail, the open
# offers' list, the dashboard, push subscriptions — are imported by those actions, not with
# this module: every frame's cold start would load them (issue 15, docs/performance.md).

# The event types that answer each action (see Notifier): anything else is answered by ack.
ANSWER_TYPES: dict[str, frozenset[str]] = {
    "requestChat": frozenset({"routing", "fallback"}),
    "sendMessage": frozenset({"message"}),
    "endChat": frozenset({"chatEnded"}),
}


def _party(caller: Caller, conversation_id: str, *, relay: bool = False) -> Parties:
    """The caller's own conversation and the parties' connections, in one read."""
    if caller.role == VISITOR:
        return conversations.visitor_party(conversation_id, caller.principal, relay=relay)
    return conversations.agent_party(conversation_id, caller.principal, relay=relay)


def _broadcast(party: Parties, conv: Conversation, frame: dict[str, Any], notifier: Notifier) -> None:
    """A stored event goes to every connection of the visitor and, while `conv` (the
    conversation as the change found it) is live, of the chat's agent (the connections
    read before it was stored, and those a reload opened since: Notifier.stored_to_*)."""
    notifier.stored_to_visitor(conv.visitor_id, frame, read=party.visitor_connections)
    if conv.agent and conv.status == Status.ACTIVE:
        notifier.stored_to_agent(conv.agent, frame, read=party.of_agent())


# --- visitor ----------------------------------------------------------------------------

def start_conversation(caller: Caller, frame: StartConversation, notifier: Notifier) -> None:
    settings = catalog.get_workspace_settings()
    charge = limits.conversation(caller.principal, settings)
    conversation_id = conversations.start(caller.principal, frame.dialogId, frame.page.model_dump(),
                                          client_id=frame.clientConversationId, charge=charge,
                                          retention_days=settings.retention_days)
    notifier.reply(ConversationStartedEvent(conversationId=conversation_id).wire())


def _recorded(caller: Caller, action: str, party: Parties, applied: Any, notifier: Notifier) -> None:
    """answer and capture: acked with the stored event's seq; the visitor's other tabs see it."""
    event = applied.events[0]
    notifier.reply(AckEvent(action=action, seq=event.seq).wire())
    notifier.to_visitor(applied.conversation.visitor_id, frame_of(applied.conversation.conversation_id, event),
                        exclude=caller.connection_id, connections=party.visitor_connections)


def answer(caller: Caller, frame: AnswerFrame, notifier: Notifier) -> None:
    party = _party(caller, frame.conversationId)
    charge = limits.record(caller.connection_id, catalog.get_workspace_settings())
    applied = conversations.answer(party.conversation, frame.cardId, frame.value, charge=charge)
    _recorded(caller, "answer", party, applied, notifier)


def capture(caller: Caller, frame: CaptureFrame, notifier: Notifier) -> None:
    party = _party(caller, frame.conversationId)
    charge = limits.record(caller.connection_id, catalog.get_workspace_settings())
    applied = conversations.capture(party.conversation, frame.cardId, frame.fields, charge=charge)
    _recorded(caller, "capture", party, applied, notifier)


def request_chat(caller: Caller, frame: RequestChat, notifier: Notifier) -> None:
    from livechat.chat import requests

    party = _party(caller, frame.conversationId)
    requests.request_chat(party.conversation, frame.cardId, notifier, visitor_connections=party.visitor_connections)


def availability(caller: Caller, frame: Availability, notifier: Notifier) -> None:
    from livechat.chat import requests

    available = requests.available(frame.dialogId, frame.cardId)
    notifier.reply(AvailabilityEvent(dialogId=frame.dialogId, cardId=frame.cardId, available=available).wire())


def email_transcript(caller: Caller, frame: EmailTranscript, notifier: Notifier) -> None:
    from livechat.chat import transcript_mail

    transcript_mail.email_transcript(conversations.owned_by_visitor(frame.conversationId, caller.principal))


# --- agent ------------------------------------------------------------------------------

def _presence_fields(state: Effective) -> dict[str, Any]:
    return {"status": state.status, "onSchedule": state.on_schedule,
            "until": iso(state.until) if state.until else None}


def set_status(caller: Caller, frame: SetStatus, notifier: Notifier) -> None:
    state = presence.set_status(caller.principal, frame.status)
    # Answered by ack (the dispatcher's default); the agent's other tabs follow the change.
    notifier.to_agent(caller.principal, StatusEvent(**_presence_fields(state)).wire(), exclude=caller.connection_id)


def accept(caller: Caller, frame: AcceptFrame, notifier: Notifier) -> None:
    from livechat.chat import offers, workflow

    # One Query reads the conversation and the transcript so far; the agent's name and
    # avatar come with the offer (an offer of an earlier release: read the agent).
    read, events = stored.with_events(frame.conversationId)
    agent = transitions.offered_agent(read, frame.offerId)
    if agent is None or agent.email != caller.principal:
        agent = agents.get_agent(caller.principal)
    applied = offers.accept(frame.conversationId, frame.offerId, agent, notifier, catalog.get_workspace_settings(),
                            conversation=read, connection_id=caller.connection_id)
    conv = applied.conversation
    if conv.last_seq != read.last_seq:
        events = conversations.transcript_events(frame.conversationId)  # it moved under us: read again
    else:
        events = [*events, *(e for e in applied.events if e.seq > read.last_seq)]
    notifier.reply(ChatAcceptedEvent(conversationId=frame.conversationId, visitor=dict(conv.visitor),
                                     page=dict(conv.page), transcript=[transcript_item(e) for e in events]).wire())
    joined = frame_of(frame.conversationId, applied.events[0])
    notifier.to_visitor(conv.visitor_id, joined)
    notifier.to_agent(caller.principal, joined, exclude=caller.connection_id, connections=conv.agent_connections)
    workflow.release_timer(conv)


def decline(caller: Caller, frame: DeclineFrame, notifier: Notifier) -> None:
    from livechat.chat import offers, workflow

    declined = offers.decline(frame.conversationId, frame.offerId, caller.principal)
    notifier.reply(AckEvent(action="decline").wire())
    notifier.to_agent(caller.principal, withdrawn_frame(frame.conversationId, frame.offerId, "declined"),
                      exclude=caller.connection_id)
    # A decline does at once what the timeout would have done next; when that ends the
    # request (the fallback), its timer has nothing left to check.
    step = workflow.next_step(stored.get(frame.conversationId), notifier, catalog.get_workspace_settings())
    if step.get("final"):
        workflow.release_timer(declined)


def list_inbox(caller: Caller, frame: ListInbox, notifier: Notifier) -> None:
    agent = agents.get_agent(caller.principal)
    notifier.reply(InboxEvent(chats=conversations.inbox(caller.principal, caller.connection_id),
                              **_presence_fields(routing.presence(agent)),
                              pushSubscriptions=agent.push_subscriptions, name=agent.name).wire())


def list_offers(caller: Caller, frame: ListOffers, notifier: Notifier) -> None:
    from livechat.chat import pending

    settings = catalog.get_workspace_settings()
    items, server_time = pending.open_offers(caller.principal, settings.accept_timeout_seconds)
    notifier.reply(OffersEvent(items=items, serverTime=server_time).wire())


def get_stats(caller: Caller, frame: GetStats, notifier: Notifier) -> None:
    """Admins only: livechat.api.gateway checks the connection's flag first."""
    from livechat.chat import stats

    body = stats.get_stats(frame.from_, frame.to)
    notifier.reply(StatsEvent.model_validate(body).wire())


def subscribe_push(caller: Caller, frame: SubscribePush, notifier: Notifier) -> None:
    from livechat.chat import push_subscriptions

    sub = frame.subscription
    push_subscriptions.subscribe(caller.principal, sub.endpoint, sub.keys.p256dh, sub.keys.auth)


def unsubscribe_push(caller: Caller, frame: UnsubscribePush, notifier: Notifier) -> None:
    from livechat.chat import push_subscriptions

    push_subscriptions.unsubscribe(caller.principal, frame.endpoint)


def list_conversations(caller: Caller, frame: ListConversations, notifier: Notifier) -> None:
    items, cursor = conversations.list_all(frame.cursor, caller.principal)
    notifier.reply(ConversationsEvent(items=items, cursor=cursor).wire())


def get_transcript(caller: Caller, frame: GetTranscript, notifier: Notifier) -> None:
    if caller.role == VISITOR:
        conv = conversations.owned_by_visitor(frame.conversationId, caller.principal)
    else:
        conv = stored.get(frame.conversationId)
    notifier.reply(TranscriptEvent(**conversations.transcript(conv, with_text=frame.includeText)).wire())


# --- both -------------------------------------------------------------------------------

def send_message(caller: Caller, frame: SendMessage, notifier: Notifier) -> None:
    limit = get_settings().max_message_chars
    if len(frame.text) > limit:
        raise BadRequest(f"text: longer than {limit} characters")
    if not frame.text.strip():
        raise BadRequest("text: empty message")
    party = _party(caller, frame.conversationId)
    conv = party.conversation
    settings = catalog.get_workspace_settings()
    charge = limits.message(caller.connection_id, settings)
    applied = conversations.send_message(conv, caller.role, frame.text, frame.clientMessageId, charge=charge,
                                         retention_days=settings.retention_days)
    if applied.duplicate_of is not None:
        notifier.reply(frame_of(conv.conversation_id, applied.duplicate_of))
        return
    _broadcast(party, applied.conversation, frame_of(conv.conversation_id, applied.events[0]), notifier)


def typing(caller: Caller, frame: Typing, notifier: Notifier) -> None:
    try:
        party: Parties | None = _party(caller, frame.conversationId, relay=True)
    except NotFound:
        party = None
    if party is None or party.conversation.status != Status.ACTIVE:
        # The relay's eventually consistent read may predate the accept that made the chat
        # live (and the caller its agent): only a strongly consistent one may refuse.
        party = _party(caller, frame.conversationId)
    conv = party.conversation
    if conv.status != Status.ACTIVE:
        raise Conflict("the chat is not live")
    event = TypingEvent(conversationId=conv.conversation_id, isTyping=frame.isTyping,
                        **{"from": caller.role}).wire()
    if caller.role == VISITOR and conv.agent:
        notifier.to_agent(conv.agent, event, connections=party.of_agent())
    else:
        notifier.to_visitor(conv.visitor_id, event, connections=party.visitor_connections)


def end_chat(caller: Caller, frame: EndChat, notifier: Notifier) -> None:
    party = _party(caller, frame.conversationId)
    conv = party.conversation
    if conv.status == Status.ENDED and conv.end_reason == caller.role and conv.agent:
        # This side already ended the live chat: a retried endChat (the first committed
        # and died before telling anyone) or a second tab. Tell both sides again.
        last = stored.event_at(conv.conversation_id, conv.last_seq)
        if last is not None and last.type == "chatEnded":
            _broadcast_end(party, conv, frame_of(conv.conversation_id, last), notifier)
            return
    applied = conversations.end(conv, caller.role)
    was = applied.conversation
    withdrawn = withdrawn_offer(was)
    if withdrawn and was.offer_agent:
        notifier.offer_ended(was.offer_agent, withdrawn_frame(conv.conversation_id, withdrawn, "visitor_left"),
                             conversation_id=conv.conversation_id)
    if not applied.events:
        return  # an automated conversation closed: answered by ack
    ended = frame_of(conv.conversation_id, applied.events[0])
    if was.status != Status.ACTIVE:
        # Still being routed or offered: the protocol answers with ack; the visitor's
        # other tabs learn it ended.
        notifier.reply(AckEvent(action="endChat").wire())
        notifier.to_visitor(conv.visitor_id, ended, exclude=caller.connection_id,
                            connections=party.visitor_connections)
        if withdrawn:
            from livechat.chat import workflow

            workflow.release_timer(was)
        return
    _broadcast_end(party, was, ended, notifier)


def _broadcast_end(party: Parties, conv: Conversation, ended: dict[str, Any], notifier: Notifier) -> None:
    notifier.stored_to_visitor(conv.visitor_id, ended, read=party.visitor_connections)
    if conv.agent:
        notifier.stored_to_agent(conv.agent, ended, read=party.of_agent())


def resume(caller: Caller, frame: Resume, notifier: Notifier) -> None:
    conv = _party(caller, frame.conversationId).conversation
    last = frame.afterSeq
    for event in stored.events_after(conv.conversation_id, frame.afterSeq):
        notifier.send(caller.connection_id, frame_of(conv.conversation_id, event))
        last = event.seq
    notifier.reply(AckEvent(action="resume", seq=last).wire())


def ping(caller: Caller, frame: Ping, notifier: Notifier) -> None:
    notifier.reply(PongEvent().wire())


# Agent actions for admins only (the LiveChatAdmin group, the $connect authorizer's flag).
ADMIN_ACTIONS = frozenset({"getStats"})

HANDLERS: dict[str, Handler] = {
    "startConversation": start_conversation,
    "answer": answer,
    "capture": capture,
    "requestChat": request_chat,
    "availability": availability,
    "emailTranscript": email_transcript,
    "setStatus": set_status,
    "accept": accept,
    "decline": decline,
    "listInbox": list_inbox,
    "listOffers": list_offers,
    "getStats": get_stats,
    "listConversations": list_conversations,
    "getTranscript": get_transcript,
    "subscribePush": subscribe_push,
    "unsubscribePush": unsubscribe_push,
    "sendMessage": send_message,
    "typing": typing,
    "endChat": end_chat,
    "resume": resume,
    "ping": ping,
}


def authorize(caller: Caller, action: str) -> None:
    # getTranscript is an agent action that a visitor may also take for their own chat.
    if caller.role == VISITOR and action in AGENT_ACTIONS - {"getTranscript"}:
        raise Forbidden(f"visitors may not {action}")
    if caller.role == AGENT and action in VISITOR_ACTIONS:
        raise Forbidden(f"agents may not {action}")
