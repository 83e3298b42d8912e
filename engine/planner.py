"""From an intake to a plan: run the stages in durable_rules, then assemble the plan in plain Python.

Data flows one way: intake -> fact -> screen stage -> (stop? done) -> route stage -> select stage ->
decisions -> exercise statuses -> sessions -> ``Plan``. Each stage is its own durable_rules ruleset,
evaluated in its own session; what a stage decides (programme, derived facts) reaches the next stage
as fields of that stage's fact, so no rule ever depends on firing order within a stage.
Exclusion always beats inclusion, and the resolution happens here, not in the rule engine.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._version import __version__
from .compiler import compile_stages
from .durable_host import DurableEvaluator
from .errors import EngineError
from .facts import STAGES, intake_fact, lookup, stage_fact
from .intake import Intake
from .knowledge import LEVELS, BlockTemplate, Exercise, Knowledge, knowledge_digest, load_knowledge
from .plan import (
    Exclusion,
    Outcome,
    Plan,
    PlannedExercise,
    Provenance,
    Reason,
    Screen,
    Session,
    TraceEntry,
    Warning,
)
from .resources import default_knowledge_dir, default_rules_dir
from .ruleset import (
    LEVEL_ORDER,
    ChooseProgramme,
    Derive,
    Exclude,
    Include,
    Limit,
    LoadedRule,
    Prescribe,
    RuleSet,
    Stop,
    Warn,
    load_rules,
    rules_digest,
)


@dataclass(frozen=True)
class RuleBook:
    """Validated knowledge and rules, compiled into durable_rules: everything needed to plan."""

    knowledge: Knowledge
    rules: RuleSet
    evaluator: DurableEvaluator


_CACHE: dict[tuple[str, str, str, str], RuleBook] = {}
_CACHE_LOCK = threading.Lock()


def load_rulebook(rules_dir: Path | None = None, knowledge_dir: Path | None = None) -> RuleBook:
    """Load, check and compile; unchanged folders reuse the compiled rule book (a Host is costly)."""
    rules_path = Path(rules_dir) if rules_dir is not None else default_rules_dir()
    knowledge_path = Path(knowledge_dir) if knowledge_dir is not None else default_knowledge_dir()
    knowledge = load_knowledge(knowledge_path)
    if not rules_path.is_dir():
        rules = load_rules(rules_path, knowledge)  # raises the "not found" RuleError
    key = (str(rules_path.resolve()), str(knowledge_path.resolve()), rules_digest(rules_path), knowledge.digest)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        rules = load_rules(rules_path, knowledge)
        from .check import enforce

        enforce(rules, knowledge)
        book = RuleBook(knowledge, rules, DurableEvaluator(compile_stages(rules.rules)))
        _CACHE[key] = book
        return book


# --- decisions: what the fired rules said ---------------------------------------------------------


@dataclass
class Decisions:
    fired: list[LoadedRule] = field(default_factory=list)
    matched: dict[str, dict[str, Any]] = field(default_factory=dict)
    stops: list[tuple[LoadedRule, Stop]] = field(default_factory=list)
    warnings: list[tuple[LoadedRule, Warn | Stop]] = field(default_factory=list)
    excluded: dict[str, list[Reason]] = field(default_factory=dict)
    included: dict[str, list[str]] = field(default_factory=dict)
    preferred: set[str] = field(default_factory=set)
    programmes: list[tuple[LoadedRule, str]] = field(default_factory=list)
    derived: dict[str, str] = field(default_factory=dict)  # fact -> rule id
    prescriptions: list[tuple[LoadedRule, Prescribe]] = field(default_factory=list)
    limits: list[tuple[LoadedRule, Limit]] = field(default_factory=list)


def _selects(action: Exclude | Include, ex: Exercise) -> bool:
    return ex.id in action.exercises or bool(set(ex.tags) & set(action.tags)) or ex.category in action.categories


def _apply(item: LoadedRule, knowledge: Knowledge, d: Decisions) -> None:
    for action in item.rule.then:
        if isinstance(action, Stop):
            d.stops.append((item, action))
            d.warnings.append((item, action))
        elif isinstance(action, Warn):
            d.warnings.append((item, action))
        elif isinstance(action, Exclude):
            for ex in knowledge.exercises.values():
                if _selects(action, ex):
                    d.excluded.setdefault(ex.id, []).append(Reason(rule=item.id, message=action.reason))
        elif isinstance(action, Include):
            for ex in knowledge.exercises.values():
                if _selects(action, ex):
                    d.included.setdefault(ex.id, []).append(item.id)
                    if action.prefer:
                        d.preferred.add(ex.id)
        elif isinstance(action, ChooseProgramme):
            d.programmes.append((item, action.programme))
        elif isinstance(action, Derive):
            d.derived.setdefault(action.fact, item.id)
        elif isinstance(action, Prescribe):
            d.prescriptions.append((item, action))
        elif isinstance(action, Limit):
            d.limits.append((item, action))


def _run_stage(book: RuleBook, stage: str, fact: Mapping[str, Any], d: Decisions) -> None:
    fired_ids = book.evaluator.evaluate(stage, fact)
    by_id = book.rules.by_id()
    stage_rules = book.rules.stage(stage)
    # Cross-check durable_rules against the reference semantics: any disagreement fails closed.
    expected = {r.id for r in stage_rules if r.rule.when.holds(fact)}
    if set(fired_ids) != expected:
        missing, extra = sorted(expected - set(fired_ids)), sorted(set(fired_ids) - expected)
        raise EngineError(
            f"rule engine disagreement in stage '{stage}': not fired {missing}, unexpectedly fired {extra}"
        )
    for item in sorted((by_id[i] for i in fired_ids), key=lambda r: r.order_key):
        d.fired.append(item)
        d.matched[item.id] = {f: lookup(fact, f) for f in item.rule.when.fields()}
        _apply(item, book.knowledge, d)


def decide(intake: Intake, book: RuleBook) -> tuple[Decisions, str | None]:
    """Run the stages; returns the decisions and the chosen programme (None when the screen stops)."""
    d = Decisions()
    base = intake_fact(intake, book.knowledge)
    all_derived = list(book.rules.derived)
    _run_stage(book, "screen", stage_fact(base, None, d.derived, all_derived), d)
    if d.stops:
        return d, None
    _run_stage(book, "route", stage_fact(base, None, d.derived, all_derived), d)
    if not d.programmes:
        raise EngineError("no rule chose a programme for this intake (the rule set is incomplete)")
    rank = {p: book.knowledge.programmes[p].caution_rank for _, p in d.programmes}
    programme = min(rank, key=lambda p: (rank[p], p))  # the most conservative choice wins
    _run_stage(book, "select", stage_fact(base, programme, d.derived, all_derived), d)
    return d, programme


# --- exercise statuses: why each exercise is in or out ---------------------------------------------

Status = Literal["planned", "eligible", "excluded", "filtered", "not_included", "stopped"]


@dataclass
class ExerciseStatus:
    id: str
    status: Status
    reasons: list[Reason] = field(default_factory=list)
    because: list[str] = field(default_factory=list)


def _statuses(intake: Intake, book: RuleBook, d: Decisions, programme: str | None) -> dict[str, ExerciseStatus]:
    k = book.knowledge
    out: dict[str, ExerciseStatus] = {}
    person = LEVELS.index(intake.experience)
    for ex in k.exercises.values():
        st = ExerciseStatus(ex.id, "eligible", because=list(dict.fromkeys(d.included.get(ex.id, []))))
        out[ex.id] = st
        if programme is None:
            st.status = "stopped"
            st.reasons.append(Reason(rule="screen", message="the safety screen stopped the plan: no exercises"))
            continue
        if ex.id in d.excluded:
            st.status = "excluded"
            st.reasons.extend(d.excluded[ex.id])
        filters: list[Reason] = []
        if ex.never_recommend:
            filters.append(
                Reason(rule="filter.never_recommend", message=ex.never_recommend_reason or "never recommended")
            )
        if ex.equipment_for(intake.equipment) is None:
            options = " or ".join(" + ".join(option) for option in ex.equipment)
            filters.append(Reason(rule="filter.equipment", message=f"needs {options}, which the answers do not list"))
        if LEVELS.index(ex.level) > person:
            filters.append(
                Reason(rule="filter.level", message=f"an {ex.level} exercise; experience is {intake.experience}")
            )
        if ex.prerequisites and not any(LEVELS.index(k.exercises[p].level) < person for p in ex.prerequisites):
            names = " or ".join(k.exercises[p].name for p in ex.prerequisites)
            filters.append(Reason(rule="filter.prerequisite", message=f"master {names} first (seed 003)"))
        if filters:
            st.reasons.extend(filters)
            if st.status != "excluded":
                st.status = "filtered"
        if st.status == "eligible" and not st.because:
            st.status = "not_included"
            st.reasons.append(
                Reason(rule="selection", message=f"no rule includes it in the {programme} programme for these answers")
            )
    return out


# --- assembly --------------------------------------------------------------------------------------


def _dose(ex: Exercise, d: Decisions) -> tuple[int, str | None, int | None, int, tuple[str, ...]]:
    p = ex.prescription
    sets, reps, hold, rest = p.sets, p.reps, p.hold_seconds, p.rest_seconds
    used: list[str] = []
    for item, rx in d.prescriptions:
        if ex.category not in rx.categories:
            continue
        used.append(item.id)
        if rx.sets is not None:
            sets = rx.sets
        if rx.reps is not None and reps is not None:
            reps = rx.reps + (" each side" if reps.endswith(" each side") else "")
        if rx.rest_seconds is not None:
            rest = rx.rest_seconds
    for item, limit in d.limits:
        if ex.category not in limit.categories:
            continue
        if limit.max_sets is not None and sets > limit.max_sets:
            sets = limit.max_sets
            used.append(item.id)
        if limit.min_rest_seconds is not None and rest < limit.min_rest_seconds:
            rest = limit.min_rest_seconds
            used.append(item.id)
    return sets, reps, hold, rest, tuple(dict.fromkeys(used))


def _pick_block(
    template: BlockTemplate,
    candidates: Sequence[Exercise],
    d: Decisions,
    taken: set[str],
    used_before: Mapping[str, int],
    target_level: int,
    order: Mapping[str, int],
) -> list[Exercise]:
    pool = [ex for ex in candidates if template.block in ex.blocks and ex.category in template.categories]

    def rank(ex: Exercise) -> tuple[int, int, int, int]:
        return (
            0 if ex.id in d.preferred else 1,
            used_before.get(ex.id, 0),
            abs(LEVELS.index(ex.level) - target_level),
            order[ex.id],
        )

    pool.sort(key=rank)
    chosen: list[Exercise] = []
    for pattern in template.patterns:
        if len(chosen) >= template.count:
            break
        hit = next((ex for ex in pool if ex.pattern == pattern and ex.id not in taken), None)
        if hit is not None:
            chosen.append(hit)
            taken.add(hit.id)
    while len(chosen) < template.count:
        patterns = [ex.pattern for ex in chosen]
        rest = [ex for ex in pool if ex.id not in taken]
        if not rest:
            break
        # Fill with variety: fewest repeats of a movement pattern first, then rank.
        hit = min(rest, key=lambda ex: (patterns.count(ex.pattern), *rank(ex)))
        chosen.append(hit)
        taken.add(hit.id)
    return chosen


def _sessions(
    intake: Intake, book: RuleBook, d: Decisions, programme: str, statuses: dict[str, ExerciseStatus]
) -> tuple[Session, ...]:
    k = book.knowledge
    template = k.programmes[programme]
    order = {ex_id: i for i, ex_id in enumerate(k.exercises)}
    eligible = [k.exercises[i] for i, st in statuses.items() if st.status == "eligible"]
    target = LEVELS.index(intake.experience) if programme != "gentle" else 0
    programme_rules = [item.id for item, p in d.programmes if p == programme]
    used: dict[str, int] = {}
    sessions: list[Session] = []
    for session in template.sessions:
        taken: set[str] = set()
        planned: list[PlannedExercise] = []
        minutes = None
        for block in session.blocks:
            if block.block == "cool_down":
                minutes = block.minutes
            for ex in _pick_block(block, eligible, d, taken, used, target, order):
                sets, reps, hold, rest, dosed_by = _dose(ex, d)
                equipment = ex.equipment_for(intake.equipment) or ()
                planned.append(
                    PlannedExercise(
                        id=ex.id,
                        name=ex.name,
                        block=block.block,
                        equipment=equipment,
                        sets=sets,
                        reps=reps,
                        hold_seconds=hold,
                        rest_seconds=rest,
                        because=tuple(dict.fromkeys([*programme_rules, *statuses[ex.id].because])),
                        dosed_by=dosed_by,
                        steps=ex.steps,
                        source=ex.source,
                    )
                )
                statuses[ex.id].status = "planned"
        for ex_id in taken:
            used[ex_id] = used.get(ex_id, 0) + 1
        sessions.append(Session(name=session.name, exercises=tuple(planned), stretch_minutes=minutes))
    return tuple(sessions)


def _effects(item: LoadedRule) -> tuple[str, ...]:
    out = []
    for a in item.rule.then:
        if isinstance(a, (Stop, Warn)):
            out.append(f"{a.action} ({a.level})")
        elif isinstance(a, (Exclude, Include)):
            parts = [
                f"{name}: {', '.join(getattr(a, name))}"
                for name in ("exercises", "tags", "categories")
                if getattr(a, name)
            ]
            extra = " (prefer)" if isinstance(a, Include) and a.prefer else ""
            out.append(f"{a.action}{extra} " + "; ".join(parts))
        elif isinstance(a, ChooseProgramme):
            out.append(f"programme {a.programme}")
        elif isinstance(a, Derive):
            out.append(f"derive {a.fact}")
        elif isinstance(a, Prescribe):
            dose = ", ".join(
                f"{n} {getattr(a, n)}" for n in ("sets", "reps", "rest_seconds") if getattr(a, n) is not None
            )
            out.append(f"prescribe {'/'.join(a.categories)}: {dose}")
        elif isinstance(a, Limit):
            caps = ", ".join(
                f"{n} {getattr(a, n)}" for n in ("max_sets", "min_rest_seconds") if getattr(a, n) is not None
            )
            out.append(f"limit {caps}")
    return tuple(out)


@dataclass(frozen=True)
class Evaluation:
    """A plan together with the per-exercise verdicts behind it (used by ``explain``)."""

    plan: Plan
    statuses: Mapping[str, ExerciseStatus]
    decisions: Decisions


def evaluate(intake: Intake, book: RuleBook) -> Evaluation:
    d, programme = decide(intake, book)
    statuses = _statuses(intake, book, d, programme)
    sessions = _sessions(intake, book, d, programme, statuses) if programme else ()
    if programme and not any(s.exercises for s in sessions):
        raise EngineError("the rules left no exercise for this intake; refusing to print an empty plan")
    fired_pos = {item.id: i for i, item in enumerate(d.fired)}
    warnings = sorted(
        {item.id + "\0" + a.message: (item, a) for item, a in d.warnings}.values(),
        key=lambda pair: (LEVEL_ORDER.index(pair[1].level), fired_pos[pair[0].id]),
    )
    warning_models = tuple(
        Warning(rule=item.id, level=a.level, message=a.message, source=item.rule.source) for item, a in warnings
    )
    outcome: Outcome
    if d.stops:
        outcome = "stop"
        reasons = [Reason(rule=item.id, message=a.message) for item, a in d.stops]
    elif any(w.level in ("consult", "urgent") for w in warning_models):
        outcome = "consult"
        reasons = [Reason(rule=w.rule, message=w.message) for w in warning_models if w.level in ("consult", "urgent")]
    else:
        outcome, reasons = "clear", []
    excluded = (
        tuple(Exclusion(id=ex_id, because=tuple(d.excluded[ex_id])) for ex_id in sorted(d.excluded))
        if programme
        else ()
    )
    trace = tuple(
        TraceEntry(
            rule=item.id,
            stage=item.rule.stage,
            priority=item.rule.priority,
            title=item.rule.title,
            source=item.rule.source,
            file=Path(item.file).name,
            matched=d.matched[item.id],
            effects=_effects(item),
        )
        for item in d.fired
    )
    plan = Plan(
        screen=Screen(outcome=outcome, reasons=tuple(reasons)),
        programme=programme,
        sessions_per_week=book.knowledge.programmes[programme].sessions_per_week if programme else None,
        warnings=warning_models,
        sessions=sessions,
        excluded=excluded,
        derived=tuple(sorted(d.derived)),
        trace=trace,
        provenance=Provenance(
            engine_version=__version__,
            rules_digest=book.rules.digest,
            knowledge_digest=book.knowledge.digest,
        ),
    )
    return Evaluation(plan=plan, statuses=statuses, decisions=d)


def recommend(intake: Intake, book: RuleBook) -> Plan:
    """The plan for one validated intake. Raises ``EngineError`` rather than return a doubtful plan."""
    return evaluate(intake, book).plan


__all__ = [
    "STAGES",
    "Evaluation",
    "ExerciseStatus",
    "RuleBook",
    "evaluate",
    "knowledge_digest",
    "load_rulebook",
    "recommend",
]
