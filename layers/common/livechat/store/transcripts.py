"""The visitor's transcript e-mail, once per conversation: a conditional write of
`transcript_mailed_at` on the conversation item, with the recipient's daily count
(livechat.store.limits) in the same transaction, so that a refused request counts nothing
and a retried one is recognised and counted once."""

from __future__ import annotations

from pynamodb.transactions import TransactWrite

from livechat.store import limits, tables
from livechat.store.keys import META_SK, conv_pk
from livechat.store.tables import ConversationModel


def claim(conversation_id: str, at: str, charge: limits.Charge) -> bool:
    """Mark the conversation's transcript as mailed at `at`: False when it was already
    (nothing counted); `charge.on_fail()` is raised when the recipient's count is full."""
    tables.bind()
    tx = TransactWrite(connection=tables.connection())
    tx.update(ConversationModel(conv_pk(conversation_id), META_SK),
              [ConversationModel.transcript_mailed_at.set(at)],
              condition=ConversationModel.pk.exists() & ConversationModel.transcript_mailed_at.does_not_exist())
    return limits.commit_charged(tx, charge)
