"""Structure of statemachine/offer.asl.json: moto and Step Functions check only part of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.unit

ASL = Path(__file__).parents[2] / "statemachine" / "offer.asl.json"
TERMINAL = {"Succeed", "Fail"}


def definition() -> dict[str, Any]:
    return dict(json.loads(ASL.read_text()))


def successors(state: dict[str, Any]) -> set[str]:
    nxt = {state["Next"]} if "Next" in state else set()
    nxt |= {c["Next"] for c in state.get("Catch", [])}
    nxt |= {c["Next"] for c in state.get("Choices", [])}
    if "Default" in state:
        nxt.add(state["Default"])
    return nxt


def test_every_task_retries_transient_errors_and_catches_everything() -> None:
    for name, state in definition()["States"].items():
        if state["Type"] != "Task":
            continue
        assert state.get("Retry"), f"{name} has no Retry"
        assert any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", [])), name


def test_no_task_retries_a_failed_condition_or_everything() -> None:
    for name, state in definition()["States"].items():
        for retry in state.get("Retry", []):
            errors = set(retry["ErrorEquals"])
            assert "States.ALL" not in errors, f"{name} retries every error"
            assert not any("ConditionalCheckFailed" in e for e in errors), name


def test_every_state_is_reachable_and_every_next_exists() -> None:
    doc = definition()
    states = doc["States"]
    seen, todo = set(), [doc["StartAt"]]
    while todo:
        name = todo.pop()
        assert name in states, f"transition to a missing state {name!r}"
        if name in seen:
            continue
        seen.add(name)
        todo.extend(successors(states[name]))
    assert seen == set(states), f"unreachable: {set(states) - seen}"


def test_every_path_ends() -> None:
    states = definition()["States"]
    can_end = {n for n, s in states.items() if s["Type"] in TERMINAL or s.get("End")}
    changed = True
    while changed:
        changed = False
        for name, state in states.items():
            if name not in can_end and successors(state) & can_end:
                can_end.add(name)
                changed = True
    assert can_end == set(states), f"states that can never end: {set(states) - can_end}"


def test_waiting_is_fed_by_the_task_not_hard_coded() -> None:
    waits = [s for s in definition()["States"].values() if s["Type"] == "Wait"]
    assert waits and all("SecondsPath" in w for w in waits)


def entered(outcomes: list[str]) -> list[str]:
    """The states an execution enters (each a billed transition) when the route_chat tasks
    answer `outcomes` in turn and nothing fails."""
    states = definition()["States"]
    answers, step, path = iter(outcomes), {}, []
    name = definition()["StartAt"]
    while True:
        path.append(name)
        state = states[name]
        if state["Type"] in TERMINAL or state.get("End"):
            return path
        if state["Type"] == "Task":
            step = {"outcome": next(answers)}
        if state["Type"] == "Choice":
            assert all(c["Variable"] == "$.step.outcome" for c in state["Choices"]), name
            name = next((c["Next"] for c in state["Choices"] if c["StringEquals"] == step["outcome"]),
                        state["Default"])
        else:
            name = state["Next"]


def test_an_offer_that_is_accepted_or_expires_enters_four_states() -> None:
    # Started right after the offer was made (its input: the seconds to its deadline)
    assert entered(["done"]) == ["WaitForAccept", "CheckDeadline", "Offered?", "Done"]


def test_a_newer_offer_waits_again_for_its_own_deadline() -> None:
    assert entered(["wait", "done"]) == [
        "WaitForAccept", "CheckDeadline", "Offered?", "WaitForAccept", "CheckDeadline", "Offered?", "Done"]


def test_the_structural_checks_catch_a_missing_state() -> None:
    doc = definition()
    doc["States"]["CheckDeadline"]["Next"] = "Nowhere"
    with pytest.raises(AssertionError):
        name, states, todo, seen = None, doc["States"], [doc["StartAt"]], set()
        while todo:
            name = todo.pop()
            assert name in states
            if name not in seen:
                seen.add(name)
                todo.extend(successors(states[name]))
