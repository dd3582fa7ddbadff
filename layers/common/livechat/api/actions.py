"""One function per client action. Each takes the caller, the parsed frame and the
invocation's Notifier; the dispatcher answers with `ack` when an action sent nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from livechat.api.protocol import (
    AGENT_ACTIONS,
    VISITOR_ACTIONS,
    AcceptFrame,
    AckEvent,
    AnswerFrame,
    Availability,
    AvailabilityEvent,
    CaptureFrame,
    ChatAcceptedEvent,
    ConversationsEvent,
    ConversationStartedEvent,
    DeclineFrame,
    EndChat,
    GetTranscript,
    InboxEvent,
    ListConversations,
    ListInbox,
    Ping,
    PongEvent,
    RequestChat,
    Resume,
    SendMessage,
    SetStatus,
    StartConversation,
    StatusEvent,
    TranscriptEvent,
    Typing,
    TypingEvent,
)
from livechat.chat import conversations, offers, quota, workflow
from livechat.chat.presence import AGENT, VISITOR, Caller
from livechat.domain import routing, states
from livechat.domain.clock import now_iso
from livechat.domain.errors import BadRequest, Conflict, Forbidden
from livechat.domain.workspace import LiveChatCard, WorkspaceSettings
from livechat.outbound.delivery import Notifier
from livechat.outbound.frames import frame_of, transcript_item
from livechat.runtime import get_settings
from livechat.store import agents, catalog
from livechat.store import transaction as store
from livechat.store.tables import AgentModel, ConversationModel, plain

logger = Logger(child=True)

Handler = Callable[[Caller, Any, Notifier], None]

# The event types that answer each action (see Notifier): anything else is answered by ack.
ANSWER_TYPES: dict[str, frozenset[str]] = {
    "requestChat": frozenset({"routing", "fallback"}),
    "sendMessage": frozenset({"message"}),
    "endChat": frozenset({"chatEnded"}),
}


def _visitor_conversation(caller: Caller, conversation_id: str) -> ConversationModel:
    return conversations.owned_by_visitor(conversation_id, caller.principal)


def _party_conversation(caller: Caller, conversation_id: str) -> ConversationModel:
    if caller.role == VISITOR:
        return _visitor_conversation(caller, conversation_id)
    return conversations.assigned_to_agent(conversation_id, caller.principal)


def _broadcast(conv: ConversationModel, frame: dict[str, Any], notifier: Notifier) -> None:
    """A stored event goes to every connection of the visitor and of the chat's agent."""
    notifier.to_visitor(conv.visitor_id, frame)
    if conv.agent and conv.status == states.ACTIVE:
        notifier.to_agent(conv.agent, frame)


# --- visitor ----------------------------------------------------------------------------

def start_conversation(caller: Caller, frame: StartConversation, notifier: Notifier) -> None:
    conversation_id = conversations.start(caller.principal, frame.dialogId, frame.page,
                                          client_id=frame.clientConversationId)
    notifier.reply(ConversationStartedEvent(conversationId=conversation_id).wire())


def answer(caller: Caller, frame: AnswerFrame, notifier: Notifier) -> None:
    conv = _visitor_conversation(caller, frame.conversationId)
    applied = conversations.answer(conv, frame.cardId, frame.value)
    notifier.reply(AckEvent(action="answer", seq=int(applied.events[0].seq)).wire())
    notifier.to_visitor(conv.visitor_id, frame_of(conv.conversation_id, applied.events[0]),
                        exclude=caller.connection_id)


def capture(caller: Caller, frame: CaptureFrame, notifier: Notifier) -> None:
    conv = _visitor_conversation(caller, frame.conversationId)
    applied = conversations.capture(conv, frame.cardId, frame.fields)
    notifier.reply(AckEvent(action="capture", seq=int(applied.events[0].seq)).wire())
    notifier.to_visitor(conv.visitor_id, frame_of(conv.conversation_id, applied.events[0]),
                        exclude=caller.connection_id)


def request_chat(caller: Caller, frame: RequestChat, notifier: Notifier) -> None:
    conv = _visitor_conversation(caller, frame.conversationId)
    card = catalog.get_dialog(conv.dialog_id).live_chat_card(frame.cardId)
    if card is None:
        raise BadRequest(f"cardId: {frame.cardId!r} is not a live chat card of this dialog")
    try:
        _request_chat(conv, card, notifier)
    except _AlreadyRequested:
        # A retried or concurrent request: the conversation is already being routed.
        notifier.reply({"type": "routing", "conversationId": conv.conversation_id})
        current = store.get_conversation(conv.conversation_id)
        if current.status == states.ROUTING and not current.offers:
            # Moved to routing, never offered: the first request died in between (this is
            # Lambda's retry, or the client's). Route it now; if it is only running late,
            # one of the two routers binds the offer and the other stops.
            settings = catalog.get_workspace_settings()
            if quota.reached(settings):
                offers.fallback(conv.conversation_id, "quota_reached", notifier, settings,
                                target="engagement quota")
            else:
                _route(current, card, notifier, settings)


class _AlreadyRequested(Exception):
    pass


