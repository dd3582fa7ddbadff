"""What the admin configured and the functions read: dialogs, teams and settings.

The settings item and each dialog are kept per container for `config_cache_seconds`
(livechat.runtime.Settings, 10 s by default) from the read that fetched them: the same
configuration is read by nearly every request, and an admin's `livechat apply` may take that
long to show in a warm container. No version item is read to find out sooner: that read would
cost the round trip the cache saves. A write through this module (apply, the test world)
forgets what this process kept, so it sees its own writes at once; 0 seconds keeps nothing
(the local stack: `livechat apply --local` writes from another process).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from livechat import runtime
from livechat.domain import clock
from livechat.domain.errors import NotFound
from livechat.domain.workspace import Dialog, WorkspaceSettings
from livechat.store import tables as models
from livechat.store.keys import CONFIG_PK, DIALOG_PK, SETTINGS_SK, TEAM_PK
from livechat.store.tables import DialogModel, SettingsModel, TeamModel

T = TypeVar("T")


class _Kept(Generic[T]):
    """Values by key, each until `config_cache_seconds` after the read that fetched it (by
    livechat.domain.clock, which tests move by hand)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, tuple[datetime, T]] = {}

    def get(self, key: str, read: Callable[[], T]) -> T:
        ttl = timedelta(seconds=runtime.get_settings().config_cache_seconds)
        now = clock.now()
        with self._lock:
            kept = self._values.get(key)
        # A clock that went back counts as expired: never keep a value longer than stated.
        if kept is not None and timedelta(0) <= now - kept[0] < ttl:
            return kept[1]
        value = read()
        if ttl:
            with self._lock:
                self._values[key] = (now, value)
        return value

    def forget(self, key: str | None = None) -> None:
        with self._lock:
            if key is None:
                self._values.clear()
            else:
                self._values.pop(key, None)


_settings: _Kept[WorkspaceSettings] = _Kept()
_dialogs: _Kept[Dialog] = _Kept()


@runtime.on_reset
def forget() -> None:
    """Drop every kept value: the next read goes to the table."""
    _settings.forget()
    _dialogs.forget()


def get_dialog(dialog_id: str) -> Dialog:
    return _dialogs.get(dialog_id, lambda: _read_dialog(dialog_id))


def _read_dialog(dialog_id: str) -> Dialog:
    models.bind()
    try:
        item = DialogModel.get(DIALOG_PK, dialog_id)
    except DialogModel.DoesNotExist:
        raise NotFound(f"dialog {dialog_id} not found") from None
    return Dialog.model_validate_json(item.body)


def put_dialog(dialog: Dialog) -> None:
    models.bind()
    DialogModel(DIALOG_PK, dialog.id, body=dialog.model_dump_json(by_alias=True)).save()
    _dialogs.forget(dialog.id)


def remove_dialog(dialog_id: str) -> None:
    models.bind()
    DialogModel(DIALOG_PK, dialog_id).delete()
    _dialogs.forget(dialog_id)


def get_workspace_settings() -> WorkspaceSettings:
    return _settings.get(SETTINGS_SK, _read_workspace_settings)


def _read_workspace_settings() -> WorkspaceSettings:
    models.bind()
    try:
        item = SettingsModel.get(CONFIG_PK, SETTINGS_SK)
    except SettingsModel.DoesNotExist:
        return WorkspaceSettings()
    return WorkspaceSettings.model_validate(json.loads(item.body))


def put_workspace_settings(settings: WorkspaceSettings) -> None:
    models.bind()
    SettingsModel(CONFIG_PK, SETTINGS_SK, body=settings.model_dump_json(by_alias=True)).save()
    _settings.forget()


def team_names() -> set[str]:
    models.bind()
    return {team.sk for team in TeamModel.query(TEAM_PK)}


def put_team(name: str) -> None:
    models.bind()
    TeamModel(TEAM_PK, name).save()
