"""The chat lifecycle under random interleavings (issue 7, "Reliability").

A Hypothesis state machine drives the real handlers — ws_connect, ws_message, the
route_chat tasks (offer, deadline, rescue), timeout_sweeper and notify_failure — through
API Gateway-shaped events: visitors request chats, agents accept and decline, offers time
out, either side sends messages and ends the chat, connections close (cleanly or silently)
and come back, the sweeper runs, a workflow gives up (rescue), and Lambdas are retried (a
frame re-sent, a deadline task re-run, a notify_failure invocation re-run, a $disconnect
delivered twice).

Step Functions only keeps time in this design, so the test plays the timer: it moves a
controllable clock past an offer's deadline and runs the deadline task itself (no state
machine is configured, so no execution starts behind our back).

After every step the invariants read the table, never the model: capacity and slot
markers, one outcome per conversation, gap-free seq, one fallback and one e-mail per
unanswered request, and the visitor's view agreeing with what is stored.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
import pytest
from hypothesis import event as hypothesis_event
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from livechat import runtime
from livechat.api import auth
from livechat.domain import routing, states
from livechat.domain.clock import iso, now_iso, parse_iso
from livechat.domain.transitions import SWEEP_GRACE_SECONDS
from livechat.store import agents
from livechat.store import conversations as kept
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from functions.ws_connect import app as ws_connect_app
from functions.ws_message import app as ws_message_app
from livechat_local.lambdas import Dispatcher
from tests.support.aws import REGION, TABLE, Gateway
from tests.support.clock import FakeClock, controlled_clock
from tests.support.template import load_template, table_create_kwargs
from tests.support.workflow import SENDER, alias_arn, sent_mails
from tests.support.workflow import TEAM as TEAM_MAILBOX
from tests.support.world import LambdaContext, World, disconnect_event, message_event

pytestmark = [pytest.mark.integration, pytest.mark.hypothesis]

AGENTS = ("alice@example.com", "bob@example.com", "carol@example.com")
TEAM = "emea"
VISITORS = 3
MAX_CONVERSATIONS = 8  # per example, and at most MAX_OPEN open at once: enough to fill
MAX_OPEN = 4  # every agent (3 agents, 1-2 slots), few enough to keep a step cheap
ACCEPT_TIMEOUT = 100
INACTIVITY = 600
FRAME_SECONDS = 1.0  # the clock moves this much before each frame: no two share an instant
FALLBACK = "We'll e-mail you."
INBOX = "https://chat.example.com/inbox"
VERA = {"firstName": "Vera", "email": "vera@acme.io"}
OUTCOMES = ("agentJoined", "fallback")
EXPLORE = os.environ.get("HYPOTHESIS_PROFILE") == "explore"
# The default profile keeps this file within ~2 minutes on the 2-core machine (30 examples
# of up to 30 steps: 50-90 s). The explore profile runs longer walks, 400 of them (~20
# minutes). LIFECYCLE_EXAMPLES overrides the default count (a mutation run, a quick look).
EXAMPLES = 400 if EXPLORE else int(os.environ.get("LIFECYCLE_EXAMPLES", "30"))
STEPS = 50 if EXPLORE else 30


@dataclass
class RecordingDispatcher(Dispatcher):
    """The local stack's Lambda dispatcher (async invocations run inline, with Lambda's
    retries), remembering every event it handed to a function so a test can re-deliver
    one as Lambda's own retry would."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def call(self, name: str, event: dict[str, Any]) -> Any:
        self.calls.append((name, json.loads(json.dumps(event))))
        return super().call(name, event)


@dataclass
class Harness:
    """What outlives one example: moto, the gateway recorder, the Cognito pool and its
    users (the handlers never change them), the dispatcher and the clock."""

    gateway: Gateway
    world: World
    dispatcher: RecordingDispatcher
    clock: FakeClock
    tokens: dict[str, str] = field(default_factory=dict)
    seen: Counter[str] = field(default_factory=Counter)  # what the steps did, over the run

    def agent_token(self, email: str) -> str:
        # ID tokens live an hour of real time; one per agent serves a default-profile run,
        # and the explore run refreshes them on every example (fresh_world clears them).
        if email not in self.tokens:
            self.tokens[email] = self.world.token(email)
        return self.tokens[email]


@dataclass
class Conn:
    id: str
    role: str  # agent | visitor
    who: str  # the agent's e-mail or the visitor id
    alive: bool = True  # the socket is open (posts reach it)
    registered: bool = True  # no $disconnect delivered yet



@dataclass
class Table:
    agents: dict[str, dict[str, Any]]
    convs: dict[str, dict[str, Any]]
    events: dict[str, list[dict[str, Any]]]
    cmids: dict[str, dict[tuple[str, str], int]]  # (from, clientMessageId) -> seq


