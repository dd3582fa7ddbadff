"""Load a workspace file into the local stack: settings, teams, dialogs, and agents as
Cognito users in the LiveChat group with a profile row.

It is `livechat apply` on the fresh local stack (livechat_admin.apply.provision): one
implementation of provisioning, with the local differences (no invitation; each agent gets
the password of the file)."""

from __future__ import annotations

from typing import Any

from livechat.domain.workspace_document import Workspace

from livechat_admin.apply import provision


def load(workspace: Workspace, idp: Any, pool_id: str) -> None:
    provision(workspace, idp, pool_id, local=True, say=lambda line: None)
