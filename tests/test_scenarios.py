"""Scenario files: the shipped set passes and covers every rule and every declared meaning, a scenario states
only what differs from the baseline (so a new question breaks none), and bad files are refused.

Nothing here lists rules, questions or conditions: they come from ``rules/`` and ``knowledge/``.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

import engine
from cli import app
from engine.intake import BASELINE, baseline_answers
from engine.obligations import Obligation, obligations
from engine.ruleset import LEVEL_ORDER
from engine.scenarios import (
    CheckinEntry,
    Expect,
    ScenarioFile,
    exercised,
    load_scenario,
    load_scenarios,
    merge_answers,
    run_scenario,
    run_scenarios,
    unexercised,
)
from tests.conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SCENARIOS = ROOT / "scenarios"
DOC = ROOT / "docs" / "scenarios.md"
FILES = sorted(SCENARIOS.glob("*.toml"))
runner = CliRunner()


def _ids(path: Path) -> str:
    return path.stem


HEADER = 'name = "A test scenario"\ndescription = "Written by the test suite."\n'


def scenario_text(expect: str, answers: str = "", *, header: str = HEADER) -> str:
    """A scenario file in the delta format: header lines, an [answers] body (changes only), an [expect] body."""
    return f"{header}\n[answers]\n{answers}\n\n[expect]\n{expect}\n"


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def shipped(book: engine.RuleBook) -> list[Any]:
    return load_scenarios(SCENARIOS, book)


# --- the shipped scenarios pass ------------------------------------------------------------------------------


def test_at_least_thirty_scenarios() -> None:
    assert len(FILES) >= 30


@pytest.mark.parametrize("path", FILES, ids=_ids)
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
    assert f"Coverage: every rule fires in at least one scenario ({len(book.rules.rules)} rules)\n" in text
    meanings = len(obligations(book.knowledge))
    assert (
        f"\nMeanings: every declared meaning is exercised by at least one scenario ({meanings} meanings)\nPairs: "
    ) in text


# --- the shipped scenarios exercise every declared meaning ----------------------------------------------------


def test_every_declared_meaning_is_exercised_by_some_scenario(book: engine.RuleBook, shipped: list[Any]) -> None:
    """Every question with a declared meaning, every finding, every condition: some scenario's answers hit it."""
    todo = obligations(book.knowledge)
    assert {ob.kind for ob in todo} == {"question", "finding", "condition"}
    assert {ob.subject for ob in todo if ob.kind == "condition"} == set(book.knowledge.conditions)
    missed = [ob.label for ob in unexercised(shipped, book.knowledge)]
    assert missed == [], "write a scenario for each (docs/scenarios.md)"
    assert run_scenarios(SCENARIOS, book).unexercised == []


def test_every_condition_has_a_scenario_named_for_it(book: engine.RuleBook) -> None:
    names = [path.stem for path in FILES]
    for condition in book.knowledge.conditions:
        assert any(n.startswith(f"condition_{condition}") for n in names), condition


def _honoured(ob: Obligation, plan: engine.Plan, knowledge: engine.Knowledge) -> list[str]:
    """How ``plan`` falls short of the meaning ``ob`` declares (empty: it honours it)."""
    meaning, levels = ob.meaning, [w.level for w in plan.warnings]
    problems = []
    if meaning.decision == "stop":
        assert meaning.level is not None
        allowed = LEVEL_ORDER[: LEVEL_ORDER.index(meaning.level) + 1]
        if plan.screen.outcome != "stop" or not any(level in allowed for level in levels):
            problems.append(f"{ob.label}: expected a stop with an {meaning.level} warning, got {plan.screen.outcome}")
    else:
        allowed = LEVEL_ORDER[: LEVEL_ORDER.index("consult" if meaning.decision == "consult" else "caution") + 1]
        if not any(level in allowed for level in levels):
            problems.append(f"{ob.label}: expected a {meaning.decision} warning, got levels {levels}")
    banned = set(meaning.exclude_tags)
    for session in plan.sessions:
        for ex in session.exercises:
            carried = banned & set(knowledge.exercises[ex.id].tags)
            if carried:
                problems.append(f"{ob.label}: '{ex.id}' is planned and carries {sorted(carried)}")
    return problems


