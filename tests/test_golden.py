"""Golden plans for the example personas: the JSON a reviewer read and checked by hand.

Regenerate after an intended change with ``BACKPLAN_UPDATE_GOLDEN=1 pytest tests/test_golden.py`` and
read the diff before committing. Digests are compared separately, so a comment edit in a rule file
does not churn every golden file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import engine
from tests.conftest import EXAMPLES

GOLDEN = Path(__file__).parent / "golden"
PERSONAS = sorted(EXAMPLES.glob("*.toml"))


def _without_digests(plan: engine.Plan) -> dict[str, Any]:
    data = json.loads(plan.to_json())
    data["provenance"] = {"engine_version": data["provenance"]["engine_version"]}
    return data


@pytest.mark.parametrize("path", PERSONAS, ids=lambda p: p.stem)
def test_golden_plan(path: Path, book: engine.RuleBook) -> None:
    plan = engine.recommend(engine.load_intake(path, book.knowledge), book)
    actual = _without_digests(plan)
    golden = GOLDEN / f"{path.stem}.json"
    if os.environ.get("BACKPLAN_UPDATE_GOLDEN"):
        golden.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n")
    assert actual == json.loads(golden.read_text())


def test_provenance_digests_name_the_files_used(book: engine.RuleBook) -> None:
    plan = engine.recommend(engine.load_intake(PERSONAS[0], book.knowledge), book)
    assert plan.provenance.rules_digest == book.rules.digest
    assert plan.provenance.knowledge_digest == book.knowledge.digest
    assert plan.provenance.rules_digest.startswith("sha256:") and len(plan.provenance.rules_digest) == 71


EXPECTED = {
    "beginner_home_nothing": ("clear", "strength"),
    "chronic_pain_office_worker": ("clear", "gentle"),
    "healthy_gym_goer": ("clear", "strength"),
    "heart_condition_advanced": ("consult", "strength"),
    "osteochondrosis_home": ("consult", "gentle"),
    "osteoporosis_over_60": ("consult", "gentle"),
    "pregnant_home": ("consult", "strength"),
    "red_flag_cauda_equina": ("stop", None),
    "scoliosis_teen_gym": ("consult", "strength"),
}


def test_every_persona_has_an_expected_outcome() -> None:
    assert sorted(EXPECTED) == [p.stem for p in PERSONAS]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_persona_outcomes(name: str, book: engine.RuleBook) -> None:
    plan = engine.recommend(engine.load_intake(EXAMPLES / f"{name}.toml", book.knowledge), book)
    assert (plan.screen.outcome, plan.programme) == EXPECTED[name]