def _to_routing(card_id: str, *, with_event: bool = True
                ) -> Callable[[ConversationModel], store.Change]:
    """automated → routing (the guard against two routers: only one request wins)."""

    def plan(current: ConversationModel) -> store.Change:
        if current.status in (states.ROUTING, states.OFFERED):
            raise _AlreadyRequested(current.status)
        if current.status != states.AUTOMATED:
            raise Conflict(f"live chat was already requested (conversation is {current.status})")
        events = [store.NewEvent("system", "routing", "system", text="Live chat requested",
                                 card_id=card_id)] if with_event else []
        return store.Change(
            events=events,
            actions=[
                ConversationModel.status.set(states.ROUTING),
                ConversationModel.kind.set(states.LIVE_KIND),
                ConversationModel.card_id.set(card_id),
                ConversationModel.route_attempt.add(1),
                ConversationModel.sweep_at.set(offers.sweep_deadline(now_iso())),
            ],
            condition=ConversationModel.status == states.AUTOMATED,
        )

    return plan


def _request_chat(conv: ConversationModel, card: LiveChatCard, notifier: Notifier) -> None:
    if conv.status in (states.ROUTING, states.OFFERED):
        raise _AlreadyRequested(conv.status)
    # One line per request: the template's metric filter counts them (ChatsRequested), the
    # denominator of the fallback rate on the dashboard.
    logger.info("chat requested", conversation_id=conv.conversation_id, card_id=card.id)
    settings = catalog.get_workspace_settings()
    if quota.reached(settings):
        store.apply(conv.conversation_id, _to_routing(card.id, with_event=False),
                    conversation=conv)
        offers.fallback(conv.conversation_id, "quota_reached", notifier, settings,
                        target="engagement quota")
        return
    everyone = agents.list_agents()
    plan = routing.plan(card.routing, offers.attrs_of(conv), everyone)
    by_email = {a.email: a for a in everyone}
    if plan.no_rule_matched or not routing.anyone_eligible(plan, by_email, set()):
        # Nobody can take it: the conversation goes straight to the fallback, whose event
        # is the answer.
        store.apply(conv.conversation_id, _to_routing(card.id, with_event=False),
                    conversation=conv)
        reason = "no_rule_matched" if plan.no_rule_matched else "no_agent"
        offers.fallback(conv.conversation_id, reason, notifier, settings, target=plan.target)
        return
    applied = store.apply(conv.conversation_id, _to_routing(card.id), conversation=conv)
    _broadcast(applied.conversation, frame_of(conv.conversation_id, applied.events[0]), notifier)
    _route(applied.conversation, card, notifier, settings, agent_list=everyone,
           attempt=int(applied.conversation.route_attempt) + 1)


def _route(conv: ConversationModel, card: LiveChatCard, notifier: Notifier,
           settings: WorkspaceSettings, *, agent_list: list[AgentModel] | None = None,
           attempt: int | None = None) -> None:
    """The first offer of a request that is routing (or its fallback). Made here rather
    than by the workflow, so the agent's banner does not wait for an execution to start;
    the workflow's first task finds the offer made and only keeps its time."""
    outcome = offers.route(conv.conversation_id, notifier, settings, agent_list=agent_list,
                           card=card)
    if outcome.result == "offered":
        workflow.start(conv.conversation_id, attempt or int(conv.route_attempt))


def availability(caller: Caller, frame: Availability, notifier: Notifier) -> None:
    dialog = catalog.get_dialog(frame.dialogId)
    if dialog.live_chat_card(frame.cardId) is None:
        raise BadRequest(f"cardId: {frame.cardId!r} is not a live chat card of this dialog")
    # protocol.md: false once the quota is reached, whoever is online.
    available = (not quota.reached(catalog.get_workspace_settings())
                 and any(agents.is_eligible(a) for a in agents.list_agents()))
    notifier.reply(AvailabilityEvent(dialogId=frame.dialogId, cardId=frame.cardId,
                                     available=available).wire())


# --- agent ------------------------------------------------------------------------------

def set_status(caller: Caller, frame: SetStatus, notifier: Notifier) -> None:
    agents.set_status(caller.principal, frame.status)
    # Answered by ack (the dispatcher's default); the agent's other tabs follow the change.
    notifier.to_agent(caller.principal, StatusEvent(status=frame.status).wire(),
                      exclude=caller.connection_id)


def accept(caller: Caller, frame: AcceptFrame, notifier: Notifier) -> None:
    agent = agents.get_agent(caller.principal)
    applied = offers.accept(frame.conversationId, frame.offerId, agent, notifier,
                            catalog.get_workspace_settings())
    conv = applied.conversation
    events = conversations.transcript_events(frame.conversationId)
    notifier.reply(ChatAcceptedEvent(
        conversationId=frame.conversationId,
        visitor=plain(conv.visitor) or {},
        page=plain(conv.page) or {},
        transcript=[transcript_item(e) for e in events],
    ).wire())
    joined = frame_of(frame.conversationId, applied.events[0])
    notifier.to_visitor(conv.visitor_id, joined)
    notifier.to_agent(caller.principal, joined, exclude=caller.connection_id,
                      connections=agent.connections or set())


