"""Every shipped rule fires for at least one intake and stays silent for another."""

from __future__ import annotations

from typing import Any

import pytest

import engine
from tests.conftest import answers

STOP = {"screening__saddle_numbness": True}
GYM = ["barbell", "bench", "cable_machine", "dumbbells", "pull_up_bar", "row_machine", "resistance_band"]

# rule id -> answers (as changes to the base: 35, beginner, no pain, no equipment, all screening "no")
FIRES: dict[str, dict[str, Any]] = {
    "rf_saddle_numbness": {"screening__saddle_numbness": True},
    "rf_bladder_bowel_change": {"screening__bladder_bowel_change": True},
    "rf_progressive_leg_weakness": {"screening__progressive_leg_weakness": True},
    "rf_fever": {"screening__fever": True},
    "rf_cancer_history": {"screening__cancer_history": True},
    "rf_unexplained_weight_loss": {"screening__unexplained_weight_loss": True},
    "rf_recent_trauma": {"screening__recent_trauma": True},
    "rf_night_pain_new_pain_over_50": {
        "screening__night_pain": True,
        "age": 60,
        "pain__status": "acute",
        "pain__intensity": 3,
    },
    "parq_chest_pain": {"screening__chest_pain": True},
    "parq_dizziness": {"screening__dizziness": True},
    "parq_heart_condition": {"screening__heart_condition": True},
    "caution_night_pain": {"screening__night_pain": True},
    "caution_radiating_leg_pain": {"pain__status": "chronic", "pain__intensity": 3, "pain__radiates_to_leg": True},
    "caution_severe_pain": {"pain__status": "chronic", "pain__intensity": 8},
    "caution_new_pain_over_50": {"age": 55, "pain__status": "acute", "pain__intensity": 4},
    "scoliosis_consult": {"conditions": ["scoliosis"]},
    "scoliosis_no_spinal_loading": {"conditions": ["scoliosis"]},
    "scoliosis_specific_exercises": {"conditions": ["scoliosis"]},
    "osteochondrosis_consult": {"conditions": ["osteochondrosis"]},
    "osteochondrosis_no_jerky_or_axial": {"conditions": ["osteochondrosis"]},
    "osteochondrosis_mobility_traction": {"conditions": ["osteochondrosis"], "equipment": ["wall_bars"]},
    "route_pain_gentle": {"pain__status": "subacute", "pain__intensity": 2},
    "route_no_pain_strength": {},
    "never_behind_neck_or_jerky": {},
    "always_warm_up_and_stretch": {},
    "gentle_pool": {"pain__status": "chronic", "pain__intensity": 2},
    "gentle_no_heavy_spinal_loading": {"pain__status": "chronic", "pain__intensity": 2},
    "gentle_dosage": {"pain__status": "chronic", "pain__intensity": 2},
    "gentle_progression": {"pain__status": "chronic", "pain__intensity": 2},
    "strength_pool": {},
    "strength_dosage_beginner": {},
    "strength_dosage_intermediate": {"experience": "intermediate", "equipment": GYM},
    "strength_dosage_advanced": {"experience": "advanced", "equipment": GYM},
    "strength_goal_muscle_rest": {"goal": "muscle"},
    "strength_goal_posture": {"goal": "posture", "equipment": GYM},
    "strength_progression": {},
    "beginner_prerequisites": {},
    "beginner_assisted_pull_ups": {"equipment": ["pull_up_bar", "resistance_band"]},
    "beginner_volume_cap": {},
    "moderate_intensity_limits": {"screening__heart_condition": True},
    "nerve_symptoms_no_loaded_flexion": {
        "pain__status": "chronic",
        "pain__intensity": 3,
        "pain__radiates_to_leg": True,
    },
    "severe_pain_minimal_volume": {"pain__status": "chronic", "pain__intensity": 8},
}
# rule id -> answers for which it must stay silent (screen rules: the base answers; the rest: a stop)
SILENT: dict[str, dict[str, Any]] = {
    "route_pain_gentle": {},
    "rf_night_pain_new_pain_over_50": {
        "screening__night_pain": True,
        "age": 45,
        "pain__status": "acute",
        "pain__intensity": 3,
    },
    "caution_new_pain_over_50": {"age": 55, "pain__status": "chronic", "pain__intensity": 4},
    "strength_dosage_beginner": {"experience": "advanced"},
}


def _fired(book: engine.RuleBook, changes: dict[str, Any]) -> list[str]:
    plan = engine.recommend(engine.parse_intake(answers(**changes), book.knowledge), book)
    return [entry.rule for entry in plan.trace]


def test_table_covers_every_rule(book: engine.RuleBook) -> None:
    assert sorted(FIRES) == sorted(r.id for r in book.rules.rules)


@pytest.mark.parametrize("rule_id", sorted(FIRES))
def test_rule_fires(rule_id: str, book: engine.RuleBook) -> None:
    assert rule_id in _fired(book, FIRES[rule_id])


@pytest.mark.parametrize("rule_id", sorted(FIRES))
def test_rule_is_silent(rule_id: str, book: engine.RuleBook) -> None:
    if rule_id in SILENT:
        changes = SILENT[rule_id]
    else:
        stage = book.rules.by_id()[rule_id].rule.stage
        changes = {} if stage == "screen" else STOP
    assert rule_id not in _fired(book, changes)
