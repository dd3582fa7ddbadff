"""`livechat apply FILE --stack NAME`: the workspace as code (issue 6, spec/workspace.md)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from livechat.domain import routing
from livechat.store import agents, catalog
from livechat.store import tables as models
from livechat.store.keys import AGENT_PK
from livechat.store.tables import AgentModel

from livechat_admin import apply as applying
from livechat_admin import stack
from livechat_admin.workspace_file import read_workspace
from tests.support.admin import STACK, WEBSOCKET_URL, Deployment, create_pool, demo, livechat, write
from tests.support.aws import REGION, TABLE
from tests.support.snapshot import table_snapshot

pytestmark = pytest.mark.integration


def apply(capsys: pytest.CaptureFixture[str], path: Path, *extra: str) -> tuple[int, str, str]:
    return livechat(capsys, "apply", str(path), "--stack", STACK, *extra)


def state(deployment: Deployment) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return table_snapshot(), deployment.cognito()


def admin_members(deployment: Deployment) -> list[str]:
    idp = boto3.client("cognito-idp", region_name=REGION)
    members = idp.get_paginator("list_users_in_group").paginate(
        UserPoolId=deployment.pool_id, GroupName="LiveChatAdmin").build_full_result()
    return sorted(u["Username"] for u in members["Users"])


def test_admin_true_keeps_the_livechatadmin_group_membership(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the demo applied (Alice is admin: true; the pool predates the group: apply makes it)
    data = demo()
    apply(capsys, write(tmp_path, data))
    assert admin_members(deployment) == ["alice@example.com"]
    # When Bob becomes admin and Alice stops being one
    for agent in data["agents"]:
        agent["admin"] = agent["email"] == "bob@example.com"
    code, out, _ = apply(capsys, write(tmp_path, data))
    # Then the plan says so and the group follows
    assert code == 0
    assert "update agent alice@example.com: remove from group LiveChatAdmin" in out
    assert "update agent bob@example.com: add to group LiveChatAdmin" in out
    assert admin_members(deployment) == ["bob@example.com"]
    # And removing Bob from the file takes him out of both groups
    data["agents"] = [a for a in data["agents"] if a["email"] != "bob@example.com"]
    code, out, _ = apply(capsys, write(tmp_path, data))
    assert "remove agent bob@example.com: remove from group LiveChat; remove from group LiveChatAdmin;" in out
    assert admin_members(deployment) == []


def test_the_example_file_creates_agents_in_the_group_with_rows_teams_dialogs_and_settings(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the documented example workspace
    path = write(tmp_path, demo())
    # When it is applied to the stack
    code, out, _ = apply(capsys, path)
    # Then every agent is an invited Cognito user in the LiveChat group with a profile row
    assert code == 0
    cognito = deployment.cognito()
    assert cognito["group"] == ["alice@example.com", "bob@example.com"]
    assert {u[0]: u[1] for u in cognito["users"]} == {
        "alice@example.com": "FORCE_CHANGE_PASSWORD", "bob@example.com": "FORCE_CHANGE_PASSWORD"}
    bob = agents.get_agent("bob@example.com")
    assert (bob.name, bob.avatar_url, int(bob.max_chats), [str(t) for t in bob.teams], bob.live_chat, bob.status) == (
        "Bob Chen", "https://example.com/bob.png", 5, ["emea", "amer"], True, "available")
    # And the teams, the dialog and the settings are stored
    assert catalog.team_names() == {"emea", "amer"}
    assert catalog.get_dialog("sales").live_chat_card("live") is not None
    assert catalog.get_workspace_settings().fallback_message.startswith("Our team is busy")
    assert out.splitlines()[:3] == ["create settings workspace", "create team emea", "create team amer"]
    assert "create agent alice@example.com: Cognito user (invitation e-mail); add to group LiveChat;" \
           " add to group LiveChatAdmin; profile row" in out
    # And the agent marked `admin: true` is in LiveChatAdmin too (the performance dashboard)
    assert admin_members(deployment) == ["alice@example.com"]


def test_each_agent_is_a_cognito_user_named_by_their_lower_cased_email(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a file that spells an e-mail in mixed case
    data = demo()
    data["agents"][0]["email"] = "Alice@Example.COM"
    # When it is applied
    apply(capsys, write(tmp_path, data))
    # Then each user name is the agent's lower-cased e-mail, as is the profile row's key
    idp = boto3.client("cognito-idp", region_name=REGION)
    users = idp.list_users(UserPoolId=deployment.pool_id)["Users"]
    assert sorted(u["Username"] for u in users) == ["alice@example.com", "bob@example.com"]
    assert agents.get_agent("alice@example.com").name == "Alice Martin"


def test_after_the_user_pool_is_replaced_apply_invites_every_agent_again_and_keeps_their_rows(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the example applied, and Bob busy right now
    path = write(tmp_path, demo())
    apply(capsys, path)
    agents.handle("bob@example.com").update(actions=[
        AgentModel.status.set("away"), AgentModel.active.set(1), AgentModel.slots.set({"c1": "o1"})])
    # And the stack's user pool replaced by a new, empty one (UsernameAttributes cannot change
    # in place): the table, with the agents' rows, is the same
    new_pool = create_pool()
    boto3.client("cloudformation", region_name=REGION).update_stack(StackName=STACK, TemplateBody=json.dumps({
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in {
            "TableName": TABLE, "UserPoolId": new_pool, "WebSocketUrl": WEBSOCKET_URL}.items()}}))
    table_before = table_snapshot()
    created: list[dict[str, Any]] = []
    client = stack.Target.client

    def recording_client(self: stack.Target, service: str) -> Any:
        found = client(self, service)
        found.meta.events.register("provide-client-params.cognito-identity-provider.AdminCreateUser",
                                   lambda params, **_: created.append(dict(params)))
        return found

    monkeypatch.setattr(stack.Target, "client", recording_client)

    # When the same file is applied
    code, out, _ = apply(capsys, path)

    # Then every agent is created in the new pool, named by their e-mail, and invited by Cognito
    assert code == 0
    assert out.splitlines() == [
        "update agent alice@example.com: Cognito user (invitation e-mail); add to group LiveChat;"
        " add to group LiveChatAdmin",
        "update agent bob@example.com: Cognito user (invitation e-mail); add to group LiveChat",
        "2 change(s)",
    ]
    assert [(c["UserPoolId"], c["Username"], c.get("DesiredDeliveryMediums"), c.get("MessageAction"))
            for c in created] == [(new_pool, "alice@example.com", ["EMAIL"], None),
                                  (new_pool, "bob@example.com", ["EMAIL"], None)]
    replaced = Deployment(new_pool)
    assert {u[0]: u[1] for u in replaced.cognito()["users"]} == {
        "alice@example.com": "FORCE_CHANGE_PASSWORD", "bob@example.com": "FORCE_CHANGE_PASSWORD"}
    assert replaced.group() == ["alice@example.com", "bob@example.com"]
    # And the rows are kept as they were: the profiles match the file, Bob's live fields are his
    assert table_snapshot() == table_before
    bob = agents.get_agent("bob@example.com")
    assert (bob.status, int(bob.active), models.plain(bob.slots), bob.live_chat) == ("away", 1, {"c1": "o1"}, True)
    # And applying it again changes nothing
    created.clear()
    code, out, _ = apply(capsys, path)
    assert (code, out.strip(), created) == (0, "no changes: the deployment matches the file", [])


def test_a_pool_of_an_earlier_release_whose_user_names_are_uuids_is_read_by_email(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the stack's pool as earlier releases made it (UsernameAttributes [email]: Cognito
    # names each user by a UUID), with the example applied
    idp = boto3.client("cognito-idp", region_name=REGION)
    old_pool = idp.create_user_pool(PoolName="old", UsernameAttributes=["email"])["UserPool"]["Id"]
    idp.create_group(UserPoolId=old_pool, GroupName="LiveChat")
    target = stack.Target(table_name=TABLE, user_pool_id=old_pool, region=REGION,
                          management_endpoint="http://127.0.0.1:1")
    stack.activate(target)
    workspace = read_workspace(write(tmp_path, demo()))
    applying.run(workspace, target, say=lambda line: None)
    assert all("@" not in u["Username"] for u in idp.list_users(UserPoolId=old_pool)["Users"])
    # When it is applied again, Then each user is known by their e-mail: nothing to do
    assert applying.run(workspace, target, say=lambda line: None) == []


def test_an_agent_without_max_chats_gets_the_default_of_the_settings(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = demo()
    data["settings"]["default_max_chats"] = 3
    del data["agents"][0]["max_chats"]
    apply(capsys, write(tmp_path, data))
    assert int(agents.get_agent("alice@example.com").max_chats) == 3


def test_applying_the_same_file_twice_changes_nothing(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the example applied once
    path = write(tmp_path, demo())
    apply(capsys, path)
    before = state(deployment)
    # When it is applied again
    code, out, _ = apply(capsys, path)
    # Then the plan is empty and neither the table nor Cognito changed
    assert code == 0
    assert out.strip() == "no changes: the deployment matches the file"
    assert state(deployment) == before


def test_a_changed_file_changes_only_what_changed(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the example applied, and an agent who is busy right now
    apply(capsys, write(tmp_path, demo()))
    agents.handle("bob@example.com").update(actions=[
        AgentModel.status.set("away"), AgentModel.active.set(2),
        AgentModel.slots.set({"c1": "o1", "c2": "o2"}), AgentModel.connections.set({"conn-b"})])
    before = {(i["pk"]["S"], i["sk"]["S"]): i for i in table_snapshot()}
    cognito_before = deployment.cognito()
    # When Bob's limit changes, a team is added and the rules of the dialog change
    data = demo()
    data["agents"][1]["max_chats"] = 8
    data["teams"].append({"name": "apac"})
    data["dialogs"][0]["cards"][0]["answers"][0]["next"][1]["routing"]["rules"][1]["when"]["value"] = ["FR"]
    code, out, _ = apply(capsys, write(tmp_path, data))
    # Then the plan names exactly those changes
    assert code == 0
    assert out.splitlines()[:-1] == [
        "create team apac",
        "update dialog sales",
        "update agent bob@example.com: max_chats 5 → 8",
    ]
    # And only those items changed; Bob's live fields are untouched
    after = {(i["pk"]["S"], i["sk"]["S"]): i for i in table_snapshot()}
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    assert changed == {("TEAM", "apac"), ("DIALOG", "sales"), ("AGENT", "bob@example.com")}
    bob = agents.get_agent("bob@example.com")
    assert (bob.status, bob.active, dict(bob.slots), set(bob.connections), bob.max_chats) == (
        "away", 2, {"c1": "o1", "c2": "o2"}, {"conn-b"}, 8)
    assert deployment.cognito() == cognito_before


def test_an_invalid_file_changes_nothing_and_names_the_path(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the example applied once
    apply(capsys, write(tmp_path, demo()))
    before = state(deployment)
    # When a file with a new agent, but a live chat card that is not last in its branch, is applied
    data = demo()
    data["agents"].append({"email": "carol@example.com", "name": "Carol"})
    branch = data["dialogs"][0]["cards"][0]["answers"][0]["next"]
    branch.append({"id": "after", "kind": "message", "text": "too late"})
    code, out, err = apply(capsys, write(tmp_path, data))
    # Then it is refused with the path of the offending card, and nothing changed
    assert code == 2
    assert out == ""
    assert ("dialogs[0].cards[0].answers[0].next[1]: live chat card 'live' must be the last card"
            " of its branch (dialogs[0].cards[0].answers[0].next)") in err
    assert "nothing was changed" in err
    assert state(deployment) == before


def test_an_unknown_routing_target_is_refused_with_its_path(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = demo()
    rules = data["dialogs"][0]["cards"][0]["answers"][0]["next"][1]["routing"]["rules"]
    rules[0]["route"] = {"agent": "nobody@example.com"}
    code, _, err = apply(capsys, write(tmp_path, data))
    assert code == 2
    assert "dialogs[0].cards[0].answers[0].next[1].routing.rules[0].route: unknown agent" in err
    assert table_snapshot() == []
    assert deployment.cognito()["users"] == []


def test_the_dry_run_prints_the_plan_and_changes_nothing(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = apply(capsys, write(tmp_path, demo()), "--dry-run")
    assert code == 0
    assert out.splitlines() == [
        "create settings workspace",
        "create team emea",
        "create team amer",
        "create dialog sales",
        "create dialog sales-fr",
        "create dialog sales-zh",
        "create agent alice@example.com: Cognito user (invitation e-mail); add to group LiveChat;"
        " add to group LiveChatAdmin; profile row",
        "create agent bob@example.com: Cognito user (invitation e-mail); add to group LiveChat; profile row",
        "8 change(s) planned (dry run: nothing changed)",
    ]
    assert table_snapshot() == []
    assert deployment.cognito() == {"users": [], "group": []}


def test_removing_an_agent_revokes_the_permission_and_closes_their_connections(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given Bob applied, with two inbox connections (one already gone) and a signed-in session
    apply(capsys, write(tmp_path, demo()))
    agents.add_connection("bob@example.com", "conn-1")
    agents.add_connection("bob@example.com", "conn-2")
    deployment.gone.add("conn-2")
    # When a file without Bob is applied
    data = demo()
    data["agents"] = [a for a in data["agents"] if a["email"] != "bob@example.com"]
    code, out, _ = apply(capsys, write(tmp_path, data))
    # Then Bob is out of the group, routing skips him, and his connections were closed
    assert code == 0
    assert ("remove agent bob@example.com: remove from group LiveChat; Live Chat permission off;"
            " sign out everywhere; close 2 inbox connection(s)") in out
    assert deployment.group() == ["alice@example.com"]
    bob = agents.get_agent("bob@example.com")
    assert bob.live_chat is False
    assert routing.why_not_eligible(bob) == "no Live Chat permission"
    assert deployment.closed == ["conn-1"]
    assert not bob.connections
    # And applying the same file again changes nothing
    assert apply(capsys, write(tmp_path, data))[1].strip() == "no changes: the deployment matches the file"


def test_a_removed_agent_can_no_longer_refresh_a_session(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given Bob signed in (refresh token issued)
    apply(capsys, write(tmp_path, demo()))
    idp = boto3.client("cognito-idp", region_name=REGION)
    client_id = idp.create_user_pool_client(UserPoolId=deployment.pool_id, ClientName="inbox",
                                            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH",
                                                               "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
    idp.admin_set_user_password(UserPoolId=deployment.pool_id, Username="bob@example.com",
                                Password="Bob-demo-password-1", Permanent=True)
    tokens = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={
        "USERNAME": "bob@example.com", "PASSWORD": "Bob-demo-password-1"})["AuthenticationResult"]
    # When Bob is removed from the file
    data = demo()
    data["agents"] = data["agents"][:1]
    apply(capsys, write(tmp_path, data))
    # Then his refresh token no longer works
    with pytest.raises(idp.exceptions.NotAuthorizedException):
        idp.initiate_auth(ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                          AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})


def test_an_agent_added_back_gets_the_permission_again(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apply(capsys, write(tmp_path, demo()))
    without_bob = demo()
    without_bob["agents"] = without_bob["agents"][:1]
    apply(capsys, write(tmp_path, without_bob))
    code, out, _ = apply(capsys, write(tmp_path, demo()))
    assert code == 0
    assert "update agent bob@example.com: add to group LiveChat; Live Chat permission on" in out
    assert deployment.group() == ["alice@example.com", "bob@example.com"]
    assert agents.get_agent("bob@example.com").live_chat is True


def test_removing_a_dialog_and_a_team_deletes_them(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = demo()
    extra = copy.deepcopy(data["dialogs"][0])
    extra["id"] = "support"
    data["dialogs"].append(extra)
    data["teams"].append({"name": "apac"})
    apply(capsys, write(tmp_path, data))
    code, out, _ = apply(capsys, write(tmp_path, demo()))
    assert code == 0
    assert out.splitlines()[:-1] == ["remove dialog support", "remove team apac"]
    assert catalog.team_names() == {"emea", "amer"}
    assert {i["sk"]["S"] for i in table_snapshot() if i["pk"]["S"] == "DIALOG"} == {"sales", "sales-fr", "sales-zh"}


def test_changed_settings_are_listed_by_field(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apply(capsys, write(tmp_path, demo()))
    data = demo()
    data["settings"]["accept_timeout_seconds"] = 45
    code, out, _ = apply(capsys, write(tmp_path, data))
    assert code == 0
    assert out.splitlines()[0] == "update settings workspace: accept_timeout_seconds 100 → 45"
    assert catalog.get_workspace_settings().accept_timeout_seconds == 45


def test_an_unknown_stack_is_reported_and_nothing_changes(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = livechat(capsys, "apply", str(write(tmp_path, demo())), "--stack", "nope")
    assert (code, out) == (1, "")
    assert "stack 'nope'" in err
    assert table_snapshot() == []


def test_on_the_local_stack_agents_get_the_password_of_the_file_and_no_invitation(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the endpoints of a local stack (here: moto in-process, so no endpoint URL)
    target = stack.Target(table_name="livechat-test", user_pool_id=deployment.pool_id, region=REGION,
                          management_endpoint="http://127.0.0.1:1", local=True)
    stack.activate(target)
    # When the example is applied
    applying.run(read_workspace(write(tmp_path, demo())), target, say=lambda line: None)
    # Then Alice can sign in with the password of the file
    cognito = deployment.cognito()
    assert {u[0]: u[1] for u in cognito["users"]}["alice@example.com"] == "CONFIRMED"
    assert AgentModel.get(AGENT_PK, "alice@example.com").live_chat is True


def test_the_local_stack_loads_its_workspace_as_apply_does(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from livechat_local import seed

    # Given the example loaded as `livechat dev` loads its workspace
    path = write(tmp_path, demo())
    seed.load(read_workspace(path), boto3.client("cognito-idp", region_name=REGION), deployment.pool_id)
    # Then the agents are users named by their e-mail, with the file's password, in the group
    cognito = deployment.cognito()
    assert {u[0]: u[1] for u in cognito["users"]} == {
        "alice@example.com": "CONFIRMED", "bob@example.com": "CONFIRMED"}
    assert cognito["group"] == ["alice@example.com", "bob@example.com"]
    # And `livechat apply` of the same file finds nothing to do: one implementation
    target = stack.Target(table_name=TABLE, user_pool_id=deployment.pool_id, region=REGION,
                          management_endpoint="http://127.0.0.1:1", local=True)
    stack.activate(target)
    assert applying.run(read_workspace(path), target, say=lambda line: None) == []


def test_the_endpoints_file_of_livechat_dev_names_the_local_resources(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps({
        "http": "http://127.0.0.1:8700/", "websocket": "ws://127.0.0.1:8700/ws",
        "aws_endpoint": "http://127.0.0.1:5001", "region": "us-east-1",
        "cognito": {"user_pool_id": "us-east-1_abc", "client_id": "c"}}))
    target = stack.from_local(path)
    assert (target.table_name, target.user_pool_id, target.management_endpoint, target.endpoint_url,
            target.local) == ("livechat", "us-east-1_abc", "http://127.0.0.1:8700", "http://127.0.0.1:5001", True)


def test_the_management_endpoint_is_the_https_form_of_the_websocket_url() -> None:
    assert stack.management_endpoint("wss://abc.execute-api.eu-west-1.amazonaws.com/prod") == (
        "https://abc.execute-api.eu-west-1.amazonaws.com/prod")
