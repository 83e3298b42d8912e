"""Shared fixtures: the bundled rule book, and a factory for valid answers with overrides."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import engine

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# The screening answers that on their own must stop the plan: the safety specification the tests hold
# the rules to (deliberately written out here, not derived from rules/).
RED_FLAG_QUESTIONS: tuple[str, ...] = (
    "saddle_numbness",
    "bladder_bowel_change",
    "progressive_leg_weakness",
    "fever",
    "unexplained_weight_loss",
    "cancer_history",
    "recent_trauma",
    "chest_pain",
    "dizziness",
)

BASE_ANSWERS: dict[str, Any] = {
    "age": 35,
    "experience": "beginner",
    "goal": "general",
    "equipment": [],
    "conditions": [],
    "pain": {"status": "none", "intensity": 0, "radiates_to_leg": False},
    "screening": {
        "saddle_numbness": False,
        "bladder_bowel_change": False,
        "progressive_leg_weakness": False,
        "fever": False,
        "unexplained_weight_loss": False,
        "cancer_history": False,
        "recent_trauma": False,
        "night_pain": False,
        "chest_pain": False,
        "heart_condition": False,
        "dizziness": False,
    },
}


def answers(**changes: Any) -> dict[str, Any]:
    """Valid answers with changes; nested keys as 'pain__intensity' or 'screening__fever'."""
    data = copy.deepcopy(BASE_ANSWERS)
    for key, value in changes.items():
        if "__" in key:
            outer, inner = key.split("__", 1)
            data[outer][inner] = value
        else:
            data[key] = value
    return data


@pytest.fixture(scope="session")
def book() -> engine.RuleBook:
    return engine.load_rulebook()


@pytest.fixture(scope="session")
def knowledge(book: engine.RuleBook) -> engine.Knowledge:
    return book.knowledge


@pytest.fixture()
def plan_for(book: engine.RuleBook) -> Callable[..., engine.Plan]:
    def make(**changes: Any) -> engine.Plan:
        return engine.recommend(engine.parse_intake(answers(**changes), book.knowledge), book)

    return make
