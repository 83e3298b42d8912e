"""backplan diff: what a rule change changes for a cohort, with invalid lines reported, not fatal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import engine
from cli import app
from engine.diff import IntakeChange, LineError, Side, diff_cohort
from tests.conftest import ROOT, answers

runner = CliRunner()
RULES = ROOT / "rules"
STRONG_AT_6 = '{ field = "pain.intensity", gte = 6 }'
NEVER_PLANK = """
[[rule]]
id = "no_plank_for_anyone"
title = "A new exclusion: no plank"
rationale = "Written by the diff test to see an exclusion reach the cohort."
source = "seed_002"
stage = "select"
priority = 3
when = { always = true }

[[rule.then]]
action = "exclude"
exercises = ["plank"]
reason = "the diff test leaves the plank out"
"""


def edited_rules(tmp_path: Path, *, strong_from: int | None = None, extra: str | None = None) -> Path:
    folder = tmp_path / "after"
    shutil.copytree(RULES, folder)
    if strong_from is not None:
        path = folder / "screen" / "cautions.toml"
        text = path.read_text(encoding="utf-8")
        assert text.count(STRONG_AT_6) == 1
        path.write_text(text.replace(STRONG_AT_6, STRONG_AT_6.replace("6", str(strong_from))), encoding="utf-8")
    if extra is not None:
        (folder / "select" / "extra.toml").write_text(extra, encoding="utf-8")
    return folder


def cohort(tmp_path: Path) -> Path:
    lines = [
        json.dumps(answers(pain__status="chronic", pain__intensity=5)),  # 1: becomes "strong pain"
        json.dumps(answers(pain__status="chronic", pain__intensity=3)),  # 2: unchanged
        "{not json",  # 3
        json.dumps(answers(screening__fever=True)),  # 4: stopped either way
        json.dumps({**answers(), "agee": 40}),  # 5
        json.dumps(answers(pain__status="acute", pain__intensity=7)),  # 6: strong either way
        "",  # 7
    ]
    path = tmp_path / "cohort.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


ERRORS = [
    LineError(3, "malformed JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    LineError(5, "agee: unknown key (did you mean 'age'?)"),
    LineError(7, "empty line"),
]


def test_threshold_change_changes_outcome_and_warnings(tmp_path: Path, book: engine.RuleBook) -> None:
    after = engine.load_rulebook(edited_rules(tmp_path, strong_from=5))
    report = diff_cohort(cohort(tmp_path), book, after)
    assert (report.intakes, report.errors) == (4, ERRORS)
    assert [(c.line, c.kinds, c.describe()) for c in report.changes] == [
        (1, ["outcome", "warnings"], "outcome clear -> consult; warnings +caution_strong_pain")
    ]
    assert report.counts() == {"outcome": 1, "programme": 0, "warnings": 1, "exercises": 0, "failure": 0}
    text = report.render()
    assert "\n4 intakes compared, 1 changed, 3 invalid lines skipped\n" in text
    assert "\n  outcome 1, programme 0, warnings 1, exercises 0\n" in text
    assert "\nChanged intakes:\n  line 1: outcome clear -> consult; warnings +caution_strong_pain\n" in text
    assert text.endswith(
        "Invalid lines (skipped):\n"
        "  line 3: malformed JSON: Expecting property name enclosed in double quotes at line 1 column 2\n"
        "  line 5: agee: unknown key (did you mean 'age'?)\n"
        "  line 7: empty line\n"
    )


def test_new_exclusion_changes_exercises(tmp_path: Path, book: engine.RuleBook) -> None:
    after = engine.load_rulebook(edited_rules(tmp_path, extra=NEVER_PLANK))
    report = diff_cohort(cohort(tmp_path), book, after)
    assert [c.line for c in report.changes] == [1, 2, 6]  # every plan that had a plank; line 4 is a stop
    for change in report.changes:
        assert change.kinds == ["exercises"]
        assert "plank" in change.before.exercises and "plank" not in change.after.exercises
        assert "-plank" in change.describe().split()


def test_same_rules_change_nothing(tmp_path: Path, book: engine.RuleBook) -> None:
    report = diff_cohort(cohort(tmp_path), book, book)
    assert (report.intakes, report.changes, report.errors) == (4, [], ERRORS)


def test_line_numbers_count_newlines_only(tmp_path: Path, book: engine.RuleBook) -> None:
    # JSON allows U+2028 raw inside a string; str.splitlines() would start a new line there.
    first = json.dumps({**answers(), "note\u2028": 1}, ensure_ascii=False)
    path = tmp_path / "cohort.jsonl"
    text = first + "\r\n" + json.dumps(answers()) + "\n" + "{not json\n"
    path.write_text(text, encoding="utf-8", newline="")
    report = diff_cohort(path, book, book)
    assert report.intakes == 1
    assert [e.line for e in report.errors] == [1, 3]


def test_failure_on_one_side_is_a_change() -> None:
    ok = Side("clear", "strength", frozenset({"a"}), frozenset({"plank"}))
    broken = Side("none", None, frozenset(), frozenset(), failure="internal error: no programme")
    change = IntakeChange(9, ok, broken)
    assert change.kinds == ["outcome", "programme", "warnings", "exercises", "failure"]
    assert change.describe() == (
        "failure none -> internal error: no programme; outcome clear -> none; programme strength -> none; "
        "warnings -a; exercises -plank"
    )


def test_cli_diff(tmp_path: Path) -> None:
    after = edited_rules(tmp_path, strong_from=5)
    result = runner.invoke(app, ["diff", "--before", str(RULES), "--after", str(after), str(cohort(tmp_path))])
    assert result.exit_code == 0, result.stderr
    assert "4 intakes compared, 1 changed, 3 invalid lines skipped" in result.stdout
    assert "  line 1: outcome clear -> consult; warnings +caution_strong_pain\n" in result.stdout


@pytest.mark.parametrize("which", ["cohort", "after"])
def test_cli_diff_bad_input_exit_2(tmp_path: Path, which: str) -> None:
    cohort_path, after = cohort(tmp_path), RULES
    if which == "cohort":
        cohort_path = tmp_path / "missing.jsonl"
        expected = f"backplan: error: {cohort_path}: file not found"
    else:
        after = tmp_path / "no-rules"
        expected = f"backplan: error: {after}: rules folder not found"
    result = runner.invoke(app, ["diff", "--before", str(RULES), "--after", str(after), str(cohort_path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [expected]
