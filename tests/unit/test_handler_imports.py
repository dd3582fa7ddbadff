"""What a cold start loads: a handler's import leaves out what only some invocations need.

Token verification (PyJWT, `cryptography`, `requests`), e-mail address validation
(`email_validator`) and push sending are imported by the code that uses them, and no handler
loads the X-Ray SDK (Lambda's own active tracing serves). Each handler is imported in a fresh
interpreter, as a cold start does; bench/cold_start.py prints what the imports cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.template import ROOT

pytestmark = pytest.mark.unit

HANDLERS = sorted(f"functions.{path.parent.name}.app" for path in (ROOT / "functions").glob("*/app.py"))
ON_DEMAND = ("jwt", "cryptography", "requests", "email_validator", "aws_xray_sdk", "pydantic_settings")

LOADED = """import json, sys
{code}
print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}})))
"""


def top_level_modules_after(code: str) -> set[str]:
    """The top-level packages in sys.modules after `code` ran in a fresh interpreter."""
    env = {"PATH": os.environ["PATH"], "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)]),
           "POWERTOOLS_SERVICE_NAME": "livechat", "POWERTOOLS_METRICS_NAMESPACE": "livechat",
           "LIVECHAT_TABLE_NAME": "livechat", "LIVECHAT_VISITOR_SECRET": "s" * 32}
    done = subprocess.run([sys.executable, "-c", LOADED.format(code=code)], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


def test_there_are_handlers_to_check() -> None:
    assert "functions.ws_message.app" in HANDLERS


@pytest.mark.parametrize("module", HANDLERS)
def test_importing_a_handler_loads_nothing_only_some_invocations_need(module: str) -> None:
    loaded = top_level_modules_after(f"import {module}")

    assert module.split(".", maxsplit=1)[0] in loaded  # the import happened
    assert not loaded & set(ON_DEMAND), f"{module} loads {sorted(loaded & set(ON_DEMAND))} at import"


def test_the_token_code_loads_pyjwt_when_it_verifies_a_token() -> None:
    verified = top_level_modules_after(
        "from livechat.api import auth\n"
        "from livechat.domain.errors import Unauthorized\n"
        "assert 'jwt' not in sys.modules\n"
        "try:\n    auth.verify_visitor_token('not-a-token')\nexcept Unauthorized:\n    pass\n"
        "else:\n    raise AssertionError('a malformed token was accepted')")

    assert "jwt" in verified