def read_table() -> Table:
    """Every item of the table, as plain Python values. Read from moto's store itself: the
    same items a consistent Scan returns, without serializing each of them to JSON and back
    on every step (a Scan per step was half of this test's time)."""
    stored = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].get_table(TABLE).all_items()
    items = [item.to_regular_json() for item in stored]
    table = Table({}, {}, defaultdict(list), defaultdict(dict))
    clocks: dict[str, dict[str, Any]] = {}
    for item in items:
        pk, sk = str(item["pk"]), str(item["sk"])
        if pk == "AGENT" and item.get("kind") != "rr-cursor":  # the cursors share the agents' partition
            table.agents[sk] = item
        elif pk.startswith("CONV#"):
            cid = pk.removeprefix("CONV#")
            if sk == "META":
                table.convs[cid] = item
            elif sk == "META#CLOCK":
                clocks[cid] = item
            elif sk.startswith("EVT#"):
                table.events[cid].append(item)
            elif sk.startswith("CMID#"):  # a message, under its clientMessageId
                table.events[cid].append(item)
                table.cmids[cid][(str(item["from"]), str(item["client_message_id"]))] = int(item["seq"])
    for cid, clock in clocks.items():  # what the clock says is current (store.transaction)
        if cid in table.convs:
            table.convs[cid] |= {k: v for k, v in clock.items() if k not in ("pk", "sk", "expiration")}
    for events in table.events.values():
        events.sort(key=lambda e: int(e["seq"]))
    return table


COUNTED = {"requestChat", "accept", "decline", "endChat", "sendMessage"}


def outcome_of(answer: dict[str, Any] | None) -> str:
    if answer is None:
        return "no answer (socket closed)"
    return f"{answer['type']} {answer['code']}" if answer["type"] == "error" else str(answer["type"])


def holds(conv: dict[str, Any], email: str) -> bool:
    """The conversation really holds this agent: offered to it, or accepted by it and open."""
    if conv.get("status") == states.OFFERED:
        return conv.get("offer_agent") == email
    return conv.get("status") == states.ACTIVE and conv.get("agent") == email


