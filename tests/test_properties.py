"""Safety invariants on generated intakes (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

import engine
from tests.conftest import RED_FLAG_QUESTIONS
from tests.strategies import answers

HEAVY = {"heavy_load", "axial_loading", "loaded_spinal_flexion", "barbell", "ballistic"}
STOPPING = set(RED_FLAG_QUESTIONS)
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def _plan(book: engine.RuleBook, data: dict[str, Any]) -> tuple[engine.Intake, engine.Plan]:
    intake = engine.parse_intake(data, book.knowledge)
    return intake, engine.recommend(intake, book)


@SETTINGS
@given(data=answers(red_flag_rate=0.15))
def test_safety_invariants(book: engine.RuleBook, data: dict[str, Any]) -> None:
    intake, plan = _plan(book, data)
    fired = {entry.rule for entry in plan.trace}
    stop = plan.screen.outcome == "stop"
    # Red flag => stop; stop => no exercises and advice saying what to do instead.
    if any(intake.screening[q] for q in STOPPING):
        assert stop
    if stop:
        assert plan.programme is None and plan.sessions == () and plan.exercise_ids() == []
        assert any(w.level in ("urgent", "consult") for w in plan.warnings)
    # Programme set <=> not stop.
    assert (plan.programme is not None) == (not stop)
    # A listed condition always brings a consult warning.
    if intake.conditions:
        assert any(w.level == "consult" for w in plan.warnings)
        assert plan.screen.outcome in ("consult", "stop")
    excluded = {item.id for item in plan.excluded}
    for session in plan.sessions:
        for ex in session.exercises:
            catalogue = book.knowledge.exercises[ex.id]
            assert set(ex.equipment) <= set(intake.equipment)  # equipment owned
            assert catalogue.equipment_for(intake.equipment) is not None
            assert ex.id not in excluded  # exclusion beats inclusion
            assert not catalogue.never_recommend
            assert ex.because and set(ex.because) <= fired  # cites the rules that fired
            if plan.programme == "gentle":
                assert not HEAVY & set(catalogue.tags)
    for warning in plan.warnings:
        assert warning.rule in fired


@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=answers())
def test_deterministic(book: engine.RuleBook, data: dict[str, Any]) -> None:
    _, first = _plan(book, data)
    _, second = _plan(book, data)
    assert first.to_json() == second.to_json()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=answers())
def test_answers_round_trip_through_toml(book: engine.RuleBook, data: dict[str, Any], tmp_path_factory: Any) -> None:
    intake = engine.parse_intake(data, book.knowledge)
    path = tmp_path_factory.mktemp("rt") / "a.toml"
    path.write_text(engine.intake_to_toml(intake, book.knowledge))
    assert engine.load_intake(path, book.knowledge) == intake


def test_no_state_leaks_between_evaluations(book: engine.RuleBook) -> None:
    from tests.conftest import answers as base

    clean = engine.parse_intake(base(), book.knowledge)
    flagged = engine.parse_intake(base(screening__fever=True), book.knowledge)
    first = engine.recommend(clean, book).to_json()
    assert engine.recommend(flagged, book).screen.outcome == "stop"
    assert engine.recommend(clean, book).to_json() == first
