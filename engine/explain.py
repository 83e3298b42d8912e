"""Why: the fired rules of an evaluation, and why one exercise is (or is not) in the plan."""

from __future__ import annotations

from dataclasses import dataclass

from .plan import Reason, TraceEntry
from .planner import Evaluation, RuleBook


@dataclass(frozen=True)
class FiredRule:
    entry: TraceEntry
    rationale: str


@dataclass(frozen=True)
class ExerciseVerdict:
    """``in_plan`` with the rules that put it there, or the reasons (rules and filters) that kept it out."""

    id: str
    name: str
    in_plan: bool
    status: str
    because: tuple[str, ...]
    reasons: tuple[Reason, ...]
    sessions: tuple[str, ...]


def fired_rules(evaluation: Evaluation, book: RuleBook) -> list[FiredRule]:
    rules = book.rules.by_id()
    return [FiredRule(entry, rules[entry.rule].rule.rationale) for entry in evaluation.plan.trace]


_STATUS_TEXT = {
    "planned": "in the plan",
    "eligible": "allowed, but not picked: each block was already full with higher-ranked exercises",
    "excluded": "excluded by a rule",
    "filtered": "kept out by a filter",
    "not_included": "not selected by any rule",
    "stopped": "no plan: the safety screen stopped it",
}


def status_text(status: str) -> str:
    return _STATUS_TEXT[status]


def why(exercise_id: str, evaluation: Evaluation, book: RuleBook) -> ExerciseVerdict:
    """The verdict on one exercise; raises ``UnknownExerciseError`` (with a suggestion) for a bad id."""
    exercise = book.knowledge.exercise(exercise_id)
    status = evaluation.statuses[exercise.id]
    sessions = tuple(s.name for s in evaluation.plan.sessions if any(ex.id == exercise.id for ex in s.exercises))
    because: tuple[str, ...] = ()
    if sessions:
        planned = next(ex for s in evaluation.plan.sessions for ex in s.exercises if ex.id == exercise.id)
        because = planned.because + tuple(r for r in planned.dosed_by if r not in planned.because)
    return ExerciseVerdict(
        id=exercise.id,
        name=exercise.name,
        in_plan=status.status == "planned",
        status=status.status,
        because=because,
        reasons=tuple(status.reasons),
        sessions=sessions,
    )
