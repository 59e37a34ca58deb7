"""critest's JUnit report, and the lists of specs expected to pass (tests/critest)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

# Ginkgo names every spec "[It] <containers> <text>"; suite nodes ([BeforeSuite]...) are not specs.
SPEC_PREFIX = "[It] "
PASSED = "passed"


def spec_statuses(report: Path) -> dict[str, str]:
    """Spec name -> ginkgo status (passed, failed, skipped, panicked, timedout...)."""
    root = ET.parse(report).getroot()
    return {
        str(case.get("name")).removeprefix(SPEC_PREFIX): str(case.get("status"))
        for case in root.iter("testcase")
        if str(case.get("name", "")).startswith(SPEC_PREFIX)
    }


def read_list(path: Path) -> list[str]:
    """One spec name a line; blank lines and lines starting with # are ignored."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@dataclass(frozen=True)
class Verdict:
    ran: int
    passed: list[str]
    regressed: list[str]  # expected to pass, but did not (failed, skipped or missing)
    newly_passing: list[str]  # passed, but not on the list yet


def judge(statuses: dict[str, str], expected: list[str]) -> Verdict:
    passed = sorted(name for name, status in statuses.items() if status == PASSED)
    ran = sum(1 for status in statuses.values() if status not in ("skipped", "pending"))
    wanted = set(expected)
    return Verdict(
        ran=ran,
        passed=passed,
        regressed=sorted(n for n in wanted if statuses.get(n) != PASSED),
        newly_passing=[n for n in passed if n not in wanted],
    )
