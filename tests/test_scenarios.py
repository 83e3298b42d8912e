"""Scenario files: every shipped scenario passes, together they make every rule fire, bad files are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import engine
from cli import app
from engine.scenarios import load_scenario, run_scenario, run_scenarios
from tests.conftest import ROOT, answers

SCENARIOS = ROOT / "scenarios"
FILES = sorted(SCENARIOS.glob("*.toml"))
runner = CliRunner()


def _toml(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


HEADER = 'name = "A test scenario"\ndescription = "Written by the test suite."\n'


def scenario_text(expect: str, *, header: str = HEADER, **changes: Any) -> str:
    """A scenario file: the header lines, the answers (base answers with changes) and an [expect] body."""
    data = answers(**changes)
    lines = [header, "[answers]"]
    lines += [f"{key} = {_toml(data[key])}" for key in ("age", "experience", "goal", "equipment", "conditions")]
    lines += ["[answers.pain]", *(f"{k} = {_toml(v)}" for k, v in data["pain"].items())]
    lines += ["[answers.screening]", *(f"{k} = {_toml(v)}" for k, v in data["screening"].items())]
    return "\n".join([*lines, "[expect]", expect]) + "\n"


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the shipped scenarios ---------------------------------------------------------------------------------


def test_at_least_thirty_scenarios() -> None:
    assert len(FILES) >= 30


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_shipped_scenario_passes(path: Path, book: engine.RuleBook) -> None:
    result = run_scenario(load_scenario(path, book), book)
    assert result.failures == []
    assert result.passed


def test_every_rule_fires_in_some_scenario(book: engine.RuleBook) -> None:
    report = run_scenarios(SCENARIOS, book)
    assert report.uncovered == []
    assert report.passed
    text = report.render()
    assert f"{len(FILES)} passed, 0 failed\n" in text
    assert text.endswith(f"Coverage: every rule fires in at least one scenario ({len(book.rules.rules)} rules)\n")


# --- failures are explained --------------------------------------------------------------------------------

WRONG = """outcome = "clear"
programme = "strength"
exercises_include = ["plank"]
warnings_include = ["caution_night_pain"]
warnings_exclude = ["rf_fever"]
rules_fired = ["strength_pool"]
rules_not_fired = ["rf_fever"]"""


def test_failing_scenario_says_what_differed(tmp_path: Path, book: engine.RuleBook) -> None:
    write(tmp_path, "wrong.toml", scenario_text(WRONG, screening__fever=True))
    report = run_scenarios(tmp_path, book)
    fever = book.rules.by_id()["rf_fever"].rule.then[0]
    assert not report.passed
    assert [(r.name, Path(r.file).name, r.passed) for r in report.results] == [("A test scenario", "wrong.toml", False)]
    assert report.results[0].failures == [
        "outcome: expected clear, got stop (from rf_fever)",
        "programme: expected strength, got none",
        "exercises_include: 'plank' is not in the plan (the safety screen stopped the plan)",
        "warnings_include: rule 'caution_night_pain' gave no warning (it did not fire)",
        f"warnings_exclude: rule 'rf_fever' warned (urgent): {getattr(fever, 'message', '')}",
        "rules_fired: rule 'strength_pool' did not fire",
        "rules_not_fired: rule 'rf_fever' fired",
    ]
    text = report.render()
    assert "  FAIL    wrong.toml  A test scenario\n" in text
    assert "\n          - outcome: expected clear, got stop (from rf_fever)\n" in text
    assert "0 passed, 1 failed\n" in text
    assert f"Coverage: {len(report.uncovered)} of {len(book.rules.rules)} rules fire in no scenario:\n" in text


def test_exercise_failures_say_why(tmp_path: Path, book: engine.RuleBook) -> None:
    write(tmp_path, "why.toml", scenario_text('exercises_include = ["pull_up"]\nexercises_exclude = ["plank"]'))
    evaluation = engine.evaluate(engine.parse_intake(answers(), book.knowledge), book)
    pull_up = evaluation.statuses["pull_up"]
    planned = {ex.id: ex for s in evaluation.plan.sessions for ex in s.exercises}
    reasons = "; ".join(f"{r.rule}: {r.message}" for r in pull_up.reasons)
    assert run_scenarios(tmp_path, book).results[0].failures == [
        f"exercises_include: 'pull_up' is not in the plan ({pull_up.status}: {reasons})",
        f"exercises_exclude: 'plank' is in the plan (because {', '.join(planned['plank'].because)})",
    ]
    assert pull_up.status == "filtered"


# --- malformed files: one line naming the file and the key -------------------------------------------------

GOOD_EXPECT = 'outcome = "clear"\nexercises_include = ["plank", "bird_dog"]'
MALFORMED = [
    (
        "typo_top_level",
        scenario_text(GOOD_EXPECT, header='name = "Typo"\ndescripton = "A misspelt key."\n'),
        "descripton: unknown key (did you mean 'description'?)",
    ),
    (
        "typo_expect_key",
        scenario_text('exercise_include = ["plank"]'),
        "expect.exercise_include: unknown key (did you mean 'exercises_include'?)",
    ),
    (
        "unknown_exercise",
        scenario_text('exercises_include = ["plank", "bird_dogg"]'),
        "expect.exercises_include[1]: unknown exercise id 'bird_dogg' (did you mean 'bird_dog'?)",
    ),
    (
        "unknown_rule",
        scenario_text('rules_fired = ["rf_fevr"]'),
        "expect.rules_fired[0]: unknown rule id 'rf_fevr' (did you mean 'rf_fever'?)",
    ),
    (
        "rule_that_never_warns",
        scenario_text('warnings_include = ["strength_pool"]'),
        "expect.warnings_include[0]: rule 'strength_pool' never gives a warning (no warn or stop action)",
    ),
    (
        "unknown_programme",
        scenario_text('programme = "gentel"'),
        "expect.programme: unknown programme 'gentel' (one of: none, gentle, strength) (did you mean 'gentle'?)",
    ),
    (
        "bad_outcome",
        scenario_text('outcome = "stopp"'),
        "expect.outcome: Input should be 'clear', 'consult' or 'stop', got 'stopp'",
    ),
    ("no_expectation", scenario_text(""), "expect: give at least one expectation"),
    (
        "contradiction",
        scenario_text('exercises_include = ["plank"]\nexercises_exclude = ["plank"]'),
        "expect.exercises_exclude: 'plank' is in both exercises_include and exercises_exclude",
    ),
    (
        "unknown_source",
        scenario_text(GOOD_EXPECT, header='name = "Source"\ndescription = "Cites a source."\nsource = "seed_2"\n'),
        "source: unknown source 'seed_2' (did you mean 'seed_002'?)",
    ),
    (
        "missing_name",
        scenario_text(GOOD_EXPECT, header='description = "No name at all."\n'),
        "name: is required but missing",
    ),
    (
        "bad_answer",
        scenario_text(GOOD_EXPECT, pain__status="nonee"),
        "answers.pain.status: Input should be 'none', 'acute', 'subacute' or 'chronic', got 'nonee'",
    ),
]


@pytest.mark.parametrize(("text", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_scenario_is_one_line_naming_file_and_key(
    tmp_path: Path, book: engine.RuleBook, text: str, message: str
) -> None:
    path = write(tmp_path, "bad.toml", text)
    with pytest.raises(engine.InputError) as caught:
        run_scenarios(tmp_path, book)
    assert caught.value.line() == f"{path}: {message}"


def test_unknown_screening_question_is_located_under_answers(tmp_path: Path, book: engine.RuleBook) -> None:
    text = scenario_text(GOOD_EXPECT).replace("fever = false", "fevr = false")
    path = write(tmp_path, "bad.toml", text)
    with pytest.raises(engine.IntakeError) as caught:
        load_scenario(path, book)
    assert caught.value.line() == f"{path}: answers.screening.fevr: unknown screening question (did you mean 'fever'?)"


def test_malformed_toml_names_the_file(tmp_path: Path, book: engine.RuleBook) -> None:
    path = write(tmp_path, "bad.toml", 'name = "unterminated\n')
    with pytest.raises(engine.InputError) as caught:
        run_scenarios(tmp_path, book)
    assert caught.value.line().startswith(f"{path}: malformed TOML: ")


# --- the command line: exit 0 all pass, 1 any failure, 2 bad input ------------------------------------------


def test_cli_shipped_scenarios_exit_0() -> None:
    result = runner.invoke(app, ["scenarios", "run", str(SCENARIOS)])
    assert result.exit_code == 0, result.stderr
    assert f"{len(FILES)} passed, 0 failed" in result.stdout
    assert "Coverage: every rule fires in at least one scenario" in result.stdout


def test_cli_failing_scenario_exit_1(tmp_path: Path) -> None:
    write(tmp_path, "ok.toml", scenario_text('outcome = "clear"'))
    write(tmp_path, "wrong.toml", scenario_text(WRONG, header='name = "Wrong"\ndescription = "Wrong on purpose."\n'))
    result = runner.invoke(app, ["scenarios", "run", str(tmp_path)])
    assert result.exit_code == 1
    assert "  FAIL    wrong.toml  Wrong\n" in result.stdout
    assert "  PASS    ok.toml     A test scenario\n" in result.stdout
    assert "1 passed, 1 failed" in result.stdout


@pytest.mark.parametrize("broken", ["missing_folder", "malformed_file"])
def test_cli_bad_input_exit_2(tmp_path: Path, broken: str) -> None:
    folder = tmp_path / "nowhere"
    expected = f"backplan: error: {folder}: scenarios folder not found"
    if broken == "malformed_file":
        path = write(folder, "bad.toml", scenario_text('rules_fired = ["rf_fevr"]'))
        expected = f"backplan: error: {path}: expect.rules_fired[0]: unknown rule id 'rf_fevr'"
        expected += " (did you mean 'rf_fever'?)"
    result = runner.invoke(app, ["scenarios", "run", str(folder)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [expected]
