"""From an intake to a plan: run the stages in durable_rules, then assemble the plan in plain Python.

Data flows one way: intake -> fact -> screen stage -> (stop? done) -> route stage -> select stage ->
decisions -> exercise statuses -> sessions -> ``Plan``. Each stage is its own durable_rules ruleset,
evaluated in its own session; what a stage decides (programme, derived facts) reaches the next stage
as fields of that stage's fact, so no rule ever depends on firing order within a stage.
Exclusion always beats inclusion, and the resolution happens here, not in the rule engine.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from ._version import __version__
from .compiler import StageCheck, compile_stage_check, compile_stages
from .dosing import dose_for, level_of
from .durable_host import DurableEvaluator
from .errors import EngineError
from .facts import STAGES, intake_fact, reader, stage_fact
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

    @cached_property
    def index(self) -> PlanIndex:
        """Everything about the rules and the catalogue that does not depend on the answers (built once)."""
        return PlanIndex(self.knowledge, self.rules)


# ``dosed_by`` names the dosing table's steps with this prefix, the rules by their ids.
DOSING_PREFIX = "dosing:"

_CACHE: dict[tuple[str, str, str, str], RuleBook] = {}
_CACHE_LOCK = threading.Lock()


def load_rulebook(rules_dir: Path | None = None, knowledge_dir: Path | None = None) -> RuleBook:
    """Load, check and compile; unchanged folders reuse the compiled rule book (a Host is costly).

    "Unchanged" is decided by the sha256 digests of every file in both folders, computed before
    anything is parsed: a cached book costs two folder hashes (about 1 ms), not a re-validation of
    the knowledge (about 40 ms). Only books that loaded and checked cleanly are cached, so a
    defective folder is re-read, and its error raised, every time.
    """
    rules_path = Path(rules_dir) if rules_dir is not None else default_rules_dir()
    knowledge_path = Path(knowledge_dir) if knowledge_dir is not None else default_knowledge_dir()
    key = None
    if rules_path.is_dir() and knowledge_path.is_dir():
        # Keyed by the paths as given, so a book's file names read the way the caller wrote them.
        key = (
            str(rules_path),
            str(knowledge_path),
            rules_digest(rules_path),
            knowledge_digest(knowledge_path),
        )
        with _CACHE_LOCK:
            if key in _CACHE:
                return _CACHE[key]
    knowledge = load_knowledge(knowledge_path)  # knowledge errors are reported first
    rules = load_rules(rules_path, knowledge)
    from .check import enforce

    enforce(rules, knowledge)
    with _CACHE_LOCK:
        if key is not None and key in _CACHE:  # another thread loaded the same folders meanwhile
            return _CACHE[key]
        book = RuleBook(knowledge, rules, DurableEvaluator(compile_stages(rules.rules)))
        if key is not None and knowledge.digest == key[3] and rules.digest == key[2]:
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


# --- precomputed: what the rules and the catalogue say independently of the answers ---------------


@dataclass(frozen=True)
class _RuleFacts:
    """One rule, prepared: what it reads, and its effects sorted by kind (each kind in action order)
    with exclusions and inclusions resolved to exercise ids in catalogue order."""

    item: LoadedRule
    order: tuple[int, int, str]
    reads: tuple[tuple[str, Callable[[Mapping[str, Any]], Any]], ...]
    stops: tuple[Stop, ...]
    warnings: tuple[Stop | Warn, ...]  # stops and warnings, interleaved as written
    excludes: tuple[tuple[tuple[str, ...], Reason], ...]
    includes: tuple[tuple[tuple[str, ...], bool], ...]  # (exercise ids, prefer)
    include_reasons: tuple[tuple[frozenset[str], str, bool], ...]  # (exercise ids, the reason, names them)
    programmes: tuple[str, ...]
    derives: tuple[str, ...]
    prescriptions: tuple[Prescribe, ...]
    limits: tuple[Limit, ...]
    file_name: str
    effect_text: tuple[str, ...]


@dataclass(frozen=True)
class _ExerciseFacts:
    ex: Exercise
    level: int
    options: tuple[tuple[tuple[str, ...], frozenset[str]], ...]
    never: Reason | None
    needs: Reason | None  # "needs X, which the answers do not list"
    prerequisite: Reason | None
    prerequisite_level: int  # the lowest level among its prerequisites (planned only above it)
    too_hard: Mapping[str, Reason]  # experience -> "an advanced exercise; experience is ..."


_STOPPED = Reason(rule="screen", message="the safety screen stopped the plan: no exercises")


class PlanIndex:
    """Built once per ``RuleBook``; read-only afterwards, so safe to share between threads."""

    def __init__(self, knowledge: Knowledge, rules: RuleSet) -> None:
        exercises = list(knowledge.exercises.values())
        self.rules: dict[str, _RuleFacts] = {}
        for item in rules.rules:
            then = item.rule.then
            self.rules[item.id] = _RuleFacts(
                item=item,
                order=item.order_key,
                reads=tuple((f, reader(f)) for f in item.rule.when.fields()),
                stops=tuple(a for a in then if isinstance(a, Stop)),
                warnings=tuple(a for a in then if isinstance(a, (Stop, Warn))),
                excludes=tuple(
                    (tuple(ex.id for ex in exercises if _selects(a, ex)), Reason(rule=item.id, message=a.reason))
                    for a in then
                    if isinstance(a, Exclude)
                ),
                includes=tuple(
                    (tuple(ex.id for ex in exercises if _selects(a, ex)), a.prefer)
                    for a in then
                    if isinstance(a, Include)
                ),
                include_reasons=tuple(
                    (frozenset(ex.id for ex in exercises if _selects(a, ex)), a.reason, bool(a.exercises))
                    for a in then
                    if isinstance(a, Include)
                ),
                programmes=tuple(a.programme for a in then if isinstance(a, ChooseProgramme)),
                derives=tuple(a.fact for a in then if isinstance(a, Derive)),
                prescriptions=tuple(a for a in then if isinstance(a, Prescribe)),
                limits=tuple(a for a in then if isinstance(a, Limit)),
                file_name=Path(item.file).name,
                effect_text=_effects(item),
            )
        # The reference semantics of every rule of a stage, as one generated function (see compiler).
        self.checks: dict[str, StageCheck] = {
            stage: compile_stage_check([(r.id, r.rule.when) for r in rules.stage(stage)]) for stage in STAGES
        }
        self.order = {ex_id: i for i, ex_id in enumerate(knowledge.exercises)}
        self.levels = {ex.id: LEVELS.index(ex.level) for ex in exercises}
        self.exercises: dict[str, _ExerciseFacts] = {}
        for ex in exercises:
            level = LEVELS.index(ex.level)
            options = " or ".join(" + ".join(option) for option in ex.equipment)
            prerequisite = None
            prerequisite_level = -1
            if ex.prerequisites:
                names = " or ".join(knowledge.exercises[p].name for p in ex.prerequisites)
                prerequisite = Reason(rule="filter.prerequisite", message=f"master {names} first (seed 003)")
                prerequisite_level = min(LEVELS.index(knowledge.exercises[p].level) for p in ex.prerequisites)
            self.exercises[ex.id] = _ExerciseFacts(
                ex=ex,
                level=level,
                options=tuple((option, frozenset(option)) for option in ex.equipment),
                never=Reason(rule="filter.never_recommend", message=ex.never_recommend_reason or "never recommended")
                if ex.never_recommend
                else None,
                needs=Reason(rule="filter.equipment", message=f"needs {options}, which the answers do not list")
                if ex.equipment
                else None,
                prerequisite=prerequisite,
                prerequisite_level=prerequisite_level,
                too_hard={
                    person: Reason(rule="filter.level", message=f"an {ex.level} exercise; experience is {person}")
                    for person in LEVELS[:level]
                },
            )
        self.not_included = {
            p: Reason(rule="selection", message=f"no rule includes it in the {p} programme for these answers")
            for p in knowledge.programmes
        }
        self.warnings: dict[int, Warning] = {}  # id(action) -> its Warning (actions live as long as the rules)
        for item in rules.rules:
            for action in item.rule.then:
                if isinstance(action, (Stop, Warn)):
                    self.warnings[id(action)] = Warning(
                        rule=item.id, level=action.level, message=action.message, source=item.rule.source
                    )


def _equipment_choice(facts: _ExerciseFacts, owned: frozenset[str]) -> tuple[str, ...] | None:
    """``Exercise.equipment_for``: the first option fully owned, () when none is needed, None when none is owned."""
    if not facts.options:
        return ()
    for option, needed in facts.options:
        if needed <= owned:
            return option
    return None


def _apply(facts: _RuleFacts, d: Decisions) -> None:
    """What one fired rule decides (every list keeps rule order, then action order)."""
    item = facts.item
    if facts.warnings:
        d.stops.extend((item, a) for a in facts.stops)
        d.warnings.extend((item, a) for a in facts.warnings)
    for chosen, reason in facts.excludes:
        excluded = d.excluded
        for ex_id in chosen:
            if ex_id in excluded:
                excluded[ex_id].append(reason)
            else:
                excluded[ex_id] = [reason]
    for chosen, prefer in facts.includes:
        included = d.included
        rule_id = item.rule.id
        for ex_id in chosen:
            if ex_id in included:
                included[ex_id].append(rule_id)
            else:
                included[ex_id] = [rule_id]
        if prefer:
            d.preferred.update(chosen)
    for programme in facts.programmes:
        d.programmes.append((item, programme))
    for name in facts.derives:
        d.derived.setdefault(name, item.rule.id)
    d.prescriptions.extend((item, a) for a in facts.prescriptions)
    d.limits.extend((item, a) for a in facts.limits)


def _run_stage(book: RuleBook, stage: str, fact: Mapping[str, Any], d: Decisions) -> None:
    index = book.index
    fired_ids = book.evaluator.evaluate(stage, fact)
    # Cross-check durable_rules against the reference semantics: any disagreement fails closed.
    expected = set(index.checks[stage](fact))
    fired = set(fired_ids)
    if fired != expected:
        missing, extra = sorted(expected - fired), sorted(fired - expected)
        raise EngineError(
            f"rule engine disagreement in stage '{stage}': not fired {missing}, unexpectedly fired {extra}"
        )
    for facts in sorted((index.rules[i] for i in fired_ids), key=lambda r: r.order):
        d.fired.append(facts.item)
        d.matched[facts.item.rule.id] = {name: read(fact) for name, read in facts.reads}
        _apply(facts, d)


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
    index = book.index
    out: dict[str, ExerciseStatus] = {}
    included, excluded = d.included, d.excluded
    if programme is None:
        for ex_id in index.exercises:
            because = included.get(ex_id)
            out[ex_id] = ExerciseStatus(ex_id, "stopped", [_STOPPED], list(dict.fromkeys(because)) if because else [])
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
        if facts.needs is not None and _equipment_choice(facts, owned) is None:
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


# --- assembly --------------------------------------------------------------------------------------


def _dose(
    ex: Exercise, d: Decisions, programme: str, intake: Intake, knowledge: Knowledge
) -> tuple[int, str | None, int | None, int, tuple[str, ...]]:
    return dose_with_rules(
        ex, programme, intake.experience, intake.active, intake.goal, intake.pain.intensity, d, knowledge
    )


def dose_with_rules(
    ex: Exercise,
    programme: str,
    experience: str,
    active: bool,
    goal: str,
    pain: int,
    d: Decisions,
    knowledge: Knowledge,
) -> tuple[int, str | None, int | None, int, tuple[str, ...]]:
    """The dosing table's dose (knowledge/dosing.toml), then any rule prescriptions, then the rules' caps."""
    table = knowledge.dosing
    level = level_of(experience, active, table)
    base = dose_for(ex, programme, level, goal, pain, table, frozenset(d.derived))
    sets, reps, hold, rest = base.sets, base.reps, base.hold_seconds, base.rest_seconds
    used: list[str] = [f"{DOSING_PREFIX}{step}" for step in base.steps]
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
    pool: Sequence[Exercise],
    taken: set[str],
    rank: Callable[[Exercise], tuple[int, int, int, int]],
) -> list[Exercise]:
    """Fill one block from its candidates (``pool``): pattern slots first, then variety, then rank."""
    ordered = sorted(pool, key=rank)  # rank ends with the catalogue position: a strict total order
    chosen: list[Exercise] = []
    for pattern in template.patterns:
        if len(chosen) >= template.count:
            break
        hit = next((ex for ex in ordered if ex.pattern == pattern and ex.id not in taken), None)
        if hit is not None:
            chosen.append(hit)
            taken.add(hit.id)
    counts: dict[str, int] = {}
    for ex in chosen:
        counts[ex.pattern] = counts.get(ex.pattern, 0) + 1
    while len(chosen) < template.count:
        # Fill with variety: fewest repeats of a movement pattern first, then rank (the first in
        # rank order among those with the fewest repeats).
        best: Exercise | None = None
        fewest = 0
        for ex in ordered:
            if ex.id in taken:
                continue
            repeats = counts.get(ex.pattern, 0)
            if best is None or repeats < fewest:
                best, fewest = ex, repeats
                if repeats == 0:
                    break
        if best is None:
            break
        chosen.append(best)
        taken.add(best.id)
        counts[best.pattern] = fewest + 1
    return chosen


def _sessions(
    intake: Intake, book: RuleBook, d: Decisions, programme: str, statuses: dict[str, ExerciseStatus]
) -> tuple[Session, ...]:
    k = book.knowledge
    index = book.index
    template = k.programmes[programme]
    owned = frozenset(intake.equipment)
    eligible = [k.exercises[i] for i, st in statuses.items() if st.status == "eligible"]
    target = LEVELS.index(intake.experience) if programme != "gentle" else 0
    programme_rules = [item.id for item, p in d.programmes if p == programme]
    # The select-stage fact: which catalogue cautions concern this person.
    fact = stage_fact(intake_fact(intake, k), programme, d.derived, list(book.rules.derived))
    used: dict[str, int] = {}
    # The parts of an exercise's rank that do not change during the plan: preferred first, then
    # closest to the target level, then catalogue order; times used in earlier sessions goes second.
    preferred, levels, order = d.preferred, index.levels, index.order
    fixed = {ex.id: (0 if ex.id in preferred else 1, abs(levels[ex.id] - target), order[ex.id]) for ex in eligible}

    def rank(ex: Exercise) -> tuple[int, int, int, int]:
        first, distance, position = fixed[ex.id]
        return (first, used.get(ex.id, 0), distance, position)

    pools: dict[tuple[str, tuple[str, ...]], list[Exercise]] = {}
    doses: dict[str, tuple[int, str | None, int | None, int, tuple[str, ...]]] = {}
    sessions: list[Session] = []
    for session in template.sessions:
        taken: set[str] = set()
        planned: list[PlannedExercise] = []
        minutes = None
        for block in session.blocks:
            if block.block == "cool_down":
                minutes = block.minutes
            key = (block.block, block.categories)
            pool = pools.get(key)
            if pool is None:
                pool = [ex for ex in eligible if block.block in ex.blocks and ex.category in block.categories]
                pools[key] = pool
            for ex in _pick_block(block, pool, taken, rank):
                dose = doses.get(ex.id)
                if dose is None:
                    dose = doses[ex.id] = _dose(ex, d, programme, intake, k)
                sets, reps, hold, rest, dosed_by = dose
                equipment = _equipment_choice(index.exercises[ex.id], owned) or ()
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
                        cautions=_relative_to_leg(ex.cautions_for(fact), intake),
                        why=_why(ex.id, statuses[ex.id].because, index),
                        source=ex.source,
                    )
                )
                statuses[ex.id].status = "planned"
        for ex_id in taken:
            used[ex_id] = used.get(ex_id, 0) + 1
        sessions.append(Session(name=session.name, exercises=tuple(planned), stretch_minutes=minutes))
    return tuple(sessions)


_DOWN_A_LEG = re.compile(r"\b(down) (?:a|the) leg\b")


def _relative_to_leg(cautions: tuple[str, ...], intake: Intake) -> tuple[str, ...]:
    """For someone whose pain already runs down a leg, "stop if pain travels down a leg" would mean never
    starting: the advice becomes relative to their own symptoms ("further down the leg", the
    peripheralisation convention that the leg-symptom rules follow)."""
    if not intake.pain.radiates_to_leg:
        return cautions
    return tuple(_DOWN_A_LEG.sub(r"further \1 the leg", c) for c in cautions)


def _why(ex_id: str, because: Sequence[str], index: PlanIndex) -> tuple[str, ...]:
    """Why the exercise is in the plan, in words: the reasons of the rules that included it, those that name
    the exercise first (the most specific), then those that include it by category or tag."""
    named: list[str] = []
    broad: list[str] = []
    for rule_id in because:
        for chosen, reason, names in index.rules[rule_id].include_reasons:
            if ex_id in chosen:
                (named if names else broad).append(reason)
    return tuple(dict.fromkeys([*named, *broad]))


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
            file=index.rules[item.id].file_name,
            matched=d.matched[item.id],
            effects=index.rules[item.id].effect_text,
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
        intake=intake.to_answers(),
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


__all__ = ["Evaluation", "ExerciseStatus", "RuleBook", "evaluate", "load_rulebook", "recommend"]
