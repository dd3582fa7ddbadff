"""Custom routing rules evaluated over a visitor's attributes (spec/workspace.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from livechat.domain.workspace import AllCondition, AnyCondition, Condition, FieldCondition, Rule


def visitor_attributes(fields: Mapping[str, Any], page: Mapping[str, Any]) -> dict[str, str]:
    """Flatten what rules may test: captured fields, emailDomain, page.* and utm.*."""
    attrs = {k: str(v) for k, v in fields.items() if v is not None and not isinstance(v, dict)}
    email = attrs.get("email", "")
    if "@" in email:
        attrs["emailDomain"] = email.rsplit("@", 1)[1].lower()
    for key in ("url", "title", "referrer"):
        if page.get(key):
            attrs[f"page.{key}"] = str(page[key])
    utm = page.get("utm") or {}
    if isinstance(utm, Mapping):
        for key in ("source", "medium", "campaign"):
            if utm.get(key):
                attrs[f"utm.{key}"] = str(utm[key])
    return attrs


def _fold(text: str) -> str:
    return text.casefold()


def matches(condition: Condition, attrs: Mapping[str, str]) -> bool:
    if isinstance(condition, AllCondition):
        return all(matches(c, attrs) for c in condition.all)
    if isinstance(condition, AnyCondition):
        return any(matches(c, attrs) for c in condition.any)
    return _field_matches(condition, attrs)


def _field_matches(cond: FieldCondition, attrs: Mapping[str, str]) -> bool:
    present = cond.field in attrs and attrs[cond.field] != ""
    if cond.op == "exists":
        return present == (cond.value is not False)
    if not present:
        # A missing field equals nothing; "not" operators hold for it.
        return cond.op in ("not_equals", "not_in")
    # Comparisons ignore case: e-mail addresses, domains and country codes are
    # case-insensitive, and admins should not have to list every spelling.
    actual = _fold(attrs[cond.field])
    if cond.op in ("in", "not_in"):
        values = {_fold(v) for v in cond.value} if isinstance(cond.value, list) else set()
        return (actual in values) == (cond.op == "in")
    expected = _fold(str(cond.value))
    if cond.op == "equals":
        return actual == expected
    if cond.op == "not_equals":
        return actual != expected
    if cond.op == "contains":
        return expected in actual
    if cond.op == "starts_with":
        return actual.startswith(expected)
    return actual.endswith(expected)  # ends_with


def first_match(rules: list[Rule], attrs: Mapping[str, str]) -> tuple[int, Rule] | None:
    for index, rule in enumerate(rules):
        if matches(rule.when, attrs):
            return index, rule
    return None
