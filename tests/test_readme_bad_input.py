"""The README's table of bad input and the tests agree: every case in the table has a test marked
`bad_input("case")`, and every marked case is in the table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_cases() -> list[str]:
    text = (ROOT / "README.md").read_text()
    table = text.split("### Bad input, damaged files and leaked scores", 1)[1].split("\n\n")[2]
    return re.findall(r"^\| `([a-z0-9-]+)` \|", table, flags=re.MULTILINE)


def marked_cases() -> set[str]:
    found = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "bad_input":
                found.add(node.args[0].value)
    return found


def test_every_bad_input_case_in_the_readme_has_a_test_and_back() -> None:
    listed = readme_cases()
    assert len(listed) >= 25 and len(listed) == len(set(listed))
    assert set(listed) == marked_cases()