class Lifecycle(RuleBasedStateMachine):
    def __init__(self, harness: Harness) -> None:
        super().__init__()
        self.h = harness
        self.world = harness.world
        self.clock = harness.clock
        self.fresh_world()
        self.conns: dict[str, Conn] = {}
        self.log: dict[str, list[dict[str, Any]]] = defaultdict(list)  # every frame a connection got
        self.visitors: list[tuple[str, str]] = []  # (token, visitor id)
        self.conv_visitor: dict[str, str] = {}
        self.convs: list[str] = []
        self.team_routed = False
        self.team_members: set[str] = set()
        self.retries = 0
        self.rids = itertools.count(1)
        self.request_conv: dict[str, str] = {}  # requestId -> the conversation it names
        self.last_frame: dict[str, tuple[str, dict[str, Any]]] = {}  # action -> (conn id, event)
        self.last_route_chat: dict[str, Any] | None = None
        self.last_disconnect: dict[str, Any] | None = None
        self.table = Table({}, {}, defaultdict(list), defaultdict(dict))  # as of the last step

    # --- the world ------------------------------------------------------------------------

    def fresh_world(self) -> None:
        """A fresh table: nothing of the previous example survives but the Cognito users and
        the SES identity (its sent mails are counted from a baseline)."""
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.delete_table(TableName=TABLE)
        kwargs = table_create_kwargs(load_template())
        kwargs["TableName"] = TABLE
        ddb.create_table(**kwargs)
        # The process caches (settings, boto3 clients, PynamoDB's table binding, the JWKS)
        # hold only what every example shares: the environment, the table's name and
        # schema, the Cognito pool. They are reset once per test by the `aws` fixture, not
        # per example: rebuilding every client made each example several times slower.
        self.h.gateway.frames.clear()
        self.h.gateway.dead.clear()
        self.world.leftovers.clear()
        self.h.dispatcher.calls.clear()
        if EXPLORE:
            self.h.tokens.clear()
        self.mail_baseline = len(sent_mails())

    @initialize(
        mode=st.sampled_from(["team", "round_robin"]),
        retries=st.integers(0, 2),
        max_chats=st.tuples(*(st.integers(1, 2) for _ in AGENTS)),
        carol_in_team=st.booleans(),
    )
    def configure(self, mode: str, retries: int, max_chats: tuple[int, ...],
                  carol_in_team: bool) -> None:
        self.world.settings(
            accept_timeout_seconds=ACCEPT_TIMEOUT, inactivity_timeout_seconds=INACTIVITY,
            team_retry_agents=retries, fallback_message=FALLBACK,
            failure_emails={"from": SENDER, "to": [TEAM_MAILBOX]},
        )
        self.team_routed = mode == "team"
        self.retries = retries
        self.world.live_dialog(
            "sales", {"mode": "team", "team": TEAM} if self.team_routed else {"mode": "round_robin"})
        self.team_members = {AGENTS[0], AGENTS[1]} | ({AGENTS[2]} if carol_in_team else set())
        for email, limit in zip(AGENTS, max_chats, strict=True):
            self.world.agent(email, max_chats=limit,
                             teams=(TEAM,) if email in self.team_members else ())
            self.connect_agent(email)
        for _ in range(VISITORS):
            session = self.world.visitor_token()
            assert session["status"] == 200, session
            token = str(session["visitorToken"])
            self.visitors.append((token, auth.verify_visitor_token(token).visitor_id))

    # --- plumbing -------------------------------------------------------------------------

    def event(self, label: str) -> None:
        """Count what a step did: Hypothesis' statistics, and the run's own tally."""
        hypothesis_event(label)
        self.h.seen[label] += 1

    def harvest(self) -> None:
        """Move what the gateway delivered into each connection's log."""
        for connection_id in list(self.h.gateway.frames):
            self.log[connection_id].extend(self.h.gateway.take(connection_id))

    def deliver(self, connection_id: str, event: dict[str, Any], request_id: str
                ) -> dict[str, Any] | None:
        """Run ws_message on an event; its one answer (None if the socket is closed)."""
        seen = len(self.log[connection_id])
        self.clock.advance(FRAME_SECONDS)
        ws_message_app.handler(event, LambdaContext())
        self.harvest()
        answers = [f for f in self.log[connection_id][seen:] if f.get("requestId") == request_id]
        if not self.conns[connection_id].alive:
            assert answers == [], answers  # a post to a closed socket is Gone
            return None
        assert len(answers) == 1, f"expected one answer, got {self.log[connection_id][seen:]}"
        return answers[0]

    def send(self, conn: Conn, action: str, **fields: Any) -> dict[str, Any]:
        request_id = f"q{next(self.rids)}"
        frame = message_event(conn.id, json.dumps({"action": action, "requestId": request_id,
                                                   **fields}))
        self.last_frame[action] = (conn.id, frame)
        if "conversationId" in fields:
            self.request_conv[request_id] = str(fields["conversationId"])
        answer = self.deliver(conn.id, frame, request_id)
        assert answer is not None
        if action in COUNTED:
            self.event(f"{action} -> {outcome_of(answer)}")
        return answer

    def route_chat(self, event: dict[str, Any]) -> dict[str, Any]:
        self.last_route_chat = event
        result: dict[str, Any] = self.h.dispatcher.call("route_chat", dict(event))
        self.harvest()
        return result

    def live(self, role: str, who: str | None = None) -> list[Conn]:
        return [c for c in self.conns.values()
                if c.alive and c.registered and c.role == role and (who is None or c.who == who)]

    def connect_agent(self, email: str) -> Conn:
        status, connection_id = self.world.connect({"token": self.h.agent_token(email)})
        assert status == 200, status
        conn = self.conns[connection_id] = Conn(connection_id, "agent", email)
        return conn

    def connect_visitor(self, index: int) -> Conn:
        token, visitor_id = self.visitors[index]
        status, connection_id = self.world.connect({"visitorToken": token})
        assert status == 200, status
        conn = self.conns[connection_id] = Conn(connection_id, "visitor", visitor_id)
        return conn

    def frames_of(self, who: str) -> list[dict[str, Any]]:
        return [f for c in self.conns.values() if c.who == who for f in self.log[c.id]]

    def seen_seqs(self, visitor_id: str, conversation_id: str) -> set[int]:
        """The events a visitor has seen: pushed frames, and the acks of its own answers and
        captures (which are not echoed to the connection that sent them)."""
        seqs = set()
        for frame in self.frames_of(visitor_id):
            # Acks do not name their conversation: the request they answer does.
            cid = frame.get("conversationId") or self.request_conv.get(str(frame.get("requestId")))
            if cid != conversation_id:
                continue
            if "seq" not in frame:
                continue
            if frame["type"] == "ack" and frame.get("action") not in ("answer", "capture"):
                continue
            seqs.add(int(frame["seq"]))
        return seqs

    def with_status(self, *wanted: str) -> list[str]:
        """Our conversations in these states, as the last step's scan read them (in the
        order they were made, so that a replayed example picks the same ones)."""
        return [cid for cid in self.convs
                if cid in self.table.convs and self.table.convs[cid]["status"] in wanted]

    def with_offers(self) -> list[str]:
        return [cid for cid in self.convs if self.table.convs.get(cid, {}).get("offers")]

    def pick_conversation(self, data: st.DataObject) -> str:
        """Mostly an open conversation; one time in five any of them (a late frame about a
        conversation that has ended)."""
        open_ = self.with_status(*states.OPEN)
        if open_ and data.draw(st.integers(0, 4), label="any conversation") < 4:
            return data.draw(st.sampled_from(open_), label="conversation")
        return data.draw(st.sampled_from(self.convs), label="conversation")

    def can_retry(self) -> bool:
        return bool(self.last_frame or self.last_route_chat or self.last_disconnect
                    or any(name == "notify_failure" for name, _ in self.h.dispatcher.calls))

    def pick_offer(self, data: st.DataObject) -> tuple[str, str, Conn] | None:
        """An offer to answer, and the agent connection that answers it. Mostly the current
        offer of an offered conversation, from its own agent; one time in five an older
        offer of any conversation (a stale banner), one time in five another agent (a
        forged or mistaken offerId). Shrinking goes to the plain case (draws of 0)."""
        offered = self.with_status(states.OFFERED)
        if data.draw(st.integers(0, 4), label="stale offer") < 4:
            cid = data.draw(st.sampled_from(offered), label="conversation")
            conv = self.table.convs[cid]
            offer_id, offered_to = str(conv["offer_id"]), str(conv["offer_agent"])
        else:
            cid = data.draw(st.sampled_from(self.with_offers()), label="conversation")
            history = [(str(o["offerId"]), str(o["agent"]))
                       for o in self.table.convs[cid]["offers"]]
            offer_id, offered_to = data.draw(st.sampled_from(history), label="offer")
        own = self.live("agent", offered_to)
        others = [c for c in self.live("agent") if c.who != offered_to]
        if others and (not own or data.draw(st.integers(0, 4), label="other agent") == 4):
            return cid, offer_id, data.draw(st.sampled_from(others), label="connection")
        if not own:
            return None
        return cid, offer_id, data.draw(st.sampled_from(own), label="connection")

    def expect_offer_error(self, answer: dict[str, Any], before: Any, offer_id: str,
                           email: str) -> None:
        mine = any(o["offerId"] == offer_id and o["agent"] == email for o in before.offers)
        # Someone else's offer looks exactly like a missing one (protocol: NOT_FOUND).
        expected = "OFFER_EXPIRED" if mine else "NOT_FOUND"
        assert (answer["type"], answer.get("code")) == ("error", expected), answer
        after = kept.get(before.conversation_id)
        assert (after.status, after.offer_id, after.last_seq) == (
            before.status, before.offer_id, before.last_seq)

    # --- rules ----------------------------------------------------------------------------

    @precondition(lambda self: len(self.convs) < MAX_CONVERSATIONS
                  and len(self.with_status(*states.OPEN)) < MAX_OPEN)
    @rule(visitor=st.integers(0, VISITORS - 1))
    def request(self, visitor: int) -> None:
        """A visitor walks the dialog to the live chat card and asks for an agent."""
        _token, visitor_id = self.visitors[visitor]
        conn = next(iter(self.live("visitor", visitor_id)), None) or self.connect_visitor(visitor)
        started = self.send(conn, "startConversation", dialogId="sales",
                            page={"url": "https://example.com/pricing"})
        assert started["type"] == "conversationStarted", started
        cid = str(started["conversationId"])
        self.convs.append(cid)
        self.conv_visitor[cid] = visitor_id
        for action, fields in (("answer", {"cardId": "ask", "value": "Yes"}),
                               ("capture", {"cardId": "who", "fields": VERA})):
            answer = self.send(conn, action, conversationId=cid, **fields)
            assert answer["type"] == "ack", answer
        someone = any(routing.is_eligible(a) for a in agents.list_agents())

        answer = self.send(conn, "requestChat", conversationId=cid, cardId="live")

        if someone:
            assert answer["type"] == "routing", answer
        else:
            assert (answer["type"], answer.get("reason")) == ("fallback", "no_agent"), answer
        # An execution of an earlier definition starts with an Offer task: it finds the
        # offer made by requestChat and only keeps its time (or, with no offer, has nothing
        # to do). This definition starts at the Wait; route_chat still answers that task.
        before = kept.get(cid)
        result = self.route_chat({"task": "offer", "conversationId": cid})
        after = kept.get(cid)
        assert (after.status, after.offer_id, after.last_seq) == (
            before.status, before.offer_id, before.last_seq)
        if before.status == states.OFFERED:
            wait = math.ceil((parse_iso(before.offer_expires_at or "") - self.clock.now()
                              ).total_seconds())
            assert result == {"outcome": "wait", "waitSeconds": wait}, result
        else:
            assert result["outcome"] == "done", result

    @precondition(lambda self: bool(self.with_status(states.OFFERED)))
    @rule(data=st.data())
    def accept(self, data: st.DataObject) -> None:
        picked = self.pick_offer(data)
        if picked is None:
            return
        cid, offer_id, conn = picked
        before = kept.get(cid)

        answer = self.send(conn, "accept", conversationId=cid, offerId=offer_id)

        # Accept wins only for the current, unexpired offer of this very agent (the clock
        # stands still from the frame's arrival until the next frame).
        if (before.status == states.OFFERED and before.offer_id == offer_id
                and before.offer_agent == conn.who and (before.offer_expires_at or "") > now_iso()):
            assert answer["type"] == "chatAccepted", answer
            after = kept.get(cid)
            assert (after.status, after.agent) == (states.ACTIVE, conn.who)
        elif (before.status == states.ACTIVE and before.offer_id == offer_id
              and before.agent == conn.who):
            # Accepting again the chat one already has (a retried accept whose answer was
            # lost) answers with that chat and changes nothing.
            assert answer["type"] == "chatAccepted", answer
            after = kept.get(cid)
            assert (after.status, after.last_seq) == (before.status, before.last_seq)
        else:
            self.expect_offer_error(answer, before, offer_id, conn.who)

    @precondition(lambda self: bool(self.with_status(states.OFFERED)))
    @rule(data=st.data())
    def decline(self, data: st.DataObject) -> None:
        picked = self.pick_offer(data)
        if picked is None:
            return
        cid, offer_id, conn = picked
        before = kept.get(cid)

        answer = self.send(conn, "decline", conversationId=cid, offerId=offer_id)

        # A decline after the deadline, before the deadline task ran, still counts: it
        # ends the offer exactly as the timeout would have.
        if (before.status == states.OFFERED and before.offer_id == offer_id
                and before.offer_agent == conn.who):
            assert answer["type"] == "ack", answer
            after = kept.get(cid)
            assert after.offer_id != offer_id or after.status != states.OFFERED
            assert [o["outcome"] for o in after.offers if o["offerId"] == offer_id] == ["declined"]
        elif any(o["offerId"] == offer_id and o["agent"] == conn.who and o.get("outcome") == "declined"
                 for o in before.offers):
            # The same decline again (Lambda's retry, a second tab): acked; it runs the next
            # step if that had not run, and otherwise changes nothing.
            assert answer["type"] == "ack", answer
            if before.status != states.ROUTING:
                after = kept.get(cid)
                assert (after.status, after.offer_id, after.last_seq) == (
                    before.status, before.offer_id, before.last_seq)
        else:
            self.expect_offer_error(answer, before, offer_id, conn.who)

    @precondition(lambda self: bool(self.with_status(states.OFFERED)))
    @rule(data=st.data(), when=st.sampled_from(["due", "early", "lapsed"]),
          overshoot=st.sampled_from([0.0, 0.001, 1.0, 25.0]))
    def timeout(self, data: st.DataObject, when: str, overshoot: float) -> None:
        """The offer's deadline passes and the workflow's deadline task runs ("due"); or the
        task runs early, as one scheduled for a superseded offer would ("early"); or the
        deadline passes and the task has not run yet ("lapsed": whatever comes next, an
        accept, a decline, a sweep, meets an expired offer that is still on record)."""
        cid = data.draw(st.sampled_from(self.with_status(states.OFFERED)), label="conversation")
        before = kept.get(cid)
        expires = parse_iso(before.offer_expires_at or "")
        if when != "early":
            self.clock.advance_to(expires + timedelta(seconds=overshoot))
        if when == "lapsed":
            self.event(f"offer lapsed (+{overshoot}s)")
            return

        result = self.route_chat({"task": "deadline", "conversationId": cid})
        self.event(f"deadline task ({when}, +{overshoot}s) -> {result['outcome']}")

        after = kept.get(cid)
        if expires > self.clock.now():
            wait = math.ceil((expires - self.clock.now()).total_seconds())
            assert result == {"outcome": "wait", "waitSeconds": wait}, result
            assert (after.offer_id, after.last_seq) == (before.offer_id, before.last_seq)
        else:
            assert [o["outcome"] for o in after.offers if o["offerId"] == before.offer_id] == [
                "expired"]
            assert result["outcome"] == ("wait" if after.status == states.OFFERED else "done")

    @precondition(lambda self: bool(self.convs))
    @rule(data=st.data())
    def rescue(self, data: st.DataObject) -> None:
        """A workflow task failed for good and its Catch runs the rescue task: an open offer
        is withdrawn and the visitor gets the fallback; anything else is left alone."""
        cid = self.pick_conversation(data)
        before = kept.get(cid)

        result = self.route_chat({"task": "rescue", "conversationId": cid,
                                  "error": {"Error": "States.TaskFailed"}})
        self.event(f"rescue ({before.status}) -> {result['outcome']}")

        after = kept.get(cid)
        assert result["outcome"] == "done", result
        if before.status in (states.ROUTING, states.OFFERED):
            assert (after.status, after.fallback_reason) == (states.FALLBACK, "not_accepted")
            assert [o["outcome"] for o in after.offers if o["offerId"] == before.offer_id] in (
                [], ["expired"])
        else:
            assert (after.status, after.last_seq) == (before.status, before.last_seq)

    @precondition(lambda self: bool(self.convs))
    @rule(data=st.data(), side=st.sampled_from(["visitor", "agent"]))
    def end(self, data: st.DataObject, side: str) -> None:
        cid = self.pick_conversation(data)
        before = kept.get(cid)
        if side == "visitor":
            conns = self.live("visitor", self.conv_visitor[cid])
        else:
            conns = sorted(self.live("agent"), key=lambda c: c.who != before.agent)
        if not conns:
            return
        conn = data.draw(st.sampled_from(conns), label="connection")

        answer = self.send(conn, "endChat", conversationId=cid)

        after = kept.get(cid)
        if side == "agent" and before.agent != conn.who:
            assert (answer["type"], answer.get("code")) == ("error", "NOT_FOUND"), answer
        elif before.status == states.ENDED and before.end_reason == side and before.agent:
            # This side ended the live chat already (a retried endChat, a second tab): both
            # sides are told again, nothing changes.
            assert (answer["type"], answer.get("reason")) == ("chatEnded", side), answer
            assert after.last_seq == before.last_seq
        elif before.status not in states.OPEN or (side == "agent" and before.status != states.ACTIVE):
            assert (answer["type"], answer.get("code")) == ("error", "CONFLICT"), answer
        elif before.status == states.ACTIVE:
            assert (answer["type"], answer.get("reason")) == ("chatEnded", side), answer
            assert after.status == states.ENDED
        else:
            assert answer["type"] == "ack", answer  # a request withdrawn: the protocol acks
            assert after.status == states.ENDED
        if answer["type"] == "error":
            assert (after.status, after.last_seq) == (before.status, before.last_seq)

    @precondition(lambda self: bool(self.convs))
    @rule(data=st.data(), side=st.sampled_from(["visitor", "agent"]), n=st.integers(0, 2))
    def message(self, data: st.DataObject, side: str, n: int) -> None:
        """Either side says something; clientMessageIds repeat within a conversation (a
        client re-sending a message it was not sure had arrived), and the two sides' clients
        make up the same ids (each its own: the other side's message with it is not a retry)."""
        cid = self.pick_conversation(data)
        before = kept.get(cid)
        if side == "visitor":
            conns = self.live("visitor", self.conv_visitor[cid])
        else:
            conns = sorted(self.live("agent"), key=lambda c: c.who != before.agent)
        if not conns:
            return
        conn = data.draw(st.sampled_from(conns), label="connection")
        cmid = f"m-{n}"
        stored, _ = kept.client_message(cid, cmid, side)

        answer = self.send(conn, "sendMessage", conversationId=cid, text=f"{side} says {n}",
                           clientMessageId=cmid)

        after = kept.get(cid)
        allowed = {states.ROUTING, states.OFFERED, states.ACTIVE} if side == "visitor" else {
            states.ACTIVE}
        if side == "agent" and before.agent != conn.who:
            assert (answer["type"], answer.get("code")) == ("error", "NOT_FOUND"), answer
        elif before.status not in allowed:
            assert (answer["type"], answer.get("code")) == ("error", "CONFLICT"), answer
        elif stored is not None:
            # The retried message is answered with the one stored, and stored once.
            assert (answer["type"], answer.get("seq")) == ("message", int(stored.seq)), answer
            assert after.last_seq == before.last_seq
        else:
            assert (answer["type"], answer.get("seq"), answer.get("from")) == (
                "message", int(before.last_seq) + 1, side), answer
        if answer["type"] == "error":
            assert (after.status, after.last_seq) == (before.status, before.last_seq)

    @rule(data=st.data(), silently=st.booleans())
    def disconnect(self, data: st.DataObject, silently: bool) -> None:
        """A connection closes: API Gateway delivers $disconnect, or the browser vanished
        and only a post answered 410 Gone will tell (silently)."""
        conns = [c for c in self.conns.values() if c.registered]
        if not conns:
            return
        conn = data.draw(st.sampled_from(conns), label="connection")
        conn.alive = False
        self.h.gateway.dead.add(conn.id)
        if silently:
            return
        conn.registered = False
        self.last_disconnect = disconnect_event(conn.id)
        ws_connect_app.handler(self.last_disconnect, LambdaContext())

    @rule(data=st.data(), role=st.sampled_from(["visitor", "agent"]))
    def reconnect(self, data: st.DataObject, role: str) -> None:
        """A new connection for the same identity, which then resumes what it missed."""
        if role == "agent":
            email = data.draw(st.sampled_from(AGENTS), label="agent")
            conn = self.connect_agent(email)
            inbox = self.send(conn, "listInbox")
            table = read_table()
            assert sorted(c["conversationId"] for c in inbox["chats"]) == sorted(
                cid for cid, conv in table.convs.items()
                if conv["status"] == states.ACTIVE and conv.get("agent") == email)
            for chat in inbox["chats"]:
                answer = self.send(conn, "resume", conversationId=chat["conversationId"], afterSeq=0)
                assert answer["type"] == "ack", answer
            return
        index = data.draw(st.integers(0, VISITORS - 1), label="visitor")
        conn = self.connect_visitor(index)
        visitor_id = conn.who
        for cid in [c for c in self.convs if self.conv_visitor[c] == visitor_id]:
            seen = self.seen_seqs(visitor_id, cid)
            # Resume from just before the first event it has not seen, or (a client that
            # lost its place) from anywhere earlier.
            first_hole = next(i for i in itertools.count() if i + 1 not in seen)
            after_seq = data.draw(st.integers(0, first_hole), label="afterSeq")
            already = len(self.log[conn.id])
            answer = self.send(conn, "resume", conversationId=cid, afterSeq=after_seq)
            last = int(kept.get(cid).last_seq)
            # Every event after afterSeq, in order, then the ack naming the last one.
            replayed = [int(f["seq"]) for f in self.log[conn.id][already:]
                        if f.get("conversationId") == cid and "seq" in f]
            assert replayed == list(range(after_seq + 1, last + 1)), (cid, after_seq, replayed)
            assert (answer["type"], answer.get("seq")) == ("ack", max(after_seq, last)), answer
            # A reconnecting visitor gets everything it missed: no hole in what it saw.
            assert self.seen_seqs(visitor_id, cid) >= set(range(1, last + 1)), (cid, last)

    @rule(advance=st.sampled_from([0, 30, ACCEPT_TIMEOUT + SWEEP_GRACE_SECONDS + 1, INACTIVITY + 1]))
    def sweep(self, advance: int) -> None:
        """The minute sweep, after some time: none, a little, long enough for an offer to
        lapse and pass its sweep grace (as if its workflow had died), or past the
        inactivity timeout."""
        self.clock.advance(advance)

        report = self.h.dispatcher.call("timeout_sweeper", {})
        self.harvest()

        # Drift means a bug somewhere else: every write keeps the counter exact.
        assert report["repaired"] == 0, report
        self.event(f"sweep (+{advance}s): expired {report['expired']}, recovered {report['recovered']}")
        table = read_table()
        cutoff = iso(self.clock.now() - timedelta(seconds=INACTIVITY))
        moment = now_iso()
        for cid, conv in table.convs.items():
            if conv["status"] == states.ACTIVE:  # its index key may lag its last message
                assert max(conv["live_activity_at"], conv["last_activity_at"]) >= cutoff, (cid, conv)
            if conv["status"] in (states.ROUTING, states.OFFERED):
                assert conv["sweep_at"] >= moment, (cid, conv)  # past-due requests recovered

    @precondition(lambda self: self.can_retry())
    @rule(data=st.data(), kind=st.sampled_from(["frame", "deadline", "notify", "disconnect"]))
    def retry(self, data: st.DataObject, kind: str) -> None:
        """A Lambda retried: the exact last event a handler got, delivered again."""
        if kind == "frame" and self.last_frame:
            action = data.draw(st.sampled_from(sorted(self.last_frame)), label="action")
            connection_id, frame = self.last_frame[action]
            conn = self.conns[connection_id]
            if not (conn.alive and conn.registered):
                # The client re-sends it after reconnecting (same frame, new connection).
                others = self.live(conn.role, conn.who)
                if not others:
                    return
                conn = others[0]
                frame = message_event(conn.id, frame["body"])
            body = json.loads(frame["body"])
            stored = (kept.client_message(body["conversationId"], body["clientMessageId"], conn.role)[0]
                      if action == "sendMessage" else None)
            last_seq = (kept.get(body["conversationId"]).last_seq
                        if action == "sendMessage" else None)
            answer = self.deliver(conn.id, frame, body["requestId"])
            self.event(f"retried {action} -> {outcome_of(answer)}")
            if stored is not None and answer is not None and answer["type"] == "message":
                assert answer["seq"] == int(stored.seq), answer
                assert kept.get(body["conversationId"]).last_seq == last_seq
        elif kind == "deadline" and self.last_route_chat is not None:
            self.event(f"retried deadline task -> {self.route_chat(self.last_route_chat)['outcome']}")
        elif kind == "notify":
            notified = [e for name, e in self.h.dispatcher.calls if name == "notify_failure"]
            if notified:
                self.h.dispatcher.call("notify_failure", notified[-1])
                self.harvest()
                self.event("retried notify_failure")
        elif kind == "disconnect" and self.last_disconnect is not None:
            ws_connect_app.handler(self.last_disconnect, LambdaContext())
            self.event("retried $disconnect")

    # --- invariants: read the table, never the model --------------------------------------

    @invariant()
    def the_table_is_consistent(self) -> None:
        # One scan per step serves every check (and the next step's choices).
        self.table = read_table()
        self.check_capacity(self.table)
        self.check_conversations(self.table)
        self.check_visitor_views(self.table)

    def check_capacity(self, table: Table) -> None:
        for email, agent in table.agents.items():
            active, limit = int(agent["active"]), int(agent["max_chats"])
            slots = {str(k): str(v) for k, v in (agent.get("slots") or {}).items()}
            holding = {cid for cid, conv in table.convs.items() if holds(conv, email)}
            assert 0 <= active <= limit, (email, active, limit)
            assert active == len(slots), (email, active, slots)
            assert set(slots) == holding, (email, slots, holding)
            for cid, offer_id in slots.items():
                assert table.convs[cid].get("offer_id") == offer_id, (email, cid, offer_id)

    def check_conversations(self, table: Table) -> None:
        mails = sent_mails()[self.mail_baseline:]
        assert len(mails) == sum(c["status"] == states.FALLBACK for c in table.convs.values())
        for cid, conv in table.convs.items():
            events = table.events[cid]
            status = conv["status"]
            assert [int(e["seq"]) for e in events] == list(range(1, int(conv["last_seq"]) + 1)), cid
            kinds = Counter(str(e["type"]) for e in events)
            assert kinds["agentJoined"] <= 1 and kinds["fallback"] <= 1, (cid, kinds)
            assert not (kinds["agentJoined"] and kinds["fallback"]), (cid, kinds)
            assert kinds["chatEnded"] + kinds["fallback"] <= 1, (cid, kinds)
            if kinds["chatEnded"] or kinds["fallback"]:
                assert events[-1]["type"] in ("chatEnded", "fallback"), (cid, events[-1])
            # A request is never left waiting between steps: it is offered or concluded.
            assert status != states.ROUTING, cid
            expected = {
                states.OFFERED: (0, 0, 0),
                states.ACTIVE: (1, 0, 0),
                states.FALLBACK: (0, 1, 0),
                states.EXPIRED: (1, 0, 1),
            }.get(status)
            if expected is not None:
                assert (kinds["agentJoined"], kinds["fallback"], kinds["chatEnded"]) == expected, (
                    cid, status, kinds)
            if status == states.ENDED:
                assert (kinds["fallback"], kinds["chatEnded"]) == (0, 1), (cid, kinds)
            # One e-mail per unanswered request, naming it; none for anything else.
            mailed = [m.subject for m in mails if cid in m.body]
            assert len(mailed) == (1 if status == states.FALLBACK else 0), (cid, status, mailed)
            assert all(str(conv["fallback_reason"]) in subject for subject in mailed), mailed
            # A side's clientMessageId is stored once, and its key holds its message.
            messages = [e for e in events if e["type"] == "message"]
            ids = [(e["from"], e.get("client_message_id")) for e in messages]
            assert len(ids) == len(set(ids)), (cid, ids)
            assert table.cmids[cid] == {(str(e["from"]), str(e["client_message_id"])): int(e["seq"])
                                        for e in messages}
            self.check_offers(cid, conv)

    def check_offers(self, cid: str, conv: dict[str, Any]) -> None:
        offers = conv.get("offers") or []
        offered_to = [o["agent"] for o in offers]
        assert len(offered_to) == len(set(offered_to)), (cid, offered_to)  # nobody twice
        unanswered = [o for o in offers if o["outcome"] in ("expired", "declined")]
        # Team routing tries `team_retry_agents` more agents; anything else falls back at once.
        assert len(unanswered) <= (1 + self.retries if self.team_routed else 1), (cid, offers)
        if self.team_routed and unanswered:
            first = offers.index(unanswered[0])
            assert {o["agent"] for o in offers[first + 1:]} <= self.team_members, (cid, offers)
        pending = [o for o in offers if o["outcome"] == "pending"]
        if conv["status"] == states.OFFERED:
            assert [o["offerId"] for o in pending] == [conv["offer_id"]], (cid, offers)
            # The offer rang a live inbox: its agent got the chatOffered frame.
            assert any(f["type"] == "chatOffered" and f.get("offerId") == conv["offer_id"]
                       for f in self.frames_of(str(conv["offer_agent"]))), (cid, conv["offer_agent"])
        else:
            assert pending == [], (cid, offers)

    def check_visitor_views(self, table: Table) -> None:
        for visitor_id in {v for _, v in self.visitors}:
            by_seq: dict[tuple[str, int], set[str]] = defaultdict(set)
            outcomes: dict[str, set[tuple[str, Any]]] = defaultdict(set)
            for frame in self.frames_of(visitor_id):
                cid = frame.get("conversationId")
                if cid is None or frame["type"] in ("ack", "error", "conversationStarted"):
                    continue
                if frame["type"] in OUTCOMES:
                    outcomes[cid].add((frame["type"], frame.get("seq")))
                if "seq" in frame:
                    by_seq[cid, int(frame["seq"])].add(frame["type"])
            for (cid, seq), types in by_seq.items():
                stored = table.events[cid][seq - 1]["type"]
                assert types == {stored}, (cid, seq, types, stored)  # what it saw is what is stored
            for cid, seen in outcomes.items():
                assert len(seen) == 1, (cid, seen)


