"""A change to the published rules bumps RULES_VERSION, the version each journey records.

The fingerprint is of the code of workflows/rules.py and core/normalize.py (how usernames and
answers are compared) (its syntax tree without comments or
docstrings), so rewording a comment needs no new version while any change to a rule does.
When this test fails: bump RULES_VERSION and add its fingerprint below, keeping the old ones
(journeys recorded them)."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

from core import normalize
from workflows import rules

FINGERPRINTS = {
    "2026-12-01": "ee948f3584432fe7f22f0ebc6206b604ee28988ef6c5f509200e8c52b89449ad",
    # An empty username asked for, a maximum for answers and hints, a mistyped URN named.
    "2026-12-01.2": "2fddc8b4e334e63bad98149a86af04e7ef8598239edeb5e076ad872c7b8c5a76",
}


def fingerprint() -> str:
    return hashlib.sha256(
        "".join(code_of(Path(m.__file__ or "")) for m in (rules, normalize)).encode()
    ).hexdigest()


def code_of(path: Path) -> str:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body.pop(0)  # a docstring
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "RULES_VERSION" for t in node.targets
        ):
            node.value = ast.Constant("")  # the version itself is not a rule
    return ast.dump(tree)


def test_a_rule_change_bumps_the_rules_version() -> None:
    assert FINGERPRINTS.get(rules.RULES_VERSION) == fingerprint(), (
        "the rules changed: bump RULES_VERSION and record its fingerprint here"
    )
