"""The widget's words from one table, in the dialog's language (the demo seed's French and
Chinese dialogs), with a workspace's own rewording; and the widget by keyboard and screen
reader: focus moves to what can be answered, the panel says its language, new messages are
announced in a live region."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ROOT, Stack, running_stack, screenshot

sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright for Python")
expect = sync_api.expect

pytestmark = pytest.mark.browser

DEMO = ROOT / "workspaces" / "demo.yaml"
ACTIVE = "document.querySelector('#livechat-widget').shadowRoot.activeElement"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The demo workspace as `make dev` loads it (its French and Chinese dialogs)."""
    with running_stack(Path(tmp_path_factory.mktemp("livechat-languages")), DEMO.read_text(encoding="utf-8")) as stack:
        yield stack


def focused_text(page: Any) -> str:
    return str(page.evaluate(f"({ACTIVE} || {{}}).textContent || ({ACTIVE} || {{}}).name || ''"))


def announced(page: Any) -> Any:
    return page.locator("#livechat-widget [data-role=announcer]")


def test_the_french_dialog_speaks_french_by_keyboard_and_to_a_screen_reader(demo: Stack, new_page: Any) -> None:
    agent = new_page()
    agent.goto(demo.http + "inbox.html")
    agent.fill("#signin-email", "alice@example.com")
    agent.fill("#signin-password", "Alice-demo-1")
    agent.get_by_role("button", name="Sign in").click()
    expect(agent.locator("#conn")).to_have_text("Connected")

    visitor = new_page()
    visitor.goto(f"{demo.http}demo.html?dialog=sales-fr")
    # The workspace's own wording of the launcher; every other word from the French table
    launcher = visitor.get_by_role("button", name="Parler à un conseiller")
    launcher.focus()
    visitor.keyboard.press("Enter")
    expect(visitor.locator("#livechat-widget .root")).to_have_attribute("lang", "fr")
    expect(visitor.get_by_role("dialog", name="Discussion en direct")).to_be_visible()
    expect(visitor.get_by_role("button", name="Fermer la discussion")).to_be_visible()
    # Focus goes to the first answer; the question was announced
    expect(visitor.get_by_role("button", name="Oui")).to_be_focused()
    expect(announced(visitor)).to_have_text("Souhaitez-vous parler à quelqu’un de l’équipe commerciale ?")
    visitor.keyboard.press("Enter")
    # Then the form's first field; labels and errors in French
    expect(visitor.locator("[data-field=firstName]")).to_be_focused()
    expect(visitor.locator("label[for$=-firstName]")).to_have_text("Prénom *")
    visitor.keyboard.press("Enter")
    expect(visitor.locator("[data-error-for=firstName]")).to_have_text("Ce champ est obligatoire.")
    expect(visitor.locator("[data-field=firstName]")).to_be_focused()  # the first field in error
    visitor.keyboard.type("Élise")
    visitor.keyboard.press("Tab")
    expect(visitor.locator("[data-field=email]")).to_be_focused()
    visitor.keyboard.type("elise@example.fr")
    visitor.keyboard.press("Enter")
    expect(visitor.locator("[data-role=connecting]")).to_have_text("Mise en relation…")
    expect(announced(visitor)).to_have_text("Mise en relation…")
    screenshot(visitor, "widget-fr-connecting")

    banner = agent.locator(".offer")
    expect(banner).to_contain_text("Élise")
    agent.get_by_role("button", name="Accept").click()
    expect(visitor.locator("[data-role=joined]")).to_have_text("Alice Martin a rejoint la discussion")
    expect(visitor.locator("#livechat-widget textarea")).to_be_focused()
    expect(visitor.locator("#livechat-widget textarea")).to_have_attribute("placeholder", "Écrivez votre message…")
    agent.locator("#composer-text").fill("Bonjour Élise")
    agent.locator("#composer-text").press("Enter")
    # A new message is read out: the live region names who said it, in French
    expect(announced(visitor)).to_have_text("Alice Martin : Bonjour Élise")
    screenshot(visitor, "widget-fr-live")
    visitor.keyboard.press("Escape")
    expect(launcher).to_be_focused()


def test_the_chinese_dialog_speaks_chinese(demo: Stack, new_page: Any) -> None:
    visitor = new_page()
    visitor.goto(f"{demo.http}demo.html?dialog=sales-zh")
    visitor.get_by_role("button", name="与我们聊天").click()
    expect(visitor.locator("#livechat-widget .root")).to_have_attribute("lang", "zh")
    expect(visitor.get_by_role("button", name="是的")).to_be_focused()
    visitor.keyboard.press("Enter")
    expect(visitor.locator("label[for$=-email]")).to_have_text("电子邮箱 *")
    expect(visitor.get_by_role("button", name="继续")).to_be_visible()
    screenshot(visitor, "widget-zh")


def test_an_english_dialog_keeps_the_english_words(demo: Stack, new_page: Any) -> None:
    visitor = new_page()
    visitor.goto(f"{demo.http}demo.html?dialog=sales")
    visitor.get_by_role("button", name="Chat with us").click()
    expect(visitor.locator("#livechat-widget .root")).to_have_attribute("lang", "en")
    expect(visitor.get_by_role("button", name="Close chat", exact=True)).to_be_visible()
