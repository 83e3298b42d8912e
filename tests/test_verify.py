"""backplan verify: the invariants hold on the shipped rules; a broken rule set is caught and reproduced."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import engine
from cli import app
from engine import space
from engine.compiler import compile_stages
from engine.durable_host import DurableEvaluator
from engine.obligations import stop_obligations
from engine.symbolic import Logic
from engine.verify import INVARIANTS, Checker, build_space, verify_rulebook
from tests.conftest import RED_FLAG_QUESTIONS, ROOT, answers

runner = CliRunner()
RULES = ROOT / "rules"
SMALL_COVER = ((), ("pull_up_bar", "resistance_band"))


SMALL = [("beginner", "gentle")]  # one plan cell for the default suite; the slow test runs them all


def unchecked_book(rules_dir: Path) -> engine.RuleBook:
    """A rule book that skips the load-time proof, to show that verify's own checks catch the defect."""
    knowledge = engine.load_knowledge(engine.default_knowledge_dir())
    rules = engine.load_rules(rules_dir, knowledge)
    return engine.RuleBook(knowledge, rules, DurableEvaluator(compile_stages(rules.rules)))


def broken_rules(tmp_path: Path, edits: dict[str, tuple[str, str]]) -> Path:
    """A copy of rules/ with text replaced: file -> (old, new); each old text must occur exactly once."""
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder)
    for name, (old, new) in edits.items():
        path = folder / name
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{name}: the edit no longer matches the shipped rules"
        path.write_text(text.replace(old, new), encoding="utf-8")
    return folder


# rf_fever warns (urgent) instead of stopping: a plan next to "see a doctor today".
FEVER_WARNS = {
    "screen/infection.toml": (
        'action = "stop"\nlevel = "urgent"\nmessage = "See a doctor today (an urgent',
        'action = "warn"\nlevel = "urgent"\nmessage = "See a doctor today (an urgent',
    )
}
# --- the space ---------------------------------------------------------------------------------------------


def test_red_flags_come_from_the_declarations(book: engine.RuleBook) -> None:
    space = build_space(book, SMALL)
    assert [flag.split(" ")[0] for flag in space.red_flags] == [o.subject for o in stop_obligations(book.knowledge)]
    assert set(RED_FLAG_QUESTIONS) <= {flag.split(" ")[0] for flag in space.red_flags}
    assert space.failures == ()
    assert space.equipment_sets == ((), tuple(book.knowledge.equipment))
    assert len(space.cases) == space.stop_cases + space.signatures * len(space.equipment_sets)


def test_signatures_are_distinct_and_each_is_what_fires(book: engine.RuleBook) -> None:
    logic = Logic(book.rules, book.knowledge)
    found = space.signatures(logic, ("intermediate", "strength"))
    assert len({fired for _, fired in found}) == len(found) > 10
    for values, fired in found[:25]:
        plan = engine.recommend(engine.parse_intake(logic.answers(values), book.knowledge), book)
        select = {r.id for r in book.rules.stage("select")}
        assert {e.rule for e in plan.trace if e.rule in select} == fired


def test_checker_rejects_a_wrong_signature(book: engine.RuleBook) -> None:
    intake = engine.parse_intake(answers(), book.knowledge)
    findings = Checker(book).check(intake, expected=frozenset({"strength_pool"}))
    assert [f.invariant for f in findings] == ["signature_matches"]


def test_workers_must_be_positive(book: engine.RuleBook) -> None:
    with pytest.raises(engine.InputError) as caught:
        verify_rulebook(book, workers=0)
    assert caught.value.line() == "--workers: workers must be at least 1, got 0"


# --- the shipped rules pass ----------------------------------------------------------------------------------


def test_small_space_passes(book: engine.RuleBook, tmp_path: Path) -> None:
    report = verify_rulebook(book, workers=1, out_dir=tmp_path / "out", cells=SMALL)
    assert (report.passed, dict(report.counts), report.violations) == (True, {}, ())
    assert report.checked == len(report.space.cases)
    assert not (tmp_path / "out").exists()  # created only when there is something to reproduce
    text = report.render()
    assert text.startswith("backplan verify: PASSED\nProved for every intake")
    assert all(f"  {name:<24}       0  {INVARIANTS[name]}\n" in text for name in INVARIANTS)
    assert text.endswith("Every invariant holds: proved for every intake, and on every plan evaluated.\n")


@pytest.mark.slow
def test_full_verify_passes_on_the_shipped_rules(book: engine.RuleBook, tmp_path: Path) -> None:
    report = verify_rulebook(book, workers=2, out_dir=tmp_path / "out")
    assert (report.passed, dict(report.counts), report.violations) == (True, {}, ())
    assert report.space.cells == 3 * len(book.knowledge.programmes)
    assert report.checked == len(report.space.cases)


# --- broken rule sets are caught, with a minimal answers file that reproduces the violation --------------------


def test_a_fever_that_only_warns_is_refused_at_load(tmp_path: Path) -> None:
    broken = broken_rules(tmp_path, FEVER_WARNS)
    with pytest.raises(engine.RuleError) as caught:
        engine.load_rulebook(broken)
    assert "screening question 'fever': a yes must stop the plan with an urgent warning" in caught.value.line()
    result = runner.invoke(app, ["verify", "--workers", "1", "--rules", str(broken)])
    assert result.exit_code == 2
    assert "screening question 'fever'" in result.stderr and len(result.stderr.splitlines()) == 1


def test_verify_proves_the_declarations_itself(tmp_path: Path) -> None:
    broken = unchecked_book(broken_rules(tmp_path, FEVER_WARNS))
    report = verify_rulebook(broken, workers=1, out_dir=tmp_path / "out", cells=[])
    assert not report.passed
    assert report.counts["declared_meanings"] == 1  # the proof
    assert report.counts["urgent_means_stop"] >= 1  # proved, and seen again on the planned stop case
    for violation in report.violations:
        if "proof" not in violation.path.name:
            continue
        reproduced = engine.load_intake(violation.path, broken.knowledge)
        assert [q for q, yes in reproduced.screening.items() if yes] == ["fever"]
        plan = engine.recommend(reproduced, broken)
        assert plan.screen.outcome != "stop" and plan.programme is not None


def test_a_planner_fault_is_caught_on_the_plans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The planner forgets what equipment is owned: the rules are fine, so only the evaluated plans show it."""
    from engine import eligibility

    # The eligibility check thinks it is owned (and so does the assembly, which uses what it chose).
    monkeypatch.setattr(eligibility, "equipment_choice", lambda facts, owned: ())
    book = engine.load_rulebook()
    report = verify_rulebook(book, workers=1, out_dir=tmp_path / "out", cells=SMALL)
    assert not report.passed
    assert "equipment_owned" in report.counts
    paths = [v.path for v in report.violations if v.invariant == "equipment_owned"]
    assert paths and all(p.is_file() for p in paths)
    checker = Checker(book)
    for path in paths:  # each file really reproduces it, through the ordinary pipeline, and is shrunk
        intake = engine.load_intake(path, book.knowledge)
        assert "equipment_owned" in checker.invariants_broken(intake.to_answers())
        assert not any(intake.screening.values()) and intake.equipment == ()
