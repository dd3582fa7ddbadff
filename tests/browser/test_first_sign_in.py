"""An invited agent's first sign-in in the inbox (inbox.html): the user is created as
`livechat apply` creates it for a deployed stack (a temporary password only, in the LiveChat
group), so signing in answers Cognito's NEW_PASSWORD_REQUIRED challenge and the inbox asks
for a new password before it connects."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from livechat.api.auth import LIVE_CHAT_GROUP

from tests.browser.conftest import Stack, screenshot

sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright for Python")
expect = sync_api.expect

pytestmark = pytest.mark.browser

POLICY = "At least 12 characters, with a lower-case letter, an upper-case letter and a number."


def idp(stack: Stack) -> Any:
    return boto3.client("cognito-idp", region_name=stack.endpoints["region"],
                        endpoint_url=stack.endpoints["aws_endpoint"],
                        aws_access_key_id="browser", aws_secret_access_key="browser")


def invite(stack: Stack, email: str, name: str, temporary_password: str) -> None:
    """As `livechat apply` does for a deployed stack, with the invitation's password known
    (Cognito would mail it) and no mail sent."""
    pool = stack.endpoints["cognito"]["user_pool_id"]
    client = idp(stack)
    client.admin_create_user(UserPoolId=pool, Username=email, TemporaryPassword=temporary_password,
                             MessageAction="SUPPRESS",
                             UserAttributes=[{"Name": "email", "Value": email},
                                             {"Name": "email_verified", "Value": "true"},
                                             {"Name": "name", "Value": name}])
    client.admin_add_user_to_group(UserPoolId=pool, Username=email, GroupName=LIVE_CHAT_GROUP)


def user_status(stack: Stack, email: str) -> str:
    user = idp(stack).admin_get_user(UserPoolId=stack.endpoints["cognito"]["user_pool_id"], Username=email)
    return str(user["UserStatus"])


def submit_sign_in(page: Any, email: str, password: str) -> None:
    page.fill("#signin-email", email)
    page.fill("#signin-password", password)
    page.get_by_role("button", name="Sign in").click()


def submit_new_password(page: Any, password: str, again: str | None = None) -> None:
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("New password again").fill(password if again is None else again)
    page.get_by_role("button", name="Set password and sign in").click()


def expect_connected(page: Any, email: str) -> None:
    expect(page.locator("#conn")).to_have_text("Connected")
    # The header names the agent as visitors see them (a profile the first sign-in made is
    # named after the e-mail's local part); the e-mail they signed in with is on hover.
    expect(page.locator("#me")).to_have_text(email.split("@", maxsplit=1)[0])
    expect(page.locator("#me")).to_have_attribute("title", f"Signed in as {email}")
    expect(page.locator("#signin")).to_be_hidden()


def test_an_invited_agent_chooses_a_new_password_at_the_first_sign_in_and_uses_it_afterwards(
        stack: Stack, new_page: Any) -> None:
    email, temporary, chosen = "erin@example.com", "Invite-temp-pass-1", "Erin-own-pass-12"
    invite(stack, email, "Erin Evans", temporary)
    assert user_status(stack, email) == "FORCE_CHANGE_PASSWORD"

    page = new_page()
    page.goto(stack.http + "inbox.html")
    submit_sign_in(page, "Erin@Example.com", temporary)  # any spelling of the e-mail

    form = page.locator("#newpass-form")
    expect(form).to_be_visible()
    expect(page.locator("#signin-form")).to_be_hidden()
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    expect(form).to_contain_text(email)
    expect(page.locator("#newpass-policy")).to_have_text(POLICY)
    new_password = page.get_by_label("New password", exact=True)
    expect(new_password).to_be_focused()
    expect(new_password).to_have_attribute("autocomplete", "new-password")
    expect(page.get_by_label("New password again")).to_have_attribute("autocomplete", "new-password")
    expect(new_password).to_have_accessible_description(POLICY)
    expect(page.locator("#newpass-error")).to_have_attribute("role", "alert")
    screenshot(page, "new-password-form")

    submit_new_password(page, "Short-pw-1")
    expect(page.get_by_role("alert")).to_have_text("The new password is too short: it needs at least 12 characters.")
    expect(new_password).to_be_focused()
    screenshot(page, "new-password-too-short")
    submit_new_password(page, "erin-own-pass-12")
    expect(page.locator("#newpass-error")).to_have_text("The new password needs an upper-case letter.")
    submit_new_password(page, chosen, "Erin-own-pass-13")
    expect(page.locator("#newpass-error")).to_have_text(
        "The two passwords are not the same: type the new password again.")
    expect(page.get_by_label("New password again")).to_be_focused()
    assert user_status(stack, email) == "FORCE_CHANGE_PASSWORD"  # nothing was sent to Cognito

    submit_new_password(page, chosen)
    expect_connected(page, email)
    assert user_status(stack, email) == "CONFIRMED"

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#signin-form")).to_be_visible()
    expect(form).to_be_hidden()

    # Later, in another browser: the temporary password is spent, the new one signs in directly.
    later = new_page()
    later.goto(stack.http + "inbox.html")
    submit_sign_in(later, email, temporary)
    expect(later.locator("#signin-error")).to_have_text("Wrong e-mail or password.")
    submit_sign_in(later, email, chosen)
    expect_connected(later, email)
    expect(later.locator("#newpass-form")).to_be_hidden()


def test_cognito_refusing_the_new_password_or_the_expired_session_is_said_plainly(
        stack: Stack, new_page: Any) -> None:
    """Cognito's own answers (InvalidPasswordException for a policy it enforces beyond the
    form's check, NotAuthorizedException once the challenge's session has expired), as the
    real service words them, put in place of the emulator's for one call each."""
    email, temporary, chosen = "frank@example.com", "Invite-temp-pass-2", "Frank-own-pass-12"
    invite(stack, email, "Frank Foster", temporary)
    answers = [
        {"__type": "InvalidPasswordException", "message": "Password does not conform to policy: Password not long enough"},
        {"__type": "NotAuthorizedException", "message": "Invalid session for the user, session is expired."},
    ]
    sent: list[dict[str, Any]] = []

    def cognito(route: Any) -> None:
        request = route.request
        if request.headers.get("x-amz-target", "").endswith(".RespondToAuthChallenge") and answers:
            sent.append(json.loads(request.post_data or "{}"))
            route.fulfill(status=400, content_type="application/x-amz-json-1.1", body=json.dumps(answers.pop(0)))
        else:
            route.continue_()

    page = new_page()
    page.route(stack.http + "dev/cognito", cognito)
    page.goto(stack.http + "inbox.html")
    submit_sign_in(page, email, temporary)
    expect(page.locator("#newpass-form")).to_be_visible()

    submit_new_password(page, chosen)
    expect(page.get_by_role("alert")).to_have_text(
        "The new password was refused: Password does not conform to policy: Password not long enough")
    expect(page.locator("#newpass-form")).to_be_visible()
    assert sent[0]["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    assert sent[0]["ChallengeResponses"] == {"USERNAME": email, "NEW_PASSWORD": chosen}
    assert sent[0]["ClientId"] == stack.endpoints["cognito"]["client_id"] and sent[0]["Session"]

    submit_new_password(page, chosen)
    expect(page.locator("#signin-form")).to_be_visible()
    expect(page.locator("#newpass-form")).to_be_hidden()
    expect(page.locator("#signin-error")).to_have_text(
        "Your sign-in expired before the new password was set: sign in again with your temporary password. "
        "(Invalid session for the user, session is expired.)")
    expect(page.locator("#signin-email")).to_have_value(email)
    expect(page.locator("#signin-password")).to_be_focused()
    screenshot(page, "new-password-session-expired")
    assert user_status(stack, email) == "FORCE_CHANGE_PASSWORD"

    # Back to the start: the temporary password asks again, and this time Cognito agrees.
    submit_sign_in(page, email, temporary)
    expect(page.get_by_label("New password", exact=True)).to_be_focused()
    page.get_by_role("button", name="Back to sign-in").click()
    expect(page.locator("#signin-form")).to_be_visible()
    submit_sign_in(page, email, temporary)
    submit_new_password(page, chosen)
    expect_connected(page, email)
    assert user_status(stack, email) == "CONFIRMED"