def decline(caller: Caller, frame: DeclineFrame, notifier: Notifier) -> None:
    offers.decline(frame.conversationId, frame.offerId, caller.principal)
    notifier.reply(AckEvent(action="decline").wire())
    notifier.to_agent(caller.principal,
                      offers.withdrawn_frame(frame.conversationId, frame.offerId, "declined"),
                      exclude=caller.connection_id)
    # A decline does at once what the timeout would have done next.
    workflow.next_step(store.get_conversation(frame.conversationId), notifier,
                       catalog.get_workspace_settings())


def list_inbox(caller: Caller, frame: ListInbox, notifier: Notifier) -> None:
    status = agents.get_agent(caller.principal).status
    notifier.reply(InboxEvent(chats=conversations.inbox(caller.principal), status=status).wire())


def list_conversations(caller: Caller, frame: ListConversations, notifier: Notifier) -> None:
    items, cursor = conversations.list_all(frame.cursor)
    notifier.reply(ConversationsEvent(items=items, cursor=cursor).wire())


def get_transcript(caller: Caller, frame: GetTranscript, notifier: Notifier) -> None:
    if caller.role == VISITOR:
        conv = _visitor_conversation(caller, frame.conversationId)
    else:
        conv = store.get_conversation(frame.conversationId)
    notifier.reply(TranscriptEvent(**conversations.transcript(conv)).wire())


# --- both -------------------------------------------------------------------------------

def send_message(caller: Caller, frame: SendMessage, notifier: Notifier) -> None:
    limit = get_settings().max_message_chars
    if len(frame.text) > limit:
        raise BadRequest(f"text: longer than {limit} characters")
    if not frame.text.strip():
        raise BadRequest("text: empty message")
    conv = _party_conversation(caller, frame.conversationId)
    applied = conversations.send_message(conv, caller.role, frame.text, frame.clientMessageId)
    if applied.duplicate_of is not None:
        notifier.reply(frame_of(conv.conversation_id, applied.duplicate_of))
        return
    _broadcast(applied.conversation, frame_of(conv.conversation_id, applied.events[0]), notifier)


def typing(caller: Caller, frame: Typing, notifier: Notifier) -> None:
    conv = _party_conversation(caller, frame.conversationId)
    if conv.status != states.ACTIVE:
        raise Conflict("the chat is not live")
    event = TypingEvent(conversationId=conv.conversation_id, isTyping=frame.isTyping,
                        **{"from": caller.role}).wire()
    if caller.role == VISITOR and conv.agent:
        notifier.to_agent(conv.agent, event)
    else:
        notifier.to_visitor(conv.visitor_id, event)


def end_chat(caller: Caller, frame: EndChat, notifier: Notifier) -> None:
    conv = _party_conversation(caller, frame.conversationId)
    if conv.status == states.ENDED and conv.end_reason == caller.role and conv.agent:
        # This side already ended the live chat: a retried endChat (the first committed
        # and died before telling anyone) or a second tab. Tell both sides again.
        last = store.events_after(conv.conversation_id, int(conv.last_seq) - 1)
        if last and last[0].type == "chatEnded":
            _broadcast_end(conv, frame_of(conv.conversation_id, last[0]), notifier)
            return
    was = conv.status
    applied, withdrawn_offer = conversations.end(conv, caller.role)
    if withdrawn_offer and conv.offer_agent:
        notifier.to_agent(conv.offer_agent, offers.withdrawn_frame(
            conv.conversation_id, withdrawn_offer, "visitor_left"))
    if not applied.events:
        return  # an automated conversation closed: answered by ack
    ended = frame_of(conv.conversation_id, applied.events[0])
    if was != states.ACTIVE:
        # Still being routed or offered: the protocol answers with ack; the visitor's
        # other tabs learn it ended.
        notifier.reply(AckEvent(action="endChat").wire())
        notifier.to_visitor(conv.visitor_id, ended, exclude=caller.connection_id)
        return
    _broadcast_end(conv, ended, notifier)


def _broadcast_end(conv: ConversationModel, ended: dict[str, Any], notifier: Notifier) -> None:
    notifier.to_visitor(conv.visitor_id, ended)
    if conv.agent:
        notifier.to_agent(conv.agent, ended)


def resume(caller: Caller, frame: Resume, notifier: Notifier) -> None:
    conv = _party_conversation(caller, frame.conversationId)
    last = frame.afterSeq
    for event in store.events_after(conv.conversation_id, frame.afterSeq):
        notifier.send(caller.connection_id, frame_of(conv.conversation_id, event))
        last = int(event.seq)
    notifier.reply(AckEvent(action="resume", seq=last).wire())


def ping(caller: Caller, frame: Ping, notifier: Notifier) -> None:
    notifier.reply(PongEvent().wire())


HANDLERS: dict[str, Handler] = {
    "startConversation": start_conversation,
    "answer": answer,
    "capture": capture,
    "requestChat": request_chat,
    "availability": availability,
    "setStatus": set_status,
    "accept": accept,
    "decline": decline,
    "listInbox": list_inbox,
    "listConversations": list_conversations,
    "getTranscript": get_transcript,
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

