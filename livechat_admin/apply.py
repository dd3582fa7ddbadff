"""`livechat apply`: make a deployment match a workspace file.

A plan is the list of changes between the file and what is stored (the table) and in
Cognito. Applying the plan makes both match; a second plan is then empty, so applying the
same file twice writes nothing. The file is validated before anything is read or written
(livechat_admin.workspace_file.read_workspace).

Agents are Cognito users in the LiveChat group with a profile row. An agent is named by
their e-mail, which is also their Cognito user name (the protocol's "Names"): a user is
created with the lower-cased e-mail as its user name and, when deployed, gets Cognito's
invitation. The plan finds the users the pool holds now, so an empty pool (a new one, e.g.
after the pool was replaced) gets every agent of the file again, while the agents' rows,
which outlive the pool, are kept: only their profile is brought up to date. Applying never
touches the live fields of a row (status, active, slots, connections): those belong to the
running system. An agent removed from the file keeps their Cognito user and row, but loses
the permission: out of the group, `live_chat` false (routing skips them), sessions revoked
and open inbox connections closed.

The local stack (`livechat dev`) loads its workspace with the same code (`provision`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from livechat.api.auth import ADMIN_GROUP, LIVE_CHAT_GROUP
from livechat.domain import schedules
from livechat.domain.workspace import Dialog, WorkspaceSettings
from livechat.domain.workspace_document import AgentSpec, Workspace
from livechat.store import agents, catalog
from livechat.store import tables as models
from livechat.store.keys import AGENT_PK, CONFIG_PK, DIALOG_PK, TEAM_PK
from livechat.store.tables import AgentModel, DialogModel, SettingsModel, TeamModel
from pydantic import ValidationError

from livechat_admin import migrate
from livechat_admin.stack import Target

SETTINGS_SK = "SETTINGS"  # livechat.catalog.SETTINGS_SK

Action = Literal["create", "update", "remove"]
Kind = Literal["settings", "team", "dialog", "agent"]


@dataclass(frozen=True)
class Change:
    action: Action
    kind: Kind
    key: str
    details: tuple[str, ...] = ()

    def line(self) -> str:
        text = f"{self.action} {self.kind} {self.key}"
        return f"{text}: {'; '.join(self.details)}" if self.details else text


@dataclass
class CognitoUser:
    username: str  # as Cognito holds it: the API calls name the user by it
    name: str | None


@dataclass
class Current:
    """What the deployment holds now."""

    settings: WorkspaceSettings | None = None
    settings_valid: bool = True
    teams: set[str] = field(default_factory=set)
    dialogs: dict[str, Dialog | None] = field(default_factory=dict)  # None: unreadable body
    rows: dict[str, AgentModel] = field(default_factory=dict)
    users: dict[str, CognitoUser] = field(default_factory=dict)  # by e-mail
    group: set[str] = field(default_factory=set)  # e-mails in LiveChat
    admins: set[str] = field(default_factory=set)  # e-mails in LiveChatAdmin (the dashboard)

    def username(self, email: str) -> str:
        """The user name the Cognito calls take: the e-mail for a user this code created."""
        user = self.users.get(email)
        return user.username if user is not None else email


def _email_of(user: dict[str, Any]) -> str:
    """The agent a Cognito user is: their user name, the lower-cased e-mail. A user whose
    name is not an e-mail (a UUID: a pool with UsernameAttributes, as before the pool was
    replaced) is known by their `email` attribute."""
    username = str(user["Username"])
    if "@" in username:
        return username.lower()
    attrs = {a["Name"]: a["Value"] for a in user.get("Attributes", user.get("UserAttributes", []))}
    return str(attrs.get("email") or username).lower()


def _name_of(user: dict[str, Any]) -> str | None:
    attrs = {a["Name"]: a["Value"] for a in user.get("Attributes", [])}
    return attrs.get("name")


def read_current(idp: Any, pool_id: str) -> Current:
    models.bind()
    current = Current()
    try:
        stored = SettingsModel.get(CONFIG_PK, SETTINGS_SK, consistent_read=True)
        current.settings = WorkspaceSettings.model_validate(json.loads(stored.body))
    except SettingsModel.DoesNotExist:
        pass
    except (ValueError, ValidationError):
        current.settings_valid = False
    current.teams = {team.sk for team in TeamModel.query(TEAM_PK, consistent_read=True)}
    for item in DialogModel.query(DIALOG_PK, consistent_read=True):
        try:
            current.dialogs[item.sk] = Dialog.model_validate_json(item.body)
        except ValidationError:
            current.dialogs[item.sk] = None
    # The partition also holds the round-robin cursors (livechat.store.cursors): no name.
    current.rows = {row.email: row for row in AgentModel.query(AGENT_PK, consistent_read=True,
                                                              filter_condition=AgentModel.name.exists())}
    for page in idp.get_paginator("list_users").paginate(UserPoolId=pool_id):
        for user in page["Users"]:
            current.users[_email_of(user)] = CognitoUser(user["Username"], _name_of(user))
    for page in idp.get_paginator("list_users_in_group").paginate(UserPoolId=pool_id,
                                                                  GroupName=LIVE_CHAT_GROUP):
        current.group.update(_email_of(user) for user in page["Users"])
    current.admins = _admin_group_members(idp, pool_id)
    return current


def _admin_group_members(idp: Any, pool_id: str) -> set[str]:
    """The LiveChatAdmin group's members; none when the pool predates the group (applying
    an `admin: true` agent then creates it, as the template would)."""
    members: set[str] = set()
    try:
        for page in idp.get_paginator("list_users_in_group").paginate(UserPoolId=pool_id, GroupName=ADMIN_GROUP):
            members.update(_email_of(user) for user in page["Users"])
    except idp.exceptions.ResourceNotFoundException:
        pass
    return members


# --- the plan ---------------------------------------------------------------------------

def _profile(spec: AgentSpec, settings: WorkspaceSettings) -> dict[str, Any]:
    return {"name": spec.name, "avatar_url": spec.avatar_url,
            "max_chats": spec.max_chats or settings.default_max_chats, "teams": list(spec.teams),
            # Stored merged and canonical, so an unchanged schedule compares equal.
            "schedule": schedules.to_json(spec.schedule.to_schedule()) if spec.schedule else None}


def _row_profile(row: AgentModel) -> dict[str, Any]:
    return {"name": row.name, "avatar_url": row.avatar_url or "", "max_chats": int(row.max_chats),
            "teams": list(row.teams or []), "schedule": row.schedule or None}


def _settings_changes(workspace: Workspace, current: Current) -> Iterator[Change]:
    if current.settings is None:
        if current.settings_valid:
            yield Change("create", "settings", "workspace")
        else:
            yield Change("update", "settings", "workspace", ("stored settings were unreadable",))
        return
    if current.settings != workspace.settings:
        stored, wanted = current.settings.model_dump(), workspace.settings.model_dump()
        changed = tuple(f"{key} {stored[key]!r} → {wanted[key]!r}"
                        for key in wanted if stored.get(key) != wanted[key])
        yield Change("update", "settings", "workspace", changed)


def _agent_change(spec: AgentSpec, workspace: Workspace, current: Current, local: bool) -> Change | None:
    email = str(spec.email).lower()
    details: list[str] = []
    user = current.users.get(email)
    if user is None:
        details.append("Cognito user" + (" (password from the file)" if local and spec.password
                                         else " (no password)" if local else " (invitation e-mail)"))
    elif user.name != spec.name:
        details.append(f"Cognito name {user.name!r} → {spec.name!r}")
    if email not in current.group:
        details.append(f"add to group {LIVE_CHAT_GROUP}")
    if spec.admin and email not in current.admins:
        details.append(f"add to group {ADMIN_GROUP}")
    elif not spec.admin and email in current.admins:
        details.append(f"remove from group {ADMIN_GROUP}")
    row = current.rows.get(email)
    wanted = _profile(spec, workspace.settings)
    if row is None:
        details.append("profile row")
    else:
        have = _row_profile(row)
        details += [f"{key} {have[key]!r} → {wanted[key]!r}" for key in wanted if have[key] != wanted[key]]
        if not row.live_chat:
            details.append("Live Chat permission on")
    if not details:
        return None
    return Change("create" if user is None and row is None else "update", "agent", email, tuple(details))


def _removed_agents(workspace: Workspace, current: Current) -> Iterator[Change]:
    keep = {str(a.email).lower() for a in workspace.agents}
    with_permission = {email for email, row in current.rows.items() if row.live_chat}
    for email in sorted((with_permission | current.group | current.admins) - keep):
        details = []
        row = current.rows.get(email)
        if email in current.group:
            details.append(f"remove from group {LIVE_CHAT_GROUP}")
        if email in current.admins:
            details.append(f"remove from group {ADMIN_GROUP}")
        if row is not None and row.live_chat:
            details.append("Live Chat permission off")
        if email in current.users:
            details.append("sign out everywhere")
        connections = sorted(row.connections or ()) if row is not None else []
        if connections:
            details.append(f"close {len(connections)} inbox connection(s)")
        yield Change("remove", "agent", email, tuple(details))


def plan(workspace: Workspace, current: Current, *, local: bool = False) -> list[Change]:
    changes = list(_settings_changes(workspace, current))
    wanted_teams = [t.name for t in workspace.teams]
    changes += [Change("create", "team", name) for name in wanted_teams if name not in current.teams]
    for dialog in workspace.dialogs:
        if dialog.id not in current.dialogs:
            changes.append(Change("create", "dialog", dialog.id))
        elif current.dialogs[dialog.id] != dialog:
            changes.append(Change("update", "dialog", dialog.id))
    for spec in workspace.agents:
        change = _agent_change(spec, workspace, current, local)
        if change is not None:
            changes.append(change)
    changes += list(_removed_agents(workspace, current))
    wanted_dialogs = {d.id for d in workspace.dialogs}
    changes += [Change("remove", "dialog", d) for d in sorted(current.dialogs) if d not in wanted_dialogs]
    changes += [Change("remove", "team", t) for t in sorted(current.teams) if t not in set(wanted_teams)]
    return changes


# --- applying it ------------------------------------------------------------------------

def _no_management_api() -> Any:
    raise RuntimeError("no management endpoint to close inbox connections with")


@dataclass
class Applier:
    workspace: Workspace
    current: Current
    pool_id: str
    idp: Any
    management_api: Callable[[], Any] = _no_management_api
    say: Callable[[str], None] = print
    local: bool = False  # the local stack: no invitation, the password of the file

    def run(self, changes: list[Change]) -> None:
        for change in changes:
            getattr(self, f"_{change.action}_{change.kind}")(change)
            self.say(change.line())

    # settings, teams, dialogs
    # Through livechat.store.catalog: the same items, and this process's cached copies are
    # forgotten, so whatever runs here next (the test world, the local stack's seed) sees them.
    def _create_settings(self, change: Change) -> None:
        catalog.put_workspace_settings(self.workspace.settings)

    _update_settings = _create_settings

    def _create_team(self, change: Change) -> None:
        TeamModel(TEAM_PK, change.key).save()

    def _remove_team(self, change: Change) -> None:
        TeamModel(TEAM_PK, change.key).delete()

    def _create_dialog(self, change: Change) -> None:
        catalog.put_dialog(next(d for d in self.workspace.dialogs if d.id == change.key))

    _update_dialog = _create_dialog

    def _remove_dialog(self, change: Change) -> None:
        catalog.remove_dialog(change.key)

    # agents
    def _create_agent(self, change: Change) -> None:
        spec = next(a for a in self.workspace.agents if str(a.email).lower() == change.key)
        email, pool = change.key, self.pool_id
        user = self.current.users.get(email)
        username = self.current.username(email)
        if user is None:
            # The user name is the lower-cased e-mail (the protocol's "Names").
            kwargs: dict[str, Any] = {
                "UserPoolId": pool, "Username": email,
                "UserAttributes": [{"Name": "email", "Value": email},
                                   {"Name": "email_verified", "Value": "true"},
                                   {"Name": "name", "Value": spec.name}],
            }
            if self.local:
                kwargs["MessageAction"] = "SUPPRESS"  # no mail server: the file has the password
            else:
                kwargs["DesiredDeliveryMediums"] = ["EMAIL"]  # Cognito's invitation
            self.idp.admin_create_user(**kwargs)
            if self.local and spec.password:
                self.idp.admin_set_user_password(UserPoolId=pool, Username=email,
                                                 Password=spec.password, Permanent=True)
        elif user.name != spec.name:
            self.idp.admin_update_user_attributes(
                UserPoolId=pool, Username=username, UserAttributes=[{"Name": "name", "Value": spec.name}])
        if email not in self.current.group:
            self.idp.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName=LIVE_CHAT_GROUP)
        if spec.admin and email not in self.current.admins:
            self._add_admin(username)
        elif not spec.admin and email in self.current.admins:
            self.idp.admin_remove_user_from_group(UserPoolId=pool, Username=username, GroupName=ADMIN_GROUP)
        profile = _profile(spec, self.workspace.settings)
        row = self.current.rows.get(email)
        if row is None:
            AgentModel(AGENT_PK, email, **profile, live_chat=True, status="available", active=0,
                       slots={}).save(condition=AgentModel.pk.does_not_exist())
        else:
            # Only the profile and the permission: status, active, slots and connections
            # belong to the running system.
            agents.handle(email).update(
                actions=[AgentModel.name.set(profile["name"]),
                         AgentModel.avatar_url.set(profile["avatar_url"]),
                         AgentModel.max_chats.set(profile["max_chats"]),
                         AgentModel.teams.set(profile["teams"]),
                         AgentModel.schedule.set(profile["schedule"]) if profile["schedule"]
                         else AgentModel.schedule.remove(),
                         AgentModel.live_chat.set(True)],
                condition=AgentModel.pk.exists())

    _update_agent = _create_agent

    def _add_admin(self, username: str) -> None:
        """Into LiveChatAdmin; the group is made first in a pool that predates it."""
        try:
            self.idp.admin_add_user_to_group(UserPoolId=self.pool_id, Username=username, GroupName=ADMIN_GROUP)
        except self.idp.exceptions.ResourceNotFoundException:
            self.idp.create_group(UserPoolId=self.pool_id, GroupName=ADMIN_GROUP,
                                  Description="Agents who see the live chat performance dashboard")
            self.idp.admin_add_user_to_group(UserPoolId=self.pool_id, Username=username, GroupName=ADMIN_GROUP)

    def _remove_agent(self, change: Change) -> None:
        email, pool = change.key, self.pool_id
        username = self.current.username(email)
        row = self.current.rows.get(email)
        if row is not None and row.live_chat:
            # First: from now on routing skips them.
            agents.handle(email).update(actions=[AgentModel.live_chat.set(False)],
                                        condition=AgentModel.pk.exists())
        if email in self.current.group:
            self.idp.admin_remove_user_from_group(UserPoolId=pool, Username=username,
                                                  GroupName=LIVE_CHAT_GROUP)
        if email in self.current.admins:
            self.idp.admin_remove_user_from_group(UserPoolId=pool, Username=username, GroupName=ADMIN_GROUP)
        if email in self.current.users:
            self.idp.admin_user_global_sign_out(UserPoolId=pool, Username=username)
        connections = set(row.connections or ()) if row is not None else set()
        if connections:
            api = self.management_api()
            for connection_id in sorted(connections):
                with contextlib.suppress(api.exceptions.GoneException):  # already closed
                    api.delete_connection(ConnectionId=connection_id)
            # $disconnect would remove them too; do it now so the row is right at once.
            agents.remove_connections(email, connections)


def provision(workspace: Workspace, idp: Any, pool_id: str, *, local: bool, dry_run: bool = False,
              management_api: Callable[[], Any] = _no_management_api,
              say: Callable[[str], None] = print) -> list[Change]:
    """Plan the workspace against the table (the livechat package must point at it) and the
    user pool, and unless dry_run apply it; say each change. The local stack loads its
    workspace with this too (local: no invitation; agents get the password of the file)."""
    current = read_current(idp, pool_id)
    changes = plan(workspace, current, local=local)
    if dry_run:
        for change in changes:
            say(change.line())
    else:
        Applier(workspace, current, pool_id, idp, management_api, say, local=local).run(changes)
        upgraded = migrate.run().line()
        if upgraded:
            say(upgraded)
    return changes


def run(workspace: Workspace, target: Target, *, dry_run: bool = False,
        say: Callable[[str], None] = print) -> list[Change]:
    """Plan (and unless dry_run, apply) the workspace against an activated target."""
    changes = provision(workspace, target.client("cognito-idp"), target.user_pool_id, local=target.local,
                        dry_run=dry_run, management_api=target.management_api, say=say)
    say(f"{len(changes)} change(s){' planned (dry run: nothing changed)' if dry_run else ''}"
        if changes else "no changes: the deployment matches the file")
    return changes
