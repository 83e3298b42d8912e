"""backplan diff: what a rule change changes for a cohort, with invalid lines reported, not fatal."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import engine
from cli import app
from engine.diff import KINDS, Dose, IntakeChange, LineError, Side, diff_cohort
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
    assert report.counts() == {kind: int(kind in ("outcome", "warnings")) for kind in KINDS}
    text = report.render()
    assert "\n4 intakes compared, 1 changed, 3 invalid lines skipped\n" in text
    assert (
        "\n  outcome 1, programme 0, warnings 1, messages 0, exercises 0, doses 0, equipment 0, cautions 0, "
        "excluded 0\n"
    ) in text
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
        assert change.kinds == ["exercises", "excluded"]
        assert "plank" in change.before.exercises and "plank" not in change.after.exercises
        assert "plank" in change.after.excluded - change.before.excluded
        assert "-plank;" in change.describe().split()
        assert change.describe().endswith("; excluded +plank")


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
    ok = Side("clear", "strength", warnings={"a": "info"}, exercises={"plank": Dose(2, None, 30, 60)})
    broken = Side("none", None, failure="internal error: no programme")
    change = IntakeChange(9, ok, broken)
    assert change.kinds == ["failure", "outcome", "programme", "warnings", "exercises"]
    assert change.describe() == (
        "failure none -> internal error: no programme; outcome clear -> none; programme strength -> none; "
        "warnings -a; exercises -plank"
    )


def test_every_kind_of_change_is_described() -> None:
    before = Side(
        "consult",
        "gentle",
        warnings={"w1": "consult", "w2": "info"},
        messages={"warning w1": "See your doctor.", "reason r1": "old words"},
        exercises={"plank": Dose(2, None, 20, 60), "bird_dog": Dose(2, "6-8", None, 45)},
        equipment={"plank": (), "bird_dog": ()},
        cautions={"plank": ("a",), "bird_dog": ()},
        excluded=frozenset({"deadlift"}),
    )
    after = Side(
        "consult",
        "gentle",
        warnings={"w1": "caution", "w3": "info"},
        messages={"warning w1": "See your doctor soon.", "reason r1": "old words"},
        exercises={"plank": Dose(3, None, 20, 60), "cat_cow": Dose(1, "5", None, 30)},
        equipment={"plank": ("mat",), "cat_cow": ()},
        cautions={"plank": ("b",), "cat_cow": ()},
        excluded=frozenset({"deadlift", "bird_dog"}),
    )
    change = IntakeChange(1, before, after)
    assert change.kinds == ["warnings", "messages", "exercises", "doses", "equipment", "cautions", "excluded"]
    assert change.as_dict() == {
        "line": 1,
        "kinds": change.kinds,
        "changes": [
            "warnings +w3 -w2 w1 consult -> caution",
            "messages warning w1: 'See your doctor.' -> 'See your doctor soon.'",
            "exercises +cat_cow -bird_dog",
            "doses plank 2 x 20 s, rest 60 s -> 3 x 20 s, rest 60 s",
            "equipment plank none -> mat",
            "cautions plank +b -a",
            "excluded +bird_dog",
        ],
    }


def test_a_dose_change_is_reported(tmp_path: Path, book: engine.RuleBook) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", knowledge)
    changed = 0
    for path in sorted((knowledge / "exercises").glob("*.toml")):  # every catalogue rest 15 s longer
        text = path.read_text(encoding="utf-8")
        more = re.sub(r"rest_seconds = (\d+)", lambda m: f"rest_seconds = {int(m[1]) + 15}", text)
        changed += more != text
        path.write_text(more, encoding="utf-8")
    assert changed, "no catalogue entry prescribes a rest: the test must change one"
    report = diff_cohort(cohort(tmp_path), book, engine.load_rulebook(None, knowledge))
    assert report.counts()["doses"] >= 1
    assert all("doses" in c.kinds for c in report.changes), [c.describe() for c in report.changes]
    assert re.search(r"rest \d+ s -> .*rest \d+ s", report.changes[0].describe())


def test_a_knowledge_change_on_one_side_is_reported(tmp_path: Path, book: engine.RuleBook) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", knowledge)
    hits = 0
    for path in sorted((knowledge / "exercises").glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        hits += text.count('name = "Plank"')
        path.write_text(text.replace('name = "Plank"', 'name = "Front plank"'), encoding="utf-8")
    assert hits == 1
    result = runner.invoke(
        app,
        ["diff", "--after", str(RULES), "--after-knowledge", str(knowledge), "--format", "json", str(cohort(tmp_path))],
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["after"].endswith(f"knowledge {knowledge} ({engine.load_knowledge(knowledge).digest[:19]})")
    assert report["before"] != report["after"]
    assert report["intakes"] == 4


@pytest.mark.parametrize("side", ["--before", "--after", "--before-knowledge", "--after-knowledge"])
def test_the_side_that_fails_to_load_is_named(tmp_path: Path, side: str) -> None:
    missing = tmp_path / "missing"
    args = ["diff", "--after", str(RULES), side, str(missing), str(cohort(tmp_path))]
    result = runner.invoke(app, args)
    option = side.split("-knowledge")[0]
    kind = "knowledge" if "knowledge" in side else "rules"
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"backplan: error: {option}: {missing}: {kind} folder not found\n"


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
        expected = f"backplan: error: --after: {after}: rules folder not found"
    result = runner.invoke(app, ["diff", "--before", str(RULES), "--after", str(after), str(cohort_path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [expected]


@pytest.mark.slow
def test_cohort_has_one_valid_intake_per_class_and_every_rule_fires_on_one(tmp_path: Path) -> None:
    from engine.space import rule_cases
    from engine.symbolic import Logic

    out = tmp_path / "cohort.jsonl"
    command = [sys.executable, "-m", "cli", "cohort"]
    result = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert result.stderr == f"{len(lines)} intakes\n"
    assert len(set(lines)) == len(lines)
    book = engine.load_rulebook()
    rows = [json.loads(line) for line in lines]
    for row in rows:
        engine.parse_intake(row, book.knowledge)
    per_rule = [c.answers for c in rule_cases(Logic(book.rules, book.knowledge))]
    assert all(answers in rows for answers in per_rule)
    fired = {
        e.rule
        for answers in per_rule
        for e in engine.recommend(engine.parse_intake(answers, book.knowledge), book).trace
    }
    assert fired == {r.id for r in book.rules.rules}  # every shipped rule can fire, and does on its own line
    # the same rules and knowledge give the same cohort, byte for byte (a fresh process, as a user runs it)
    again = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
    assert again.stdout == out.read_text(encoding="utf-8")