@pytest.mark.parametrize("path", FILES, ids=_ids)
def test_plan_honours_every_meaning_its_answers_exercise(path: Path, book: engine.RuleBook) -> None:
    scenario = load_scenario(path, book)
    plan = engine.recommend(scenario.intake, book)
    problems = [p for ob in exercised(scenario, book.knowledge) for p in _honoured(ob, plan, book.knowledge)]
    assert problems == []


def test_exercised_reads_the_premise_with_its_qualifier(tmp_path: Path, book: engine.RuleBook) -> None:
    """'immunosuppressed' with pain and without pain are two meanings; each scenario exercises one."""
    path = write(
        tmp_path, "a.toml", scenario_text('outcome = "consult"', "[answers.screening]\nimmunosuppressed = true")
    )
    labels = [ob.label for ob in exercised(load_scenario(path, book), book.knowledge)]
    assert labels == [ob.label for ob in obligations(book.knowledge) if ob.subject == "immunosuppressed"][1:]
    assert "pain.status" in labels[0]


# --- the baseline, and scenarios as differences from it -------------------------------------------------------


def test_baseline_answers_every_question_in_the_knowledge_no(knowledge: engine.Knowledge) -> None:
    baseline = baseline_answers(knowledge)
    assert baseline["screening"] == dict.fromkeys(knowledge.screening, False)
    assert "startback" not in baseline
    intake = engine.parse_intake(baseline, knowledge)
    assert (intake.age, intake.experience, intake.active, intake.goal) == (35, "beginner", True, "general")
    assert (intake.equipment, intake.conditions, intake.pain.status) == ((), (), "none")
    baseline["screening"]["fever"] = True  # each call is a fresh copy
    assert baseline_answers(knowledge)["screening"]["fever"] is False


