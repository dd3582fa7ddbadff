from __future__ import annotations

from pathlib import Path

import pytest
from livechat.api.protocol_doc import render

pytestmark = pytest.mark.unit


def test_docs_protocol_md_is_generated_from_the_current_models() -> None:
    current = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
    assert current == render(), "run: .venv/bin/python -m livechat.api.protocol_doc > docs/protocol.md"


def test_every_client_action_is_documented() -> None:
    from livechat.api.protocol import ACTIONS

    text = render()
    assert all(f"| `{action}` |" in text for action in ACTIONS)
