"""The offer timer's execution ARN, derived rather than stored (livechat.outbound.timers)."""

from __future__ import annotations

import pytest
from livechat.outbound import timers

pytestmark = pytest.mark.unit

MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:OfferStateMachine-AbC1"


def test_the_execution_arn_is_the_machines_with_execution_and_the_name() -> None:
    assert timers.execution_arn(MACHINE, "h.c0ffee-2") == (
        "arn:aws:states:eu-west-1:123456789012:execution:OfferStateMachine-AbC1:h.c0ffee-2")


def test_a_qualified_machine_arn_names_the_same_executions() -> None:
    assert timers.execution_arn(MACHINE + ":live", "x-1") == timers.execution_arn(MACHINE, "x-1")


def test_the_partition_is_kept() -> None:
    china = MACHINE.replace("arn:aws:", "arn:aws-cn:")
    assert timers.execution_arn(china, "x-1").startswith("arn:aws-cn:states:eu-west-1:")


@pytest.mark.parametrize("arn", ["", "arn:aws:lambda:eu-west-1:1:function:f",
                                 "arn:aws:states:eu-west-1:1:execution:M:n"])
def test_anything_but_a_state_machine_arn_is_refused(arn: str) -> None:
    with pytest.raises(ValueError):
        timers.execution_arn(arn, "x-1")
