"""docs/reliability.md promises scenarios and names the tests that prove them: every test it
names must exist, and every scenario row must name at least one or say **Not built**, so the
report cannot drift from the suite (a renamed or deleted test fails here)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
SCENARIO_ROW = re.compile(r"^\| \*\*([RS]\d+)\*\*")
NOT_BUILT = "**Not built**"


def scenario_rows() -> dict[str, str]:
    rows = {}
    for line in DOC.read_text().splitlines():
        match = SCENARIO_ROW.match(line)
        if match:
            rows[match.group(1)] = line
    return rows


def test_every_test_the_report_names_exists() -> None:
    references = TEST_REFERENCE.findall(DOC.read_text())

    assert references, "docs/reliability.md names no tests"
    missing = [
        f"{path}::{name}"
        for path, name in references
        if not (ROOT / path).is_file()
        or not re.search(rf"^(async )?def {name}\(", (ROOT / path).read_text(), re.MULTILINE)
    ]
    assert missing == []


def test_every_scenario_of_the_promise_has_a_row_naming_its_tests() -> None:
    rows = scenario_rows()
    promised = {f"R{n}" for n in range(1, 13)} | {f"S{n}" for n in range(1, 14)}

    assert set(rows) == promised
    untested = sorted(
        (
            scenario
            for scenario, row in rows.items()
            if not TEST_REFERENCE.search(row) and NOT_BUILT not in row
        ),
        key=lambda s: (s[0], int(s[1:])),
    )
    assert untested == [], f"a row that names no test must say {NOT_BUILT}"
