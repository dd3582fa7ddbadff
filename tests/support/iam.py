"""The least-privilege check in the test suite (livechat_local.iam does the work).

On for every test (tests/conftest.py uses the fixture and the hook below): each AWS call a
function's handler makes — whichever way the test reaches it: tests/support/world.py, the
Lambda dispatcher of the workflow, a handler called directly — and each call of a Step
Functions execution is evaluated against that principal's role from template.yaml. A
refused call raises the AccessDenied ClientError AWS would answer, and the hook fails the
test that made it even when the product code swallowed the exception. Calls of the tests
themselves (creating tables, seeding, reading for assertions) are no function's and are
not checked.

The tests' deployment names its resources as tests/support/aws.py and workflow.py make
them: the table, the management endpoint and the state machine from the environment the
fixtures set (or, once a fixture unset them, the values it had set); the queues and the verified
sender below.

LIVECHAT_IAM_CHECK=0 turns the check off (to tell a policy problem from another);
LIVECHAT_IAM_USAGE=FILE adds what each principal used to FILE at the end of the session
(`make iam-report`), as `livechat dev --enforce-iam` does for the stacks the e2e, contract
and browser tests start.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID

from livechat_local.iam import (
    USAGE_ENV,
    Checker,
    Denial,
    Deployment,
    active,
    install,
    template_policies,
    uninstall,
)
from tests.support.aws import REGION, TABLE, WS_ENDPOINT
from tests.support.workflow import SENDER

# tests/support/workflow.py's offer_workflow() creates the dead-letter queues by these names.
QUEUES = {"RoutingDeadLetterQueue": "routing-dlq", "NotifyDeadLetterQueue": "notify-dlq"}


# What tests/support/aws.py and workflow.py set, for a call that comes after a fixture unset it
# (a workflow thread still running while the test's environment is torn down; the admin
# commands' fixture unsets the endpoint: the functions then derive it from the event).
DEFAULTS = {"LIVECHAT_TABLE_NAME": TABLE, "LIVECHAT_WS_MANAGEMENT_ENDPOINT": WS_ENDPOINT,
            "LIVECHAT_STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{DEFAULT_ACCOUNT_ID}:stateMachine:offer"}


def deployment() -> Deployment:
    """The names of the tests' resources (read at each call: tests change the environment)."""
    return Deployment.from_environment(queues=QUEUES, parameters={"SenderIdentity": SENDER},
                                       verified_identities=(SENDER,), environ={**DEFAULTS, **os.environ})


def make_checker() -> Checker:
    return Checker(template_policies(), deployment)


@pytest.fixture(scope="session", autouse=True)
def least_privilege() -> Iterator[Checker | None]:
    """The check, for the whole session (see the module docstring)."""
    if os.environ.get("LIVECHAT_IAM_CHECK", "1") == "0":
        yield None
        return
    checker = make_checker()
    install(checker)
    try:
        yield checker
    finally:
        uninstall()
        usage = os.environ.get(USAGE_ENV)
        if usage:
            checker.merge_usage_into(Path(usage))


@contextmanager
def refusals() -> Iterator[list[Denial]]:
    """The calls refused inside the block, taken out of the record: for the tests that
    provoke a refusal on purpose (any other refusal still fails its test)."""
    checker = active()
    assert checker is not None, "the IAM check is off (LIVECHAT_IAM_CHECK=0)"
    earlier = checker.take_denials()
    taken: list[Denial] = []
    try:
        yield taken
    finally:
        taken.extend(checker.take_denials())
        checker.expected(taken)
        checker.put_back(earlier)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    """Fail the phase (set-up, call, tear-down) in which a function's call was refused, even
    if the product code caught the AccessDenied."""
    outcome = yield
    checker = active()
    if checker is None:
        return
    denials = checker.take_denials()
    if not denials:
        return
    report: pytest.TestReport = outcome.get_result()
    text = "\n".join(f"  {d.describe()}" for d in denials)
    report.sections.append(("least privilege (template.yaml)", text))
    if report.outcome != "failed":
        report.outcome = "failed"
        report.longrepr = (f"AWS calls that the functions' policies in template.yaml do not allow "
                           f"(refused with AccessDenied; the code may have swallowed it):\n{text}")
