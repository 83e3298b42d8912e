"""Why each exercise is in or out for one person: excluded by a rule, kept out by an eligibility check
(knowledge/eligibility.toml), not included by any rule, or eligible."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from .index import STOPPED, equipment_choice
from .intake import Intake
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


def eligible_exercises(intake: Intake, book: RuleBook, d: Decisions) -> dict[str, tuple[str, ...]]:
    """The exercises a plan is made from, each with the equipment it would use: those ``exercise_statuses``
    calls eligible (included by a rule, excluded by none, kept out by no eligibility check). Without the
    reasons the others are out for."""
    index = book.index
    excluded, kept_out, owned = d.excluded, index.kept_out[intake.experience], frozenset(intake.equipment)
    out = {}
    for ex_id in d.included:  # every list there names a rule
        if ex_id in excluded or ex_id in kept_out:
            continue
        equipment = equipment_choice(index.exercises[ex_id], owned)  # () when it needs none
        if equipment is not None:
            out[ex_id] = equipment
    return out


def exercise_statuses(
    intake: Intake, book: RuleBook, d: Decisions, programme: str | None, planned: Collection[str] = ()
) -> dict[str, ExerciseStatus]:
    """Every exercise's status and the reasons for it; ``planned``: the eligible exercises in the plan."""
    index = book.index
    out: dict[str, ExerciseStatus] = {}
    included, excluded = d.included, d.excluded
    if programme is None:
        for ex_id in index.exercises:
            because = included.get(ex_id)
            out[ex_id] = ExerciseStatus(ex_id, "stopped", [STOPPED], list(because) if because else [])
        return out
    owned = frozenset(intake.equipment)
    not_included = index.not_included[programme]
    status: Status
    for ex_id, facts, before, after in index.eligibility[intake.experience]:
        because = included.get(ex_id)
        excluded_by = excluded.get(ex_id)
        reasons = list(excluded_by) if excluded_by is not None else []
        reasons += before
        if facts.needs is not None and equipment_choice(facts, owned) is None:
            reasons.append(facts.needs)
        reasons += after
        if excluded_by is not None:
            status = "excluded"
        elif reasons:  # only eligibility checks spoke: kept out by them
            status = "filtered"
        elif because:
            status = "planned" if ex_id in planned else "eligible"
        else:
            status = "not_included"
            reasons.append(not_included)
        out[ex_id] = ExerciseStatus(ex_id, status, reasons, list(because) if because else [])
    return out
