"""Doses: programme × experience × goal × active, from knowledge/dosing.toml, in the declared order.

SPEC "Coherence": a gentle dose never exceeds the catalogue's default dose for that exercise, which never
exceeds the strength dose (at the same level). Checked over the whole table (every exercise, level, goal
and usual pain it distinguishes) and, with hypothesis, on the plans the engine makes for generated
intakes, safety rules' caps included.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

import engine
from cli import app
from engine.dosing import (
    Dose,
    at_most,
    at_most_each,
    catalogue_dose,
    dose_for,
    level_of,
    order_violations,
    pain_levels,
    render_doc,
    rules_limits,
)
from engine.errors import KnowledgeError
from engine.verify import INVARIANTS, dose_out_of_order, dose_table_failures
from tests.conftest import ROOT, answers
from tests.strategies import answers as any_answers

BOOK = engine.load_rulebook()
K = BOOK.knowledge
TABLE = K.dosing
LEVELS = ("beginner", "intermediate", "advanced")
GENTLE, STRENGTH = "gentle", "strength"


def _plan(data: dict[str, Any]) -> engine.Plan:
    return engine.recommend(engine.parse_intake(data, K), BOOK)


def _doses(plan: engine.Plan) -> dict[str, Dose]:
    return {
        ex.id: Dose(ex.sets, ex.reps, ex.hold_seconds, ex.rest_seconds) for s in plan.sessions for ex in s.exercises
    }


# --- the table ----------------------------------------------------------------------------------------


def test_docs_dosing_is_generated_from_the_data() -> None:
    expected = render_doc(K, rules_limits(BOOK.rules.rules))
    assert (ROOT / "docs" / "dosing.md").read_text(encoding="utf-8") == expected, (
        "run: python -m engine.dosing_doc docs/dosing.md"
    )


def test_the_order_holds_for_every_exercise_level_goal_and_pain() -> None:
    assert order_violations(K) == []
    assert dose_table_failures(K) == []


@pytest.mark.parametrize("level", LEVELS)
def test_holds_and_sets_scale_down_for_beginners_and_pain(level: str) -> None:
    """Gentle: a beginner never gets more than someone more experienced, and pain never raises the dose."""
    for ex in K.exercises.values():
        for goal in K.goals:
            calm = dose_for(ex, GENTLE, level, goal, 0, TABLE)
            for pain in pain_levels(TABLE):
                assert at_most_each(dose_for(ex, GENTLE, level, goal, pain, TABLE), calm), (ex.id, level, pain)
            if level != "beginner":
                assert at_most_each(dose_for(ex, GENTLE, "beginner", goal, 0, TABLE), calm), ex.id


def test_beginners_with_pain_get_shorter_holds_than_the_catalogue() -> None:
    holds = [ex for ex in K.exercises.values() if ex.prescription.hold_seconds and ex.prescription.hold_seconds >= 20]
    assert holds
    for ex in holds:
        assert dose_for(ex, GENTLE, "beginner", "general", 5, TABLE).work < catalogue_dose(ex).work, ex.id


def test_strength_grows_with_experience() -> None:
    for ex in K.exercises.values():
        for goal in K.goals:
            doses = [dose_for(ex, STRENGTH, level, goal, 0, TABLE) for level in LEVELS]
            assert doses[0].sets <= doses[1].sets <= doses[2].sets, (ex.id, goal)


def test_inactive_people_count_as_the_table_says() -> None:
    assert level_of("advanced", False, TABLE) == TABLE.level.inactive_counts_as == "beginner"
    assert level_of("advanced", True, TABLE) == "advanced"


# --- the goal changes the dose ----------------------------------------------------------------------------

GYM = ["pull_up_bar", "dumbbells", "cable_machine", "row_machine", "bench", "resistance_band"]


@pytest.mark.parametrize("experience", ["intermediate", "advanced"])
def test_goal_strength_fewer_reps_more_rest_goal_muscle_8_to_12(experience: str) -> None:
    lat = K.exercises["lat_pulldown"]
    general = dose_for(lat, STRENGTH, experience, "general", 0, TABLE)
    strength = dose_for(lat, STRENGTH, experience, "strength", 0, TABLE)
    muscle = dose_for(lat, STRENGTH, experience, "muscle", 0, TABLE)
    assert strength.work < general.work and strength.rest_seconds > general.rest_seconds
    assert muscle.reps == "8-12" and 60 <= muscle.rest_seconds <= 90
    assert at_most(catalogue_dose(lat), strength) and at_most(catalogue_dose(lat), muscle)
    # and in real plans
    plans = {goal: _plan(answers(experience=experience, goal=goal, equipment=GYM)) for goal in K.goals}
    doses = {goal: _doses(p) for goal, p in plans.items()}
    assert doses["strength"] != doses["general"] != doses["muscle"]


def test_goal_relief_keeps_strength_work_light_and_prefers_stabilisation() -> None:
    relief = _plan(answers(experience="advanced", goal="relief", equipment=GYM))
    for s in relief.sessions:
        for ex in s.exercises:
            if K.exercises[ex.id].category == "strength":
                assert ex.sets <= 2, ex.id
    general = _plan(answers(experience="advanced", goal="general", equipment=GYM))

    def stabilisation(plan: engine.Plan) -> int:
        return sum(K.exercises[i].category == "stabilisation" for i in plan.exercise_ids())

    assert stabilisation(relief) > stabilisation(general)


def test_the_issue_personas_dead_hang() -> None:
    """A 60-year-old beginner with leg pain never gets more hanging than a fit 25-year-old (issue 12)."""
    older = _plan(
        answers(
            age=60,
            experience="beginner",
            active=False,
            equipment=["pull_up_bar"],
            conditions=["osteochondrosis"],
            pain={"status": "chronic", "intensity": 5, "radiates_to_leg": True},
        )
    )
    fit = _plan(answers(age=25, experience="advanced", goal="strength", equipment=["pull_up_bar", "dumbbells"]))
    mine, theirs = _doses(older)["dead_hang"], _doses(fit)["dead_hang"]
    assert mine.sets <= theirs.sets and mine.hold_seconds is not None and theirs.hold_seconds is not None
    assert mine.hold_seconds < theirs.hold_seconds <= K.exercises["dead_hang"].prescription.hold_seconds


# --- the property over generated intakes, caps of the safety rules included ----------------------------------


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=any_answers(red_flag_rate=0.02))
def test_every_planned_dose_keeps_the_order(data: dict[str, Any]) -> None:
    intake = engine.parse_intake(data, K)
    plan = engine.recommend(intake, BOOK)
    level = level_of(intake.experience, intake.active, TABLE)
    for s in plan.sessions:
        for ex in s.exercises:
            entry = K.exercises[ex.id]
            planned = Dose(ex.sets, ex.reps, ex.hold_seconds, ex.rest_seconds)
            default = catalogue_dose(entry)
            strength = dose_for(entry, STRENGTH, level, intake.goal, 0, TABLE)
            if plan.programme == GENTLE:
                assert at_most_each(planned, default), (ex.id, planned, default)
                assert at_most(planned, strength), (ex.id, planned, strength)
            else:
                assert at_most(default, planned), (ex.id, planned, default)
            assert dose_out_of_order(plan.programme or "", ex, entry, K) is None


# --- verify's invariant catches a broken table and a broken plan -------------------------------------------


def test_verify_names_the_dose_order() -> None:
    assert "dose_order" in INVARIANTS


def _copy_knowledge(tmp_path: Path) -> Path:
    return Path(shutil.copytree(engine.default_knowledge_dir(), tmp_path / "knowledge"))


def test_a_table_that_breaks_the_order_is_reported(tmp_path: Path) -> None:
    folder = _copy_knowledge(tmp_path)
    path = folder / "dosing.toml"
    text = path.read_text(encoding="utf-8")
    assert text.count("work = 0.5\n") == 2
    path.write_text(text.replace("work = 0.5\n", "work = 1.5\n", 1), encoding="utf-8")
    knowledge = engine.load_knowledge(folder)
    broken = order_violations(knowledge)
    assert broken and all(v.level == "beginner" for v in broken)
    failures = dose_table_failures(knowledge)
    assert failures and failures[0].invariant == "dose_order"
    assert engine.parse_intake(failures[0].answers, knowledge).experience == "beginner"


def test_a_planned_dose_out_of_order_is_named() -> None:
    plan = _plan(answers(pain={"status": "chronic", "intensity": 3, "radiates_to_leg": False}))
    ex = plan.sessions[0].exercises[0]
    too_much = ex.model_copy(update={"sets": K.exercises[ex.id].prescription.sets + 1})
    message = dose_out_of_order(GENTLE, too_much, K.exercises[ex.id], K)
    assert message is not None and "above the catalogue" in message


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('goals = ["strength"]', 'goals = ["strenght"]', "unknown goal 'strenght' (did you mean 'strength'?)"),
        ('source = "seed_003"', 'source = "seed_03"', "unknown source 'seed_03'"),
        ("sets = { set = 2 }", "sets = { set = 2, at_most = 3 }", "give exactly one of: set, at_most, at_least"),
    ],
)
def test_a_bad_table_is_bad_input_naming_the_file(tmp_path: Path, old: str, new: str, message: str) -> None:
    folder = _copy_knowledge(tmp_path)
    path = folder / "dosing.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        engine.load_knowledge(folder)
    assert "dosing.toml" in caught.value.line() and message in caught.value.line()
    result = CliRunner().invoke(app, ["rules", "check", "--knowledge", str(folder)])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
