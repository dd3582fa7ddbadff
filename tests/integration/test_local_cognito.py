"""The local stack's Cognito matches user names as the template's pool asks AWS to.

template.yaml's UserPool has UsernameConfiguration CaseSensitive false, so real Cognito signs
``ALICE@Example.COM`` in as the user ``alice@example.com``; moto ignores the setting, and
livechat_local.moto_patches (4.) corrects it — only for pools that ask for it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.cognitoidp.models import CognitoIdpUserPool

from livechat_local import moto_patches
from tests.support.aws import REGION
from tests.support.template import load_template, user_pool_create_kwargs

pytestmark = pytest.mark.integration

ALICE = "alice@example.com"
PASSWORD = "Correct-Horse-Battery-9"


@pytest.fixture
def idp(aws_env: None) -> Iterator[Any]:  # aws_env applies moto_patches
    with mock_aws():
        yield boto3.client("cognito-idp", region_name=REGION)


def template_pool(idp: Any, **overrides: Any) -> tuple[str, str]:
    """A pool created as the local stack creates it, with a client for both password flows."""
    kwargs = user_pool_create_kwargs(load_template(), pool_name="agents")
    kwargs.update(overrides)
    if kwargs.get("UsernameConfiguration") is None:
        kwargs.pop("UsernameConfiguration", None)
    pool = idp.create_user_pool(**kwargs)["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="web",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    return pool, client


def create_alice(idp: Any, pool: str, *, permanent: bool = True) -> None:
    idp.admin_create_user(UserPoolId=pool, Username=ALICE, MessageAction="SUPPRESS", TemporaryPassword=PASSWORD,
                          UserAttributes=[{"Name": "email", "Value": ALICE}, {"Name": "email_verified", "Value": "true"}])
    if permanent:
        idp.admin_set_user_password(UserPoolId=pool, Username=ALICE, Password=PASSWORD, Permanent=True)


def sign_in(idp: Any, client: str, name: str, password: str = PASSWORD) -> dict[str, Any]:
    response: dict[str, Any] = idp.initiate_auth(
        ClientId=client, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": name, "PASSWORD": password})
    return response


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def test_given_the_templates_pool_when_alice_signs_in_in_another_case_then_she_is_alice(idp: Any) -> None:
    # Given the template's pool (CaseSensitive false) and alice@example.com with a permanent password
    pool, client = template_pool(idp)
    assert idp.describe_user_pool(UserPoolId=pool)["UserPool"]["UsernameConfiguration"] == {"CaseSensitive": False}
    create_alice(idp, pool)

    for name in ("ALICE@Example.COM", ALICE.upper(), ALICE):
        # When she signs in with her e-mail in that case
        result = sign_in(idp, client, name)["AuthenticationResult"]

        # Then her tokens name the user as created
        assert claims(result["IdToken"])["cognito:username"] == ALICE
        assert claims(result["AccessToken"])["username"] == ALICE
        assert idp.get_user(AccessToken=result["AccessToken"])["Username"] == ALICE
        # And her refresh token renews them, still as alice@example.com
        renewed = idp.initiate_auth(ClientId=client, AuthFlow="REFRESH_TOKEN_AUTH",
                                    AuthParameters={"REFRESH_TOKEN": result["RefreshToken"]})["AuthenticationResult"]
        assert claims(renewed["IdToken"])["cognito:username"] == ALICE

    # And the admin flow too
    admin = idp.admin_initiate_auth(UserPoolId=pool, ClientId=client, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                    AuthParameters={"USERNAME": "Alice@EXAMPLE.com", "PASSWORD": PASSWORD})
    assert claims(admin["AuthenticationResult"]["IdToken"])["cognito:username"] == ALICE

    # But a wrong password is still refused
    with pytest.raises(ClientError) as refused:
        sign_in(idp, client, ALICE.upper(), "Wrong-Password-1")
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"


def test_given_an_invited_agent_when_she_sets_her_password_in_another_case_then_she_is_signed_in_as_created(
        idp: Any) -> None:
    # Given alice@example.com invited with a temporary password
    pool, client = template_pool(idp)
    create_alice(idp, pool, permanent=False)

    # When she signs in, and answers the new-password challenge, typing her e-mail in capitals
    challenge = sign_in(idp, client, ALICE.upper())
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    result = idp.respond_to_auth_challenge(
        ClientId=client, ChallengeName="NEW_PASSWORD_REQUIRED", Session=challenge["Session"],
        ChallengeResponses={"USERNAME": ALICE.upper(), "NEW_PASSWORD": "Another-Horse-Battery-7"},
    )["AuthenticationResult"]

    # Then she is alice@example.com, confirmed, with the new password
    assert claims(result["IdToken"])["cognito:username"] == ALICE
    assert idp.admin_get_user(UserPoolId=pool, Username=ALICE)["UserStatus"] == "CONFIRMED"
    sign_in(idp, client, ALICE, "Another-Horse-Battery-7")


def test_given_the_templates_pool_when_an_admin_names_alice_in_another_case_then_it_is_alice(idp: Any) -> None:
    pool, client = template_pool(idp)
    create_alice(idp, pool)
    other = "ALICE@example.COM"

    # admin_get_user answers with the user as created
    assert idp.admin_get_user(UserPoolId=pool, Username=other)["Username"] == ALICE
    # admin_set_user_password sets hers
    idp.admin_set_user_password(UserPoolId=pool, Username=other, Password="Third-Horse-Battery-5", Permanent=True)
    # admin_add_user_to_group adds her
    idp.create_group(UserPoolId=pool, GroupName="agents")
    idp.admin_add_user_to_group(UserPoolId=pool, Username=other, GroupName="agents")
    users = idp.list_users_in_group(UserPoolId=pool, GroupName="agents")["Users"]
    assert [u["Username"] for u in users] == [ALICE]

    result = sign_in(idp, client, ALICE, "Third-Horse-Battery-5")["AuthenticationResult"]
    assert claims(result["IdToken"])["cognito:groups"] == ["agents"]

    # admin_user_global_sign_out revokes the refresh token of a sign-in typed in any case
    typed = sign_in(idp, client, ALICE.upper(), "Third-Horse-Battery-5")["AuthenticationResult"]
    idp.admin_user_global_sign_out(UserPoolId=pool, Username=other)
    for tokens in (result, typed):
        with pytest.raises(ClientError) as revoked:
            idp.initiate_auth(ClientId=client, AuthFlow="REFRESH_TOKEN_AUTH",
                              AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
        assert revoked.value.response["Error"]["Code"] == "NotAuthorizedException"


def test_given_the_templates_pool_when_a_user_differing_only_in_case_is_created_then_it_is_refused(
        idp: Any) -> None:
    pool, _ = template_pool(idp)
    create_alice(idp, pool)

    with pytest.raises(ClientError) as refused:
        idp.admin_create_user(UserPoolId=pool, Username="Alice@Example.com", MessageAction="SUPPRESS",
                              TemporaryPassword=PASSWORD)

    assert refused.value.response["Error"]["Code"] == "UsernameExistsException"
    assert [u["Username"] for u in idp.list_users(UserPoolId=pool)["Users"]] == [ALICE]


def test_given_a_pool_with_email_as_user_name_attribute_when_signing_in_in_another_case_then_it_is_the_user(
        idp: Any) -> None:
    # UsernameAttributes [email] and CaseSensitive false: the e-mail matches in any case too
    pool, client = template_pool(idp, UsernameAttributes=["email"])
    idp.admin_create_user(UserPoolId=pool, Username=ALICE, MessageAction="SUPPRESS", TemporaryPassword=PASSWORD)
    idp.admin_set_user_password(UserPoolId=pool, Username=ALICE, Password=PASSWORD, Permanent=True)

    result = sign_in(idp, client, ALICE.upper())["AuthenticationResult"]

    assert claims(result["IdToken"])["sub"] == idp.admin_get_user(UserPoolId=pool, Username=ALICE)["Username"]


@pytest.mark.parametrize("username_configuration", [{"CaseSensitive": True}, None],
                         ids=["CaseSensitive-true", "no-UsernameConfiguration"])
def test_given_a_case_sensitive_pool_when_alice_signs_in_in_another_case_then_she_is_not_found(
        idp: Any, username_configuration: dict[str, bool] | None) -> None:
    # Given a pool that does not ask for case-insensitive names (the API's default is sensitive)
    pool, client = template_pool(idp, UsernameConfiguration=username_configuration)
    create_alice(idp, pool)

    # When she signs in with her e-mail in capitals, then there is no such user
    with pytest.raises(ClientError) as refused:
        sign_in(idp, client, ALICE.upper())
    assert refused.value.response["Error"]["Code"] == "UserNotFoundException"
    # While her name as created still signs her in
    assert claims(sign_in(idp, client, ALICE)["AuthenticationResult"]["IdToken"])["cognito:username"] == ALICE
    # And a name differing only in case is another user
    idp.admin_create_user(UserPoolId=pool, Username=ALICE.upper(), MessageAction="SUPPRESS", TemporaryPassword=PASSWORD)
    assert sorted(u["Username"] for u in idp.list_users(UserPoolId=pool)["Users"]) == [ALICE.upper(), ALICE]


def test_applying_the_patches_again_changes_nothing(idp: Any) -> None:
    patched = CognitoIdpUserPool._get_user
    moto_patches.apply()
    moto_patches._patch_cognito_user_names()
    assert CognitoIdpUserPool._get_user is patched
    pool, client = template_pool(idp)
    create_alice(idp, pool)
    assert claims(sign_in(idp, client, ALICE.upper())["AuthenticationResult"]["IdToken"])["cognito:username"] == ALICE
