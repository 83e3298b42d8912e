"""backplan verify: the invariants hold on the shipped rules; a broken rule set is caught and reproduced."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import z3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import engine
from cli import app
from engine import space, verify
from engine.compiler import compile_stages
from engine.durable_host import DurableEvaluator
from engine.obligations import stop_obligations
from engine.symbolic import Logic
from engine.verify import INVARIANTS, Checker, VerifyReport, build_space, verify_rulebook
from tests.conftest import RED_FLAG_QUESTIONS, ROOT, answers
from tests.strategies import answers as any_answers

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
    catalogue_options = {tuple(sorted(o)) for ex in book.knowledge.exercises.values() for o in ex.equipment}
    assert set(space.equipment_options) == catalogue_options - {(), tuple(sorted(book.knowledge.equipment))}
    assert len(space.cases) == space.stop_cases + space.signatures * (len(space.equipment_sets) + 1)


def test_each_equipment_option_is_planned_alone(book: engine.RuleBook) -> None:
    """Partial equipment: every option of the catalogue is owned alone on some signature of a cell."""
    space = build_space(book, SMALL)
    owned = {tuple(sorted(c.answers["equipment"])) for c in space.cases}
    assert space.signatures >= len(space.equipment_options) > 1
    assert owned >= {*space.equipment_options, *(tuple(sorted(s)) for s in space.equipment_sets)}


def test_signatures_are_distinct_and_each_is_what_fires(book: engine.RuleBook) -> None:
    logic = Logic(book.rules, book.knowledge)
    found = space.signatures(logic, ("intermediate", "strength"))
    assert len({fired for _, fired in found}) == len(found) > 10
    for values, fired in found[:25]:
        plan = engine.recommend(engine.parse_intake(logic.answers(values), book.knowledge), book)
        select = {r.id for r in book.rules.stage("select")}
        assert {e.rule for e in plan.trace if e.rule in select} == fired


@pytest.mark.parametrize("depth", [0, 3, space.SPLIT_DEPTH])
def test_the_split_enumeration_finds_what_the_plain_one_finds(
    book: engine.RuleBook, depth: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against the plain all-solutions enumeration (one solver, a blocking clause per signature found, the
    rules' formulas read one by one), on the cell with the fewest signatures."""
    logic = Logic(book.rules, book.knowledge)
    experience, programme = cell = ("beginner", "strength")
    select = logic.rules.stage("select")
    terms = [logic.fires(r) for r in select]
    solver = z3.Solver()
    solver.add(logic.domain, logic.planned, logic.programme_is(programme), logic.is_value("experience", experience))
    plain: set[frozenset[str]] = set()
    while solver.check() == z3.sat:
        model = solver.model()
        truth = [z3.is_true(model.eval(t, model_completion=True)) for t in terms]
        plain.add(frozenset(r.id for r, hit in zip(select, truth, strict=True) if hit))
        solver.add(z3.Or(*[t != hit for t, hit in zip(terms, truth, strict=True)]))
    monkeypatch.setattr(space, "SPLIT_DEPTH", depth)
    found = space.signatures(logic, cell)
    assert len(found) == len(plain) > 100
    assert {fired for _, fired in found} == plain


