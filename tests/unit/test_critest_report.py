"""Reading critest's JUnit report and judging it against the expected passes."""

from __future__ import annotations

from pathlib import Path

from tests.support.critest import judge, read_list, spec_statuses

REPORT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="5" failures="1">
  <testsuite name="CRI validation" tests="5">
    <testcase name="[BeforeSuite]" classname="CRI validation" status="passed"></testcase>
    <testcase name="[It] [k8s.io] A runtime should a" classname="CRI validation" status="passed"/>
    <testcase name="[It] [k8s.io] B runtime should b" classname="CRI validation" status="failed">
      <failure message="boom" type="failed"/>
    </testcase>
    <testcase name="[It] [k8s.io] C benchmark c" classname="CRI validation" status="skipped"/>
    <testcase name="[It] [k8s.io] D runtime should d" classname="CRI validation" status="passed"/>
  </testsuite>
</testsuites>
"""


def test_specs_are_read_without_suite_nodes(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(REPORT)
    assert spec_statuses(report) == {
        "[k8s.io] A runtime should a": "passed",
        "[k8s.io] B runtime should b": "failed",
        "[k8s.io] C benchmark c": "skipped",
        "[k8s.io] D runtime should d": "passed",
    }


def test_a_listed_spec_that_fails_skips_or_vanishes_is_a_regression() -> None:
    statuses = {"a": "passed", "b": "failed", "c": "skipped", "d": "passed"}
    verdict = judge(statuses, ["a", "b", "c", "gone"])
    assert verdict.regressed == ["b", "c", "gone"]
    assert verdict.newly_passing == ["d"]
    assert verdict.ran == 3
    assert verdict.passed == ["a", "d"]


def test_lists_ignore_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("# header\n\n[k8s.io] A runtime should a\n  \n")
    assert read_list(path) == ["[k8s.io] A runtime should a"]
