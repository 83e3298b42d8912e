"""From an intake to a plan: run the stages in durable_rules, then assemble the plan in plain Python.

Data flows one way: intake -> fact -> screen stage -> (stop? done) -> route stage -> select stage ->
decisions -> exercise statuses -> sessions -> ``Plan``. Each stage is its own durable_rules ruleset,
evaluated in its own session; what a stage decides (programme, derived facts) reaches the next stage
as fields of that stage's fact, so no rule ever depends on firing order within a stage.
Exclusion always beats inclusion, and the resolution happens here, not in the rule engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from ._version import __version__
from .assemble import assemble_sessions
from .eligibility import ExerciseStatus, eligible_exercises, exercise_statuses
from .errors import EngineError
from .intake import Intake
from .plan import (
    Outcome,
    Plan,
    Provenance,
    Reason,
    Screen,
    TraceEntry,
)
from .rulebook import RuleBook, load_rulebook
from .ruleset import (
    LEVEL_ORDER,
    Stop,
)
from .stages import Decisions, decide


@dataclass(frozen=True)
class Evaluation:
    """A plan together with the decisions behind it and, on demand, every exercise's verdict (``explain``)."""

    plan: Plan
    decisions: Decisions
    intake: Intake
    book: RuleBook

    @cached_property
    def statuses(self) -> Mapping[str, ExerciseStatus]:
        """Why each exercise of the catalogue is in or out (a plan does not need them: made when asked)."""
        planned = frozenset(self.plan.exercise_ids())
        return exercise_statuses(self.intake, self.book, self.decisions, self.plan.programme, planned)


def evaluate(intake: Intake, book: RuleBook) -> Evaluation:
    d, programme = decide(intake, book)
    sessions = assemble_sessions(intake, book, d, programme, eligible_exercises(intake, book, d)) if programme else ()
    if programme and not any(s.exercises for s in sessions):
        raise EngineError("the rules left no exercise for this intake; refusing to print an empty plan")
    fired_pos = {item.id: i for i, item in enumerate(d.fired)}
    # A stopped plan says only what to do instead: no other warning, since those advise on exercising.
    said = [(item, a) for item, a in d.warnings if isinstance(a, Stop)] if d.stops else d.warnings
    warnings = sorted(
        {item.id + "\0" + a.message: (item, a) for item, a in said}.values(),
        key=lambda pair: (LEVEL_ORDER.index(pair[1].level), fired_pos[pair[0].id]),
    )
    index = book.index
    warning_models = tuple(index.warnings[id(a)] for _, a in warnings)
    outcome: Outcome
    if d.stops:
        outcome = "stop"
        reasons = [Reason.trusted(rule=item.id, message=a.message) for item, a in d.stops]
    elif any(w.level in ("consult", "urgent") for w in warning_models):
        outcome = "consult"
        reasons = [
            Reason.trusted(rule=w.rule, message=w.message) for w in warning_models if w.level in ("consult", "urgent")
        ]
    else:
        outcome, reasons = "clear", []
    excluded = index.exclusions(d.excluding, d.excluded) if programme else ()
    trace = tuple(
        TraceEntry.trusted(**facts.trace_head, matched=d.matched[item.id], effects=facts.effect_text)
        for item in d.fired
        for facts in (index.rules[item.id],)
    )
    plan = Plan.trusted(
        screen=Screen.trusted(outcome=outcome, reasons=tuple(reasons)),
        programme=programme,
        sessions_per_week=book.knowledge.programmes[programme].sessions_per_week if programme else None,
        warnings=warning_models,
        sessions=sessions,
        excluded=excluded,
        derived=tuple(sorted(d.derived)),
        trace=trace,
        intake=intake.to_answers(),
        provenance=Provenance.trusted(
            engine_version=__version__,
            rules_digest=book.rules.digest,
            knowledge_digest=book.knowledge.digest,
        ),
    )
    return Evaluation(plan=plan, decisions=d, intake=intake, book=book)


def recommend(intake: Intake, book: RuleBook) -> Plan:
    """The plan for one validated intake. Raises ``EngineError`` rather than return a doubtful plan."""
    return evaluate(intake, book).plan


__all__ = ["Evaluation", "ExerciseStatus", "RuleBook", "evaluate", "load_rulebook", "recommend"]
