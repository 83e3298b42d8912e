"""Why each exercise is in or out for one person: excluded by a rule, kept out by an eligibility check
(knowledge/eligibility.toml), not included by any rule, or eligible."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .index import STOPPED, equipment_choice
from .intake import Intake
from .knowledge import LEVELS
from .plan import (
    Reason,
)
from .rulebook import RuleBook
from .stages import Decisions

# --- exercise statuses: why each exercise is in or out ---------------------------------------------

Status = Literal["planned", "eligible", "excluded", "filtered", "not_included", "stopped"]


@dataclass
class ExerciseStatus:
    id: str
    status: Status
    reasons: list[Reason] = field(default_factory=list)
    because: list[str] = field(default_factory=list)


def exercise_statuses(intake: Intake, book: RuleBook, d: Decisions, programme: str | None) -> dict[str, ExerciseStatus]:
    index = book.index
    out: dict[str, ExerciseStatus] = {}
    included, excluded = d.included, d.excluded
    if programme is None:
        for ex_id in index.exercises:
            because = included.get(ex_id)
            out[ex_id] = ExerciseStatus(ex_id, "stopped", [STOPPED], list(dict.fromkeys(because)) if because else [])
        return out
    person = LEVELS.index(intake.experience)
    experience = intake.experience
    owned = frozenset(intake.equipment)
    not_included = index.not_included[programme]
    status: Status
    for ex_id, facts in index.exercises.items():
        because = included.get(ex_id)
        reasons: list[Reason] = []
        status = "eligible"
        if ex_id in excluded:
            status = "excluded"
            reasons.extend(excluded[ex_id])
        filtered = False
        if facts.never is not None:
            reasons.append(facts.never)
            filtered = True
        if facts.needs is not None and equipment_choice(facts, owned) is None:
            reasons.append(facts.needs)
            filtered = True
        if facts.level > person:
            reasons.append(facts.too_hard[experience])
            filtered = True
        if facts.prerequisite is not None and facts.prerequisite_level >= person:
            reasons.append(facts.prerequisite)
            filtered = True
        if filtered and status != "excluded":
            status = "filtered"
        if status == "eligible" and not because:
            status = "not_included"
            reasons.append(not_included)
        out[ex_id] = ExerciseStatus(ex_id, status, reasons, list(dict.fromkeys(because)) if because else [])
    return out