@pytest.fixture
def harness(aws: Gateway, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """notify_failure wired as the workflow fixture does (async invocations dispatched to
    the real handler, inline), but no state machine: the test plays the timer."""
    monkeypatch.delenv("LIVECHAT_STATE_MACHINE_ARN", raising=False)
    monkeypatch.setenv("LIVECHAT_NOTIFY_FUNCTION", alias_arn("notify_failure"))
    monkeypatch.setenv("LIVECHAT_INBOX_URL", INBOX)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)
    runtime.reset()
    boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=SENDER)
    dispatcher = RecordingDispatcher(REGION)
    dispatcher.install()
    try:
        with controlled_clock() as clock:
            yield Harness(aws, World(aws), dispatcher, clock)
    finally:
        dispatcher.uninstall()


def test_any_interleaving_keeps_capacity_outcomes_and_seq_exact(harness: Harness) -> None:
    # Given a small world (3 agents with 1-2 slots, team or round-robin routing, team
    # retries, 3 visitors), when any interleaving of requests, accepts, declines,
    # timeouts, messages, ends, disconnects, reconnects, sweeps, rescues and Lambda
    # retries runs, then every answer is the one the state before it calls for, and after
    # every step the invariants hold against the table.
    class Machine(Lifecycle):
        def __init__(self) -> None:
            super().__init__(harness)

    run_state_machine_as_test(
        Machine,
        settings=settings(settings.default, max_examples=EXAMPLES, stateful_step_count=STEPS),
    )
    # What the run exercised (pytest -s shows it): a rule that never got past its guards
    # would show here as missing.
    for label, count in sorted(harness.seen.items()):
        print(f"{count:6d}  {label}")
