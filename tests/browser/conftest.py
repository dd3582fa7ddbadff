"""Browser tests: the hosted pages (layers/common/livechat/web/, served by functions/web as
in the deployment) in Debian's chromium, driven by Playwright for Python, against
`livechat dev` started as a subprocess (no browser download)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIVECHAT = Path(sys.executable).with_name("livechat")
CHROMIUM = os.environ.get("LIVECHAT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
ACCEPT_TIMEOUT = 4  # seconds: the unanswered-offer test waits this long
START_TIMEOUT = 60.0

AGENTS = {  # e-mail -> (name, password); one agent per scenario so that tests never share an offer
    "alice@example.com": ("Alice Adams", "Alice-browser-1"),
    "bob@example.com": ("Bob Brown", "Bob-browser-1"),
    "carol@example.com": ("Carol Clark", "Carol-browser-1"),
    "dave@example.com": ("Dave Dunn", "Dave-browser-1"),
}


def _dialog(dialog_id: str, agent: str) -> str:
    return f"""  - id: {dialog_id}
    cards:
      - id: ask
        kind: question
        text: "Would you like to talk to someone from sales?"
        answers:
          - label: "Yes"
            next:
              - id: who
                kind: capture
                fields: [firstName, email, company]
                required: [firstName, email]
              - id: live
                kind: live_chat
                routing: {{mode: agent, agent: {agent}}}
          - label: "No thanks"
            next:
              - id: bye
                kind: message
                text: "Happy browsing!"
"""


def workspace_yaml() -> str:
    agents = "\n".join(f"""  - email: {email}
    name: {name}
    avatar_url: ""
    password: "{password}\"""" for email, (name, password) in AGENTS.items())
    dialogs = "".join(_dialog(email.split("@")[0], email) for email in AGENTS)
    return f"""settings:
  accept_timeout_seconds: {ACCEPT_TIMEOUT}
  inactivity_timeout_seconds: 600
  fallback_message: "Our team is busy right now - we'll e-mail you shortly."
  failure_emails:
    from: chat-alerts@example.com
    to: [sales-ops@example.com]

agents:
{agents}

dialogs:
{dialogs}"""


@dataclass(frozen=True)
class Stack:
    http: str  # ends with "/"
    endpoints: dict[str, Any]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("livechat-browser")
    workspace = directory / "workspace.yaml"
    workspace.write_text(workspace_yaml(), encoding="utf-8")
    endpoints_file = directory / "endpoints.json"
    out, err = directory / "dev.out", directory / "dev.err"
    with out.open("wb") as o, err.open("wb") as e:
        process = subprocess.Popen(
            [str(LIVECHAT), "dev", "--workspace", str(workspace), "--port", "0", "--endpoints-file",
             str(endpoints_file), "--sweep-interval", "1", "--quiet", "--enforce-iam"], cwd=ROOT, stdout=o, stderr=e)
    deadline = time.monotonic() + START_TIMEOUT
    while not endpoints_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"livechat dev did not start:\n{out.read_text()}\n{err.read_text()}")
        time.sleep(0.1)
    endpoints = json.loads(endpoints_file.read_text())
    try:
        yield Stack(endpoints["http"], endpoints)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# Module scope, not session: Playwright's sync API keeps an event loop running in this
# thread while it is open, and the e2e tests that run after these use asyncio.run().
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"browser tests need chromium at {CHROMIUM} (apt-get install chromium; "
                    "`make test` installs it when run as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need Playwright for Python (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """Pages in their own contexts (separate localStorage/sessionStorage), closed afterwards;
    a page error (an uncaught exception in our scripts) fails the test."""
    contexts: list[Any] = []
    errors: list[str] = []

    def make(width: int = 1100, height: int = 720, **options: Any) -> Any:
        # options: Playwright's own for the context (e.g. timezone_id for the page's clock)
        context = browser.new_context(viewport={"width": width, "height": height}, **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"uncaught errors in the pages: {errors}"


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


# --- helpers appended for tests/browser/test_push_notifications.py (issue 13) ----------------


@contextmanager
def running_stack(directory: Path, workspace_text: str) -> Iterator[Stack]:
    """`livechat dev` on `workspace_text`, started and stopped as the `stack` fixture does it:
    for a module that needs other settings (e.g. an offer that stands long enough to hear its
    sound repeat)."""
    workspace = directory / "workspace.yaml"
    workspace.write_text(workspace_text, encoding="utf-8")
    endpoints_file = directory / "endpoints.json"
    out, err = directory / "dev.out", directory / "dev.err"
    with out.open("wb") as o, err.open("wb") as e:
        process = subprocess.Popen(
            [str(LIVECHAT), "dev", "--workspace", str(workspace), "--port", "0", "--endpoints-file",
             str(endpoints_file), "--sweep-interval", "1", "--quiet", "--enforce-iam"], cwd=ROOT, stdout=o, stderr=e)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not endpoints_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"livechat dev did not start:\n{out.read_text()}\n{err.read_text()}")
            time.sleep(0.1)
        endpoints = json.loads(endpoints_file.read_text())
        yield Stack(endpoints["http"], endpoints)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def sign_in_to_inbox(page: Any, stack: Stack, email: str, password: str) -> None:
    """Sign in to the hosted inbox and wait for its WebSocket."""
    from playwright.sync_api import expect

    page.goto(stack.http + "inbox.html")
    page.fill("#signin-email", email)
    page.fill("#signin-password", password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#conn")).to_have_text("Connected")
