"""What the planner computes per plan on its own terms agrees with the full explanation of the plan.

A plan is made from ``eligible_exercises`` and the dosing table's memoised doses; ``explain`` reads the
statuses ``exercise_statuses`` gives every exercise and the table's doses as ``dose_for`` computes them.
They must say the same thing for every intake. And the plan's models, built with ``trusted`` (no
validation), must be exactly what validating them gives.
"""

from __future__ import annotations

import contextlib
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import engine
from engine.assemble import dose_with_rules
from engine.eligibility import eligible_exercises, exercise_statuses
from engine.plan import Reason
from tests.conftest import answers as conftest_answers
from tests.strategies import answers

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(data=answers(red_flag_rate=0.02))
def test_the_exercises_a_plan_is_made_from_are_those_explained_as_eligible(
    data: dict[str, Any], book: engine.RuleBook
) -> None:
    intake = engine.parse_intake(data, book.knowledge)
    evaluation = engine.evaluate(intake, book)
    d, programme = evaluation.decisions, evaluation.plan.programme
    statuses = exercise_statuses(intake, book, d, programme)
    eligible = {ex_id for ex_id, st in statuses.items() if st.status == "eligible"}
    if programme is None:
        assert not eligible
        return
    assert set(eligible_exercises(intake, book, d)) == eligible
    planned = {ex_id for ex_id, st in evaluation.statuses.items() if st.status == "planned"}
    assert planned == set(evaluation.plan.exercise_ids()) <= eligible


@SETTINGS
@given(data=answers(red_flag_rate=0.0))
def test_planned_doses_are_the_dosing_tables_with_the_rules(data: dict[str, Any], book: engine.RuleBook) -> None:
    intake = engine.parse_intake(data, book.knowledge)
    evaluation = engine.evaluate(intake, book)
    plan = evaluation.plan
    if plan.programme is None:
        return
    for session in plan.sessions:
        for ex in session.exercises:
            dose = dose_with_rules(
                book.knowledge.exercises[ex.id],
                plan.programme,
                intake.experience,
                intake.active,
                intake.goal,
                intake.pain.intensity,
                evaluation.decisions,
                book.knowledge,
            )
            assert (ex.sets, ex.reps, ex.hold_seconds, ex.rest_seconds, ex.dosed_by) == dose


def _same(built: object, validated: object, where: str) -> None:
    """Equal, and of the same type all the way down (``==`` alone takes 1 for True and (1,) for [1])."""
    assert type(built) is type(validated), where
    if isinstance(built, BaseModel):
        assert isinstance(validated, BaseModel)
        assert built.model_fields_set == validated.model_fields_set, where
        for name in type(built).model_fields:
            _same(getattr(built, name), getattr(validated, name), f"{where}.{name}")
    elif isinstance(built, (tuple, list)):
        assert isinstance(validated, (tuple, list)) and len(built) == len(validated), where
        for i, (a, b) in enumerate(zip(built, validated, strict=True)):
            _same(a, b, f"{where}[{i}]")
    elif isinstance(built, dict):
        assert isinstance(validated, dict) and list(built) == list(validated), where
        for key in built:
            _same(built[key], validated[key], f"{where}.{key}")
    else:
        assert built == validated, where


@SETTINGS
@given(data=answers(red_flag_rate=0.05))
def test_a_plan_is_what_validating_it_gives(data: dict[str, Any], book: engine.RuleBook) -> None:
    plan = engine.recommend(engine.parse_intake(data, book.knowledge), book)
    _same(plan, engine.Plan.model_validate_json(plan.to_json()), "plan")


def test_trusted_takes_every_field_in_order() -> None:
    assert Reason.trusted(rule="r", message="m") == Reason(rule="r", message="m")
    with pytest.raises(TypeError, match="exactly, in order: rule, message"):
        Reason.trusted(message="m", rule="r")
    with pytest.raises(TypeError):
        Reason.trusted(rule="r")


def test_answers_are_normalised_whatever_order_they_came_in(book: engine.RuleBook) -> None:
    k = book.knowledge
    data = conftest_answers(equipment=["pull_up_bar", "dumbbells", "pull_up_bar"], conditions=list(k.conditions)[::-1])
    data["screening"] = dict(reversed(list(data["screening"].items())))
    shuffled = engine.parse_intake(data, k)
    assert list(shuffled.screening) == list(k.screening)
    assert shuffled.equipment == ("dumbbells", "pull_up_bar")
    assert shuffled.conditions == tuple(sorted(k.conditions))
    assert engine.parse_intake(shuffled.to_answers(), k) == shuffled


@settings(SETTINGS, max_examples=25)
@given(people=st.lists(answers(red_flag_rate=0.02), min_size=8, max_size=8))
def test_a_plan_is_the_same_whether_the_index_remembers_or_not(
    people: list[dict[str, Any]], book: engine.RuleBook
) -> None:
    """Every memo of the plan index holds a function of its key: with every limit at zero (nothing kept,
    everything made again) the plans are byte for byte those made while the memos fill, and once filled."""
    import engine.index

    def plans(index_of: engine.RuleBook) -> list[str]:
        return [engine.recommend(engine.parse_intake(p, book.knowledge), index_of).to_json() for p in people]

    remembering = engine.RuleBook(knowledge=book.knowledge, rules=book.rules, evaluator=book.evaluator)
    filling, filled = plans(remembering), plans(remembering)
    forgetting = engine.RuleBook(knowledge=book.knowledge, rules=book.rules, evaluator=book.evaluator)
    with contextlib.ExitStack() as stack:
        for name in ("MEMO_LIMIT", "CAUTION_KEYS_LIMIT", "DOSE_CASES_LIMIT"):
            stack.enter_context(mock.patch.object(engine.index, name, 0))
        made = plans(forgetting)
    index = forgetting.index
    assert not (index._doses or index._cautions or index._why or index._planned_doses or index._exclusions)
    assert made == filling == filled
