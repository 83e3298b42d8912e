"""Assembling the sessions of a plan: each programme block filled from the eligible exercises by pattern
and rank, each exercise dosed (knowledge/dosing.toml, then the rules' caps) with the cautions that
concern the person and why it is there."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .dosing import DOSING_PREFIX, Dose, dose_for, level_of
from .facts import stage_fact
from .index import ExerciseFacts
from .intake import Intake
from .knowledge import LEVELS, BlockTemplate, Exercise, Knowledge
from .plan import (
    PlannedExercise,
    Session,
)
from .rulebook import RuleBook
from .stages import Decisions

# --- assembly --------------------------------------------------------------------------------------


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
    return _with_rules(ex, base, tuple(f"{DOSING_PREFIX}{step}" for step in base.steps), d)


def _with_rules(
    ex: Exercise, base: Dose, steps: tuple[str, ...], d: Decisions
) -> tuple[int, str | None, int | None, int, tuple[str, ...]]:
    """The rule prescriptions, then the rules' caps, applied to the dosing table's dose (``steps``: the
    names of the table's steps that made it)."""
    sets, reps, hold, rest = base.sets, base.reps, base.hold_seconds, base.rest_seconds
    used: list[str] = list(steps)
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


def _pick_block(template: BlockTemplate, ordered: Sequence[Exercise], taken: set[str]) -> list[Exercise]:
    """Fill one block from its candidates in rank order: pattern slots first, then variety, then rank."""
    free = [ex for ex in ordered if ex.id not in taken]  # still in rank order; what is chosen leaves it
    chosen: list[Exercise] = []
    for pattern in template.patterns:
        if len(chosen) >= template.count:
            break
        for position, ex in enumerate(free):
            if ex.pattern == pattern:
                chosen.append(free.pop(position))
                break
    counts: dict[str, int] = {}
    for ex in chosen:
        counts[ex.pattern] = counts.get(ex.pattern, 0) + 1
    while len(chosen) < template.count and free:
        # Fill with variety: fewest repeats of a movement pattern first, then rank (the first in
        # rank order among those with the fewest repeats).
        best, fewest = 0, counts.get(free[0].pattern, 0)
        if fewest:
            for position in range(1, len(free)):
                repeats = counts.get(free[position].pattern, 0)
                if repeats < fewest:
                    best, fewest = position, repeats
                    if repeats == 0:
                        break
        ex = free.pop(best)
        chosen.append(ex)
        counts[ex.pattern] = fewest + 1
    taken.update(ex.id for ex in chosen)
    return chosen


def assemble_sessions(
    intake: Intake, book: RuleBook, d: Decisions, programme: str, eligible: Mapping[str, tuple[str, ...]]
) -> tuple[Session, ...]:
    """The sessions of the plan, filled from ``eligible``: exercise id -> the equipment it would use."""
    k = book.knowledge
    index = book.index
    template = k.programmes[programme]
    radiates = intake.pain.radiates_to_leg
    target = LEVELS.index(template.aim_level or intake.experience)  # the level it picks closest to
    programme_rules = [item.id for item, p in d.programmes if p == programme]
    # The select-stage fact with what the select stage derived: which catalogue cautions concern this person.
    fact = stage_fact(d.base, programme, d.derived, index.derived_names)
    catalogue_cautions = index.cautions_in(fact)
    case = index.dosing_case(programme, intake.experience, intake.active, intake.goal, intake.pain.intensity, d.derived)
    table_dose, doses = index.table_doses(case), index.planned_doses(case, d.dosing_rules)
    used: dict[str, int] = {}
    # An exercise's rank: preferred first, then the fewest times used in earlier sessions, then closest
    # to the target level, then catalogue order (a strict total order). The eligible exercises are
    # sorted once without the times used (stable sorts: closeness, then preferred), so every pool, a
    # subsequence, is in rank order until something has been used; then a stable sort on (preferred,
    # times used) restores it.
    preferred = d.preferred
    ids = sorted(eligible, key=index.closeness[target].__getitem__)
    if preferred:
        ids.sort(key=lambda ex_id: ex_id not in preferred)
    ranked = [k.exercises[i] for i in ids]

    def reuse(ex: Exercise) -> tuple[int, int]:
        return (0 if ex.id in preferred else 1, used.get(ex.id, 0))

    pools: dict[tuple[str, tuple[str, ...]], list[Exercise]] = {}
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
                members = index.block_members[key]
                pool = [ex for ex in ranked if ex.id in members]
                pools[key] = pool
            for ex in _pick_block(block, sorted(pool, key=reuse) if used else pool, taken):
                dose = doses.get(ex.id)
                if dose is None:
                    dose = doses[ex.id] = _with_rules(ex, *table_dose(ex), d)
                sets, reps, hold, rest, dosed_by = dose
                facts, included = index.exercises[ex.id], d.included[ex.id]
                planned.append(
                    PlannedExercise.trusted(
                        id=ex.id,
                        name=ex.name,
                        block=block.block,
                        equipment=eligible[ex.id],
                        sets=sets,
                        reps=reps,
                        hold_seconds=hold,
                        rest_seconds=rest,
                        because=tuple(dict.fromkeys([*programme_rules, *included])),
                        dosed_by=dosed_by,
                        steps=ex.steps,
                        cautions=_cautions(catalogue_cautions(facts), facts, d.cautions.get(ex.id), radiates),
                        why=index.why(ex.id, included),
                        source=ex.source,
                    )
                )
        for ex_id in taken:
            used[ex_id] = used.get(ex_id, 0) + 1
        sessions.append(Session.trusted(name=session.name, exercises=tuple(planned), stretch_minutes=minutes))
    return tuple(sessions)


_DOWN_A_LEG = re.compile(r"\b(down) (?:a|the) leg\b")


def _cautions(
    catalogue: tuple[str, ...], facts: ExerciseFacts, added: Sequence[str] | None, radiates: bool
) -> tuple[str, ...]:
    """The catalogue's cautions that concern the person (``catalogue``), then those the rules added, each once.

    For someone whose pain already runs down a leg, "stop if pain travels down a leg" would mean never
    starting: the advice becomes relative to their own symptoms ("further down the leg", the
    peripheralisation convention that the leg-symptom rules follow)."""
    chosen = catalogue
    if added or not facts.cautions_distinct:
        chosen = tuple(dict.fromkeys([*catalogue, *(added or ())]))
    if radiates:
        return tuple([_DOWN_A_LEG.sub(r"further \1 the leg", c) for c in chosen])
    return chosen
