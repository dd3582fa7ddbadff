"""`make iam-report`: per function (and the offer workflow), each permission its role in
template.yaml grants — one action on one resource of one statement — with how often the
test suite's calls used it, and those never used.

    python -m tests.support.iam_report [.iam-usage.json]

The usage file is what the IAM check recorded (LIVECHAT_IAM_USAGE=FILE: the pytest process
and each `livechat dev --enforce-iam` it started add to it; see livechat_local/iam.py).
Managed policies (Lambda's own logs and X-Ray, used by the service, not by our code) are
listed apart and never as unused. Exit status 0 (a report, not a verdict), 2 without a
usage file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from livechat_local.iam import Policies, grant_key, template_policies

DEFAULT_USAGE = Path(".iam-usage.json")


def unused_grants(policies: Policies, usage: Mapping[str, Any]) -> dict[str, list[str]]:
    """Principal -> the keys of its (non-managed) grants that no recorded call used."""
    found: dict[str, list[str]] = {}
    for principal in policies.principals:
        used = usage["principals"].get(principal, {})
        found[principal] = [grant_key(label, action, resource)
                            for label, action, resource, managed, _ in policies.symbolic_grants(principal)
                            if not managed and grant_key(label, action, resource) not in used]
    return found


def report(policies: Policies, usage: Mapping[str, Any]) -> str:
    lines: list[str] = []
    unused = unused_grants(policies, usage)
    for logical_id, principal in policies.principals.items():
        used = usage["principals"].get(logical_id, {})
        title = f"{logical_id} ({principal.kind}" + (f" functions/{principal.name})" if principal.kind == "function"
                                                     else ")")
        lines.append(title)
        managed: set[str] = set()
        for label, action, resource, is_managed, condition in policies.symbolic_grants(logical_id):
            if is_managed:
                managed.add(label.removeprefix("managed:"))
                continue
            key = grant_key(label, action, resource)
            entry = used.get(key)
            count = "NEVER USED" if entry is None else f"used {entry['count']:>6}x"
            shown = f"  {count}  {key}"
            if condition:
                shown += f"  if {json.dumps(condition, sort_keys=True)}"
            if entry and entry.get("leadingKeys"):
                shown += f"  [partition keys seen: {', '.join(entry['leadingKeys'])}]"
            lines.append(shown)
        if managed:
            lines.append(f"  (managed, for the Lambda service itself: {', '.join(sorted(managed))})")
        lines.append("")
    never = [(p, key) for p, keys in unused.items() for key in keys]
    lines.append(f"Granted but never used in the recorded run: {len(never)}")
    lines.extend(f"  {p}: {key}" for p, key in never)
    if usage.get("refused"):
        lines.append("")
        lines.append(f"Refused calls in the recorded run: {len(usage['refused'])}")
        lines.extend(f"  {r['principal']}: {r['action']} on {r['resource']} ({r['count']}x)" for r in usage["refused"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.iam_report", description=__doc__.split("\n\n")[0])
    parser.add_argument("usage", nargs="?", type=Path, default=DEFAULT_USAGE, help="the recorded usage file")
    args = parser.parse_args(argv)
    if not args.usage.exists():
        print(f"{args.usage}: no usage recorded (run the tests with LIVECHAT_IAM_USAGE={args.usage})", file=sys.stderr)
        return 2
    print(report(template_policies(), json.loads(args.usage.read_text(encoding="utf-8"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