def test_documented_baseline_is_the_library_baseline(knowledge: engine.Knowledge) -> None:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("## The baseline", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    documented = tomllib.loads(block)
    expected = {k: v for k, v in baseline_answers(knowledge).items() if k != "screening"}
    assert {k: v for k, v in documented.items() if k != "screening"} == expected
    assert documented["screening"] == {}  # "every question in knowledge/screening.toml = false"
    assert set(BASELINE) | {"screening"} == set(baseline_answers(knowledge))


def test_tables_merge_key_by_key() -> None:
    base = {"age": 35, "equipment": ["bench"], "pain": {"status": "none", "intensity": 0}, "screening": {"a": False}}
    merged = merge_answers(base, {"equipment": ["barbell"], "pain": {"status": "chronic"}, "screening": {"b": True}})
    assert merged == {
        "age": 35,
        "equipment": ["barbell"],
        "pain": {"status": "chronic", "intensity": 0},
        "screening": {"a": False, "b": True},
    }
    assert base["pain"] == {"status": "none", "intensity": 0}  # the base is left alone
    assert merge_answers(base, {"startback": {"total": 4, "distress": 1}})["startback"] == {"total": 4, "distress": 1}


def test_scenario_changes_only_what_it_states(tmp_path: Path, book: engine.RuleBook) -> None:
    answers = '[answers.pain]\nstatus = "chronic"\nintensity = 4\n[answers.screening]\npregnant = true'
    path = write(tmp_path, "a.toml", scenario_text('outcome = "consult"', answers))
    intake = load_scenario(path, book).intake
    expected = baseline_answers(book.knowledge)
    expected["pain"] = {"status": "chronic", "intensity": 4, "radiates_to_leg": False}
    expected["screening"]["pregnant"] = True
    assert intake.to_answers() == engine.parse_intake(expected, book.knowledge).to_answers()


def test_a_scenario_without_answers_is_the_baseline(tmp_path: Path, book: engine.RuleBook) -> None:
    path = write(tmp_path, "a.toml", HEADER + '[expect]\noutcome = "clear"\n')
    assert load_scenario(path, book).intake == engine.parse_intake(baseline_answers(book.knowledge), book.knowledge)


def _leaves(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            out += _leaves(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


@pytest.mark.parametrize("path", FILES, ids=_ids)
def test_shipped_scenario_states_only_differences(path: Path, knowledge: engine.Knowledge) -> None:
    answers = tomllib.loads(path.read_text(encoding="utf-8")).get("answers", {})
    baseline = dict(_leaves(baseline_answers(knowledge)))
    restated = [key for key, value in _leaves(answers) if key in baseline and baseline[key] == value]
    assert restated == [], "state only what differs from the baseline (docs/scenarios.md)"


def test_new_screening_question_leaves_every_shipped_scenario_valid(tmp_path: Path) -> None:
    """A question added to (a copy of) the knowledge is answered 'no' everywhere; no scenario needs an edit."""
    knowledge_dir = tmp_path / "knowledge"
    shutil.copytree(engine.default_knowledge_dir(), knowledge_dir)
    with (knowledge_dir / "screening.toml").open("a", encoding="utf-8") as handle:
        handle.write(
            '\n[[question]]\nid = "added_later"\ngroup = "general_health"\n'
            'text = "Is this a question added after the scenarios were written?"\n'
            'short = "A question added later"\nhelp = "Added by the test suite to a copy of the knowledge."\n'
            'source = "parq_plus_2020"\n'
        )
    book = engine.load_rulebook(engine.default_rules_dir(), knowledge_dir)
    assert "added_later" in book.knowledge.screening
    scenarios = load_scenarios(SCENARIOS, book)
    assert len(scenarios) == len(FILES)
    assert all(s.intake.screening["added_later"] is False for s in scenarios)
    report = run_scenarios(SCENARIOS, book)
    assert report.passed, report.render()


# --- the docs stay in step with the folder ---------------------------------------------------------------------


@pytest.mark.parametrize("label", ["A shipped example", "A shipped journal example"])
def test_documented_example_is_the_shipped_file(label: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(label + r", `scenarios/([a-z0-9_]+\.toml)`:[^`]*```toml\n(.*?)```", text, re.S)
    assert match is not None
    assert (SCENARIOS / match.group(1)).read_text(encoding="utf-8") == match.group(2)


@pytest.mark.parametrize("model", [ScenarioFile, CheckinEntry, Expect], ids=lambda m: m.__name__)
def test_every_key_of_a_scenario_file_is_documented(model: type[BaseModel]) -> None:
    documented = set(re.findall(r"^\| `\[{0,2}([a-z_]+)\]{0,2}` \|", DOC.read_text(encoding="utf-8"), re.M))
    assert sorted(set(model.model_fields) - documented) == []


def test_every_scenario_file_the_docs_name_exists() -> None:
    named = set(re.findall(r"`(?:scenarios/)?([a-z0-9_]+\.toml)`", DOC.read_text(encoding="utf-8")))
    assert named
    assert sorted(n for n in named if not (SCENARIOS / n).is_file()) == []


# --- failures are explained ---------------------------------------------------------------------------------------

WRONG = """outcome = "clear"
programme = "strength"
exercises_include = ["plank"]
warnings_include = ["caution_night_pain"]
warnings_exclude = ["rf_fever"]
rules_fired = ["strength_pool"]
rules_not_fired = ["rf_fever"]
highest_warning = "info\""""
FEVER = "[answers.screening]\nfever = true"


def test_failing_scenario_says_what_differed(tmp_path: Path, book: engine.RuleBook) -> None:
    write(tmp_path, "wrong.toml", scenario_text(WRONG, FEVER))
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
        "highest_warning: expected info, got urgent",
    ]
    text = report.render()
    assert "  FAIL    wrong.toml  A test scenario\n" in text
    assert "\n          - outcome: expected clear, got stop (from rf_fever)\n" in text
    assert "0 passed, 1 failed\n" in text
    assert f"Coverage: {len(report.uncovered)} of {len(book.rules.rules)} rules fire in no scenario:\n" in text
    total = len(obligations(book.knowledge))
    assert f"Meanings: {len(report.unexercised)} of {total} declared meanings are exercised by no scenario:\n" in text
    assert "  screening question 'fever': a yes\n" not in text  # this scenario exercises it
    assert "  condition 'scoliosis'\n" in text


def test_exercise_failures_say_why(tmp_path: Path, book: engine.RuleBook) -> None:
    write(tmp_path, "why.toml", scenario_text('exercises_include = ["pull_up"]\nexercises_exclude = ["plank"]'))
    evaluation = engine.evaluate(engine.parse_intake(baseline_answers(book.knowledge), book.knowledge), book)
    pull_up = evaluation.statuses["pull_up"]
    planned = {ex.id: ex for s in evaluation.plan.sessions for ex in s.exercises}
    reasons = "; ".join(f"{r.rule}: {r.message}" for r in pull_up.reasons)
    assert run_scenarios(tmp_path, book).results[0].failures == [
        f"exercises_include: 'pull_up' is not in the plan ({pull_up.status}: {reasons})",
        f"exercises_exclude: 'plank' is in the plan (because {', '.join(planned['plank'].because)})",
    ]
    assert pull_up.status == "filtered"


def test_excluded_tags_failure_names_each_planned_exercise(tmp_path: Path, book: engine.RuleBook) -> None:
    write(tmp_path, "tags.toml", scenario_text('excluded_tags = ["prone", "isometric"]'))
    evaluation = engine.evaluate(engine.parse_intake(baseline_answers(book.knowledge), book.knowledge), book)
    planned = {ex.id: ex for s in evaluation.plan.sessions for ex in s.exercises}
    expected = []
    for ex_id, ex in planned.items():
        carried = [t for t in book.knowledge.exercises[ex_id].tags if t in ("prone", "isometric")]
        if carried:
            because = ", ".join(ex.because)
            expected.append(
                f"excluded_tags: '{ex_id}' is in the plan and carries {', '.join(carried)} (because {because})"
            )
    assert expected  # the baseline plan has a plank
    assert run_scenarios(tmp_path, book).results[0].failures == expected


# --- malformed files: one line naming the file and the key ------------------------------------------------------

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
        "unknown_tag",
        scenario_text('excluded_tags = ["prone", "heavy_lod"]'),
        "expect.excluded_tags[1]: unknown tag 'heavy_lod' (did you mean 'heavy_load'?)",
    ),
    (
        "bad_warning_level",
        scenario_text('highest_warning = "severe"'),
        "expect.highest_warning: expected one of: urgent, consult, caution, info, got 'severe'",
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
        "expect.outcome: expected one of: clear, consult, stop, got 'stopp' (did you mean 'stop'?)",
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
        "unknown_answer_key",
        scenario_text(GOOD_EXPECT, "agee = 40"),
        "answers.agee: unknown key (did you mean 'age'?)",
    ),
    (
        "unknown_pain_key",
        scenario_text(GOOD_EXPECT, '[answers.pain]\nstatus = "chronic"\nintensty = 3'),
        "answers.pain.intensty: unknown key (did you mean 'intensity'?)",
    ),
    (
        "bad_answer",
        scenario_text(GOOD_EXPECT, '[answers.pain]\nstatus = "nonee"'),
        "answers.pain.status: expected one of: none, acute, subacute, chronic, got 'nonee' (did you mean 'none'?)",
    ),
    (
        "intensity_without_pain",
        scenario_text(GOOD_EXPECT, "[answers.pain]\nintensity = 2"),
        "answers.pain: intensity must be 0 when status is 'none', got 2",
    ),
    (
        "startback_half_given",
        scenario_text(GOOD_EXPECT, "[answers.startback]\ntotal = 4"),
        "answers.startback.distress: is required but missing",
    ),
    (
        "unknown_condition",
        scenario_text(GOOD_EXPECT, 'conditions = ["scolisis"]'),
        "answers.conditions[0]: unknown condition 'scolisis' (did you mean 'scoliosis'?)",
    ),
    (
        "answers_not_a_table",
        scenario_text(GOOD_EXPECT, header=HEADER + "answers = 3\n").replace("\n[answers]\n", "\n"),
        'answers: expected a table of keys, e.g. answers = { key = "value" }, got 3',
    ),
]


@pytest.mark.parametrize(("text", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_scenario_is_one_line_naming_file_and_key(
    tmp_path: Path, book: engine.RuleBook, text: str, message: str
) -> None:
    path = write(tmp_path, "bad.toml", text)
    with pytest.raises(engine.InputError) as caught:
        run_scenarios(tmp_path, book)
    if message.endswith("..."):
        assert caught.value.line().startswith(f"{path}: {message[:-3]}")
    else:
        assert caught.value.line() == f"{path}: {message}"


def test_unknown_screening_question_is_located_under_answers(tmp_path: Path, book: engine.RuleBook) -> None:
    path = write(tmp_path, "bad.toml", scenario_text(GOOD_EXPECT, "[answers.screening]\nfevr = true"))
    with pytest.raises(engine.IntakeError) as caught:
        load_scenario(path, book)
    assert caught.value.line() == f"{path}: answers.screening.fevr: unknown screening question (did you mean 'fever'?)"


def test_malformed_toml_names_the_file(tmp_path: Path, book: engine.RuleBook) -> None:
    path = write(tmp_path, "bad.toml", 'name = "unterminated\n')
    with pytest.raises(engine.InputError) as caught:
        run_scenarios(tmp_path, book)
    assert caught.value.line().startswith(f"{path}: malformed TOML: ")


# --- the command line: exit 0 all pass, 1 any failure, 2 bad input ------------------------------------------------


def test_cli_shipped_scenarios_exit_0() -> None:
    result = runner.invoke(app, ["scenarios", "run", str(SCENARIOS)])
    assert result.exit_code == 0, result.stderr
    assert f"{len(FILES)} passed, 0 failed" in result.stdout
    assert "Coverage: every rule fires in at least one scenario" in result.stdout
    assert "Meanings: every declared meaning is exercised by at least one scenario" in result.stdout


def test_cli_failing_scenario_exit_1(tmp_path: Path) -> None:
    write(tmp_path, "ok.toml", scenario_text('outcome = "clear"'))
    write(
        tmp_path,
        "wrong.toml",
        scenario_text(WRONG, FEVER, header='name = "Wrong"\ndescription = "Wrong on purpose."\n'),
    )
    result = runner.invoke(app, ["scenarios", "run", str(tmp_path)])
    assert result.exit_code == 1
    assert "  FAIL    wrong.toml  Wrong\n" in result.stdout
    assert "  PASS    ok.toml     A test scenario\n" in result.stdout
    assert "1 passed, 1 failed" in result.stdout


@pytest.mark.parametrize("broken", ["missing_folder", "malformed_file", "unknown_answer"])
def test_cli_bad_input_exit_2(tmp_path: Path, broken: str) -> None:
    folder = tmp_path / "nowhere"
    expected = f"backplan: error: {folder}: scenarios folder not found"
    if broken == "malformed_file":
        path = write(folder, "bad.toml", scenario_text('rules_fired = ["rf_fevr"]'))
        expected = f"backplan: error: {path}: expect.rules_fired[0]: unknown rule id 'rf_fevr'"
        expected += " (did you mean 'rf_fever'?)"
    if broken == "unknown_answer":
        path = write(folder, "bad.toml", scenario_text('outcome = "clear"', "[answers.screening]\npregnnant = true"))
        expected = f"backplan: error: {path}: answers.screening.pregnnant: unknown screening question"
        expected += " (did you mean 'pregnant'?)"
    result = runner.invoke(app, ["scenarios", "run", str(folder)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [expected]


def test_a_scenario_pair_shows_that_a_condition_matters(tmp_path: Path, book: engine.RuleBook) -> None:
    def named(name: str) -> str:
        return f'name = "{name}"\ndescription = "Written by the test suite."\n'

    write(tmp_path, "baseline.toml", scenario_text('outcome = "clear"', header=named("baseline")))
    scoliosis = scenario_text('outcome = "consult"', 'conditions = ["scoliosis"]', header=named("scoliosis"))
    write(tmp_path, "scoliosis.toml", scoliosis)
    fever = "age = 70\n\n[answers.screening]\nfever = true"
    write(tmp_path, "older_fever.toml", scenario_text('outcome = "stop"', fever, header=named("older, fever")))
    report = run_scenarios(tmp_path, book)
    assert report.passed
    # baseline vs scoliosis differ only in conditions.scoliosis: each scoliosis rule is shown to matter
    assert not {"scoliosis_consult", "scoliosis_no_spinal_loading"} & set(report.unshown)
    # the fever scenario also changes the age, which rf_fever does not read: no pair shows rf_fever matters
    assert "rf_fever" in report.unshown
    assert report.conditional == sum(bool(r.rule.when.fields()) for r in book.rules.rules)
    line = next(x for x in report.render().splitlines() if x.startswith("Pairs: "))
    assert line.startswith(f"Pairs: {report.conditional - len(report.unshown)} of {report.conditional} rule conditions")
