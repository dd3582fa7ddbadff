"""The visitor's transcript by e-mail (`emailTranscript`, docs/protocol.md): once the chat
is over, to the address captured in that conversation only, once per conversation and at
most `TRANSCRIPTS_PER_RECIPIENT_PER_DAY` per address and UTC day. notify_failure sends it
(livechat.outbound.failure_mail), asynchronously, so the answer does not wait for SES."""

from __future__ import annotations

from datetime import timedelta

from livechat.chat import limits
from livechat.domain.clock import now, now_iso, parse_iso
from livechat.domain.errors import Conflict
from livechat.domain.snapshots import Conversation
from livechat.domain.states import OPEN
from livechat.outbound import failures, mail_reach
from livechat.store import conversations, transcripts

# A retried request within this time hands the mail to notify_failure again, in case the
# first died between its write and its invocation: notify_failure's idempotency record
# (kept for days) makes that send nothing twice. A later retry sends nothing at all, so the
# daily limit cannot be sidestepped by asking again once that record has expired.
RESEND_WINDOW = timedelta(hours=1)
REASON = "requested"


def email_transcript(conv: Conversation) -> None:
    if conv.status in OPEN:
        raise Conflict("the chat is not over yet: ask for its transcript once it has ended")
    address = str(conv.visitor.get("email") or "")
    if not address:
        raise Conflict("no e-mail address was captured in this conversation")
    mailed_at = conv.transcript_mailed_at
    if mailed_at is None and not mail_reach.can_reach(address):
        # Said now rather than after an "on its way" SES would prove wrong; nothing is
        # claimed, so the visitor may ask again once the address can be reached.
        raise Conflict(f"this site cannot e-mail {address} yet: its mail service (Amazon SES) is in the "
                       "sandbox and sends to verified addresses only")
    if mailed_at is None:
        at = now_iso()
        if transcripts.claim(conv.conversation_id, at, limits.transcript(address)):
            mailed_at = at
        else:  # a concurrent request claimed it first
            mailed_at = conversations.get(conv.conversation_id).transcript_mailed_at
    if mailed_at is not None and now() - parse_iso(mailed_at) <= RESEND_WINDOW:
        failures.report(failures.failed_action(failures.TRANSCRIPT, REASON, conversation_id=conv.conversation_id))