def test_an_enumeration_that_does_not_block_fails_instead_of_running_forever(
    book: engine.RuleBook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which rules fire, read from the wrong bits: the blocking clause misses the model it was made from."""
    from engine import symbolic

    def misread(parts: Any) -> Any:
        word, places = symbolic.pack(parts)
        return word, places[::-1]

    monkeypatch.setattr(space, "pack", misread)
    with pytest.raises(RuntimeError, match=r"found .* twice in cell"):
        space.signatures(Logic(book.rules, book.knowledge), ("beginner", "strength"))


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


def _equipment_reproducers(book: engine.RuleBook, tmp_path: Path) -> tuple[VerifyReport, list[engine.Intake]]:
    """``verify`` on the small cells, and the intakes of the answers files it wrote for ``equipment_owned``
    (at least one), each checked to reproduce it through the ordinary pipeline."""
    report = verify_rulebook(book, workers=1, out_dir=tmp_path / "out", cells=SMALL)
    paths = [v.path for v in report.violations if v.invariant == "equipment_owned"]
    assert paths and all(p.is_file() for p in paths)
    checker = Checker(book)
    intakes = [engine.load_intake(path, book.knowledge) for path in paths]
    for intake in intakes:
        assert "equipment_owned" in checker.invariants_broken(intake.to_answers())
    return report, intakes


def test_a_fault_with_partial_equipment_only_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The planner takes an exercise's first option whenever anything is owned: right with no equipment and
    with everything, wrong only when some items are owned, so only the options owned alone show it."""
    from engine import eligibility
    from engine.index import ExerciseFacts

    def first_if_any(facts: ExerciseFacts, owned: frozenset[str]) -> tuple[str, ...] | None:
        if not facts.options:
            return ()
        return facts.options[0][0] if owned else None

    monkeypatch.setattr(eligibility, "equipment_choice", first_if_any)
    book = engine.load_rulebook()
    report, intakes = _equipment_reproducers(book, tmp_path)
    assert list(report.counts) == ["equipment_owned"]
    for intake in intakes:  # shrunk to some equipment, not none and not everything
        assert 0 < len(intake.equipment) < len(book.knowledge.equipment)


def test_a_planner_fault_is_caught_on_the_plans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The planner forgets what equipment is owned: the rules are fine, so only the evaluated plans show it."""
    from engine import eligibility

    # The eligibility check thinks it is owned (and so does the assembly, which uses what it chose).
    monkeypatch.setattr(eligibility, "equipment_choice", lambda facts, owned: ())
    book = engine.load_rulebook()
    report, intakes = _equipment_reproducers(book, tmp_path)
    assert not report.passed
    assert "equipment_owned" in report.counts
    for intake in intakes:  # shrunk: no screening answer and no equipment
        assert not any(intake.screening.values()) and intake.equipment == ()


# --- the checker's dose verdicts, kept across plans ----------------------------------------------------------


@pytest.mark.parametrize("limit", [5, verify.DOSE_VERDICTS_LIMIT])
@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(any_answers(red_flag_rate=0.02), min_size=2, max_size=6))
def test_dose_verdicts_kept_across_plans_change_no_finding(
    book: engine.RuleBook, limit: int, batch: list[dict[str, Any]]
) -> None:
    """With a dosing fault that depends on the exercise, goal, pain and programme, the verdicts kept in one
    ``seen`` over many plans (emptied whenever ``limit`` are kept) are those worked out afresh for each plan."""
    from engine import assemble
    from engine.planner import evaluate
    from engine.verify import doses_out_of_order_for_any_goal

    real = assemble.dose_with_rules

    def faulty(ex: Any, programme: str, experience: str, active: bool, goal: str, pain: int, *rest: Any) -> Any:
        sets, reps, hold, rest_s, used = real(ex, programme, experience, active, goal, pain, *rest)
        if (len(ex.id) + len(goal) + pain + len(programme)) % 3 == 0:
            sets += 3 if programme == "gentle" else -sets + 1
        return sets, reps, hold, rest_s, used

    seen: dict[tuple[Any, ...], str | None] = {}
    goals = tuple(book.knowledge.goals)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(assemble, "dose_with_rules", faulty)
        mp.setattr(verify, "DOSE_VERDICTS_LIMIT", limit)
        for data in batch * 2:  # the second time round, every verdict comes from ``seen``
            intake = engine.parse_intake(data, book.knowledge)
            evaluation = evaluate(intake, book)
            kept = doses_out_of_order_for_any_goal(intake, evaluation, book.knowledge, goals, seen)
            assert kept == doses_out_of_order_for_any_goal(intake, evaluation, book.knowledge, goals)
            assert len(seen) <= limit


# --- reading answers out of a solver model -------------------------------------------------------------------


def _values_one_by_one(logic: Logic, model: Any) -> dict[str, Any]:
    """``Logic.values`` as it was: one ``model.eval`` per answer."""
    out: dict[str, Any] = {}
    for name, spec in logic.inputs.items():
        raw = model.eval(logic.vars[name], model_completion=True)
        out[name] = (
            z3.is_true(raw)
            if spec.kind == "bool"
            else raw.as_long()
            if spec.kind == "int"
            else spec.values[raw.as_long()]
        )
    return out


def test_values_read_from_one_packed_evaluation_are_every_answer(book: engine.RuleBook) -> None:
    """A model of the intake domain for every value of every yes/no and enum answer, and a model that assigns
    nothing (the defaults): the packed reading gives what one evaluation per answer gives."""
    logic = Logic(book.rules, book.knowledge)
    literals = [
        logic.is_value(name, value)
        for name, spec in logic.inputs.items()
        if spec.kind != "int"
        for value in ((False, True) if spec.kind == "bool" else spec.values)
    ]
    assert len(literals) > 2 * len(logic.inputs) - 10
    for literal in literals:
        solver = z3.Solver()
        solver.add(logic.domain, literal)
        assert solver.check() == z3.sat
        model = solver.model()
        assert z3.is_true(model.eval(literal, model_completion=True))
        values = logic.values(model)
        assert values == _values_one_by_one(logic, model) and list(values) == list(logic.inputs)
    empty = z3.Solver()
    assert empty.check() == z3.sat
    assert logic.values(empty.model()) == _values_one_by_one(logic, empty.model())
