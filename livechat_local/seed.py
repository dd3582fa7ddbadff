"""Load a workspace file into the local stack: settings, teams, dialogs, and agents as
Cognito users in the LiveChat group with a profile row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from livechat import catalog, models
from livechat.models import AGENT_PK, AgentModel
from livechat.workspace import Workspace, workspace_problems


class InvalidWorkspace(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_workspace(path: Path) -> Workspace:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidWorkspace([f"{path}: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise InvalidWorkspace([f"{path}: not YAML: {exc}"]) from None
    problems = workspace_problems(data)
    if problems:
        raise InvalidWorkspace(problems)
    return Workspace.model_validate(data)


def load(workspace: Workspace, idp: Any, pool_id: str) -> None:
    models.bind()
    catalog.put_workspace_settings(workspace.settings)
    for team in workspace.teams:
        catalog.put_team(team.name)
    for dialog in workspace.dialogs:
        catalog.put_dialog(dialog)
    for agent in workspace.agents:
        email = str(agent.email).lower()
        AgentModel(
            AGENT_PK, email, name=agent.name, avatar_url=agent.avatar_url,
            max_chats=agent.max_chats or workspace.settings.default_max_chats,
            teams=list(agent.teams), live_chat=True, status="available", active=0, slots={},
        ).save()
        idp.admin_create_user(UserPoolId=pool_id, Username=email, MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email", "Value": email},
                                              {"Name": "email_verified", "Value": "true"},
                                              {"Name": "name", "Value": agent.name}])
        if agent.password:
            idp.admin_set_user_password(UserPoolId=pool_id, Username=email,
                                        Password=agent.password, Permanent=True)
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName="LiveChat")
