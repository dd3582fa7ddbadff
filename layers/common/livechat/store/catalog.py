"""What the admin configured and the functions read: dialogs, teams and settings."""

from __future__ import annotations

import json

from livechat.domain.errors import NotFound
from livechat.domain.workspace import Dialog, WorkspaceSettings
from livechat.store import tables as models
from livechat.store.keys import CONFIG_PK, DIALOG_PK, SETTINGS_SK, TEAM_PK
from livechat.store.tables import DialogModel, SettingsModel, TeamModel


def get_dialog(dialog_id: str) -> Dialog:
    models.bind()
    try:
        item = DialogModel.get(DIALOG_PK, dialog_id)
    except DialogModel.DoesNotExist:
        raise NotFound(f"dialog {dialog_id} not found") from None
    return Dialog.model_validate_json(item.body)


def put_dialog(dialog: Dialog) -> None:
    models.bind()
    DialogModel(DIALOG_PK, dialog.id, body=dialog.model_dump_json(by_alias=True)).save()


def get_workspace_settings() -> WorkspaceSettings:
    models.bind()
    try:
        item = SettingsModel.get(CONFIG_PK, SETTINGS_SK)
    except SettingsModel.DoesNotExist:
        return WorkspaceSettings()
    return WorkspaceSettings.model_validate(json.loads(item.body))


def put_workspace_settings(settings: WorkspaceSettings) -> None:
    models.bind()
    SettingsModel(CONFIG_PK, SETTINGS_SK, body=settings.model_dump_json(by_alias=True)).save()


def team_names() -> set[str]:
    models.bind()
    return {team.sk for team in TeamModel.query(TEAM_PK)}


def put_team(name: str) -> None:
    models.bind()
    TeamModel(TEAM_PK, name).save()
