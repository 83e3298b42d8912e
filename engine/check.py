"""Whole-rule-set checks beyond the schema: the defects ``backplan rules check`` reports.

Run on every load (``enforce``), so no command ever uses a defective rule set. Each problem names
the file, the rule and what is wrong. Satisfiability questions ("can these two rules fire for the
same person?", "does every yes to this question stop the plan?") are decided exactly, for every
possible intake, by the solver in ``symbolic``; the declared meanings are proved in ``obligations``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from .errors import RuleError, closest
from .facts import NO_PROGRAMME
from .knowledge import EXERCISE_DIR, Knowledge
from .obligations import unmet
from .ruleset import ChooseProgramme, Exclude, Include, LoadedRule, Prescribe, RuleSet
from .symbolic import Logic, any_of, describe

# The order problems are listed in, most direct first: a declared meaning the rules break, then two rules
# that contradict each other for the same person, then a rule that can never take effect, then gaps.
BROKEN_MEANING, CONFLICT, DEAD, GAP = range(4)


@dataclass(frozen=True)
class Problem:
    file: str
    rule: str | None
    message: str
    rank: int = GAP

    def line(self) -> str:
        return f"{self.file}: {self.rule}: {self.message}" if self.rule else f"{self.file}: {self.message}"

    def error(self) -> RuleError:
        return RuleError(self.message, file=self.file, rule=self.rule)


def problems(rules: RuleSet, knowledge: Knowledge) -> list[Problem]:
    """Every defect of a loaded rule set (an empty list means it is fit to use)."""
    found: list[Problem] = _figure_problems(knowledge)
    items = list(rules.rules)
    logic = Logic(rules, knowledge)
    order = list(logic.inputs)

    # Every exercise says how it loads the spine: the exclusions that keep people safe work on these tags.
    for ex in knowledge.exercises.values():
        if not any(knowledge.tags[t].safety for t in ex.tags if t in knowledge.tags):
            safety = sorted(t.id for t in knowledge.tags.values() if t.safety)
            found.append(
                Problem(
                    str(knowledge.root) + f"/{EXERCISE_DIR}",
                    None,
                    f"exercise '{ex.id}' carries no safety tag (give it at least one of: {', '.join(safety)})",
                )
            )

    # What the answers mean (knowledge/screening.toml, conditions.toml): proved for every intake.
    for miss in unmet(logic):
        found.append(Problem(miss.file, miss.rule, miss.message, rank=BROKEN_MEANING))

    # Every condition in the vocabulary must be handled by some rule.
    read = {leaf.target() for item in items for leaf in item.rule.when.leaves()}
    for condition in knowledge.conditions:
        target = f"conditions.{condition}"
        if target not in read:
            found.append(
                Problem(
                    str(knowledge.root) + "/conditions.toml",
                    None,
                    f"condition '{condition}' is in the vocabulary but no rule mentions it",
                )
            )

    # A rule conditioned on owning equipment no exercise uses can never matter.
    used_equipment = {e for ex in knowledge.exercises.values() for option in ex.equipment for e in option}
    for item in items:
        for leaf in item.rule.when.leaves():
            target = leaf.target()
            if target.startswith("equipment.") and target.split(".", 1)[1] not in used_equipment:
                found.append(
                    Problem(
                        item.file,
                        item.id,
                        f"'{target}': no exercise uses this equipment, so the condition never matters",
                    )
                )

    # A rule that can never fire (its condition is unsatisfiable, or its stage never runs when it holds).
    for item in items:
        if not logic.possible(logic.fires_named(item)):
            why = (
                "its condition can never hold"
                if not logic.possible(logic.when(item))
                else "whenever it holds, the screen has stopped the plan first"
            )
            found.append(Problem(item.file, item.id, f"can never fire: {why}: {item.rule.when.describe()}", rank=DEAD))

    # After the screen, some programme is always chosen (else the planner would have to fail).
    lost = logic.example(z3.Not(logic.stop), logic.programme_is(NO_PROGRAMME))
    if lost is not None:
        found.append(
            Problem(rules.root, None, f"no rule chooses a programme for: {describe(lost, order)}", rank=BROKEN_MEANING)
        )

    # Two rules choosing different programmes at the same priority for the same person.
    choosers = [(item, a.programme) for item in items for a in item.rule.then if isinstance(a, ChooseProgramme)]
    for ra, pa, rb, pb, fact in _same_priority_choices(logic, choosers):
        found.append(
            Problem(
                rb.file,
                rb.id,
                f"chooses '{pb}' while rule {ra.id} chooses '{pa}' at the same priority "
                f"{ra.rule.priority}, both for: {describe(fact, order)}",
                rank=CONFLICT,
            )
        )

    # Two rules prescribing different doses for the same category at the same priority: which one wins
    # would be decided by the alphabetical order of their ids, not by the rules.
    for ra, rb, category, name, va, vb, fact in _disagreeing_prescriptions(logic, items):
        found.append(
            Problem(
                rb.file,
                rb.id,
                f"prescribes {name} = {vb!r} for {category} while rule {ra.id} prescribes {va!r} at the same "
                f"priority {ra.rule.priority}, both for: {describe(fact, order)} (give one a lower priority)",
                rank=CONFLICT,
            )
        )

    # A rule preferring a tag that another rule excludes for the same person: the preference is empty there.
    for preferring, tag, excluding, fact in _prefer_and_exclude(logic, items):
        found.append(
            Problem(
                preferring.file,
                preferring.id,
                f"prefers exercises tagged '{tag}' while rule {excluding.id} excludes that tag, both for: "
                f"{describe(fact, order)}",
                rank=CONFLICT,
            )
        )

    # An exercise included by id that is excluded whenever the including rule fires: the include is dead.
    # (Excluded for *some* of those people is normal: exclusion beats inclusion, the stricter rule wins.)
    includes = [
        (item, ex_id)
        for item in items
        for action in item.rule.then
        if isinstance(action, Include)
        for ex_id in action.exercises
    ]
    dead = _dead_includes(logic, includes)
    for item, ex_id in includes:
        if (item.id, ex_id) in dead:
            names = ", ".join(r.id for r in dead[item.id, ex_id])
            found.append(
                Problem(
                    item.file,
                    item.id,
                    f"includes '{ex_id}', but whenever this rule fires it is excluded (by {names})",
                    rank=DEAD,
                )
            )
    return sorted(found, key=lambda p: p.rank)


def _dead_includes(logic: Logic, includes: Sequence[tuple[LoadedRule, str]]) -> dict[tuple[str, str], list[LoadedRule]]:
    """(rule id, exercise) -> the excluders that fire with it, for each include that can never take effect.

    Asked exercise by exercise, with "no rule excluding it fires" named once for its questions only.
    """
    by_exercise: dict[str, list[LoadedRule]] = {}
    for item, ex_id in includes:
        by_exercise.setdefault(ex_id, []).append(item)
    dead: dict[tuple[str, str], list[LoadedRule]] = {}
    for ex_id, including in by_exercise.items():
        excluders = logic.excluders(ex_id)
        if not excluders:
            continue
        with logic.scope():
            allowed = logic.allowed_named(ex_id)
            for item in including:
                fires = logic.fires_named(item)
                if (item.id, ex_id) not in dead and not logic.possible(fires, allowed):
                    dead[item.id, ex_id] = [r for r in excluders if logic.possible(fires, logic.fires_named(r))]
    return dead


def _firing_together(
    logic: Logic, a: Sequence[LoadedRule], b: Sequence[LoadedRule]
) -> list[tuple[LoadedRule, LoadedRule]]:
    """Each pair (rule of ``a``, rule of ``b``) of different rules that can fire for the same person.

    Asked of groups, not pairs: "can some rule of ``a`` and some rule of ``b`` fire together?" is one
    question; only a "yes" is split in halves and asked again. Groups without such pairs cost one
    question, not one per pair of rules: ``rules check`` stays fast on thousands of rules.
    """
    pairs: list[tuple[LoadedRule, LoadedRule]] = []

    def ask(x: Sequence[LoadedRule], y: Sequence[LoadedRule]) -> None:
        fire_x = any_of([logic.fires_named(r) for r in x])
        fire_y = any_of([logic.fires_named(r) for r in y])
        if not logic.possible(fire_x, fire_y):
            return
        if len(x) == 1 and len(y) == 1:
            if x[0].id != y[0].id:
                pairs.append((x[0], y[0]))
        elif len(x) >= len(y):
            ask(x[: len(x) // 2], y)
            ask(x[len(x) // 2 :], y)
        else:
            ask(x, y[: len(y) // 2])
            ask(x, y[len(y) // 2 :])

    if a and b:
        ask(a, b)
    return pairs


def _example(logic: Logic, ra: LoadedRule, rb: LoadedRule) -> dict[str, Any] | None:
    return logic.example(logic.fires(ra), logic.fires(rb))


def _same_priority_choices(
    logic: Logic, choosers: Sequence[tuple[LoadedRule, str]]
) -> Iterator[tuple[LoadedRule, str, LoadedRule, str, dict[str, Any]]]:
    """Each pair of rules choosing different programmes at the same priority that can fire for the same
    person, with an example, in the order the choosers are given."""
    groups: dict[tuple[int, str], list[LoadedRule]] = {}
    chosen: dict[str, str] = {}
    position: dict[str, int] = {}
    for index, (item, programme) in enumerate(choosers):
        groups.setdefault((item.rule.priority, programme), []).append(item)
        chosen[item.id] = programme
        position.setdefault(item.id, index)
    pairs: set[tuple[int, int]] = set()
    for (priority, programme), rules in groups.items():
        for (other_priority, other), others in groups.items():
            if other_priority == priority and programme < other:
                for ra, rb in _firing_together(logic, rules, others):
                    i, j = sorted((position[ra.id], position[rb.id]))
                    pairs.add((i, j))
    for i, j in sorted(pairs):
        ra, rb = choosers[i][0], choosers[j][0]
        fact = _example(logic, ra, rb)
        if fact is not None:
            yield ra, chosen[ra.id], rb, chosen[rb.id], fact


def _disagreeing_prescriptions(
    logic: Logic, items: Sequence[LoadedRule]
) -> Iterator[tuple[LoadedRule, LoadedRule, str, str, Any, Any, dict[str, Any]]]:
    """Each pair of rules of one stage and priority prescribing different values of one dose field for one
    category that can fire for the same person, with an example (one report per pair of rules)."""
    fields = [name for name in Prescribe.model_fields if name not in ("action", "categories")]
    # (stage, priority, category, field) -> value -> the rules prescribing it
    values: dict[tuple[str, int, str, str], dict[Any, list[LoadedRule]]] = {}
    for item in items:
        for action in item.rule.then:
            if isinstance(action, Prescribe):
                for kind in action.categories:
                    for name in fields:
                        value = getattr(action, name)
                        if value is not None:
                            key = (item.rule.stage, item.rule.priority, kind, name)
                            values.setdefault(key, {}).setdefault(value, []).append(item)
    reported: set[tuple[str, str]] = set()
    for (_, _, category, name), by_value in values.items():
        for (va, rules_a), (vb, rules_b) in itertools.combinations(by_value.items(), 2):
            for ra, rb in _firing_together(logic, rules_a, rules_b):
                first, second = sorted(((ra, va), (rb, vb)), key=lambda rv: rv[0].order_key)
                if (first[0].id, second[0].id) in reported:
                    continue
                fact = _example(logic, first[0], second[0])
                if fact is not None:
                    reported.add((first[0].id, second[0].id))
                    yield first[0], second[0], category, name, first[1], second[1], fact


def _prefer_and_exclude(
    logic: Logic, items: Sequence[LoadedRule]
) -> Iterator[tuple[LoadedRule, str, LoadedRule, dict[str, Any]]]:
    """(preferring rule, tag, excluding rule, example) for a preferred tag excluded for the same person."""
    preferring: dict[str, list[LoadedRule]] = {}
    excluding: dict[str, list[LoadedRule]] = {}
    for item in items:
        for action in item.rule.then:
            if isinstance(action, Include) and action.prefer:
                for tag in action.tags:
                    preferring.setdefault(tag, []).append(item)
            elif isinstance(action, Exclude):
                for tag in action.tags:
                    excluding.setdefault(tag, []).append(item)
    for tag in sorted(preferring):
        for item, other in _firing_together(logic, preferring[tag], excluding.get(tag, [])):
            fact = _example(logic, item, other)
            if fact is not None:
                yield item, tag, other, fact


def _figure_problems(knowledge: Knowledge) -> list[Problem]:
    """The exercise pictures (knowledge/figures/, drawn by engine.figures) are knowledge too: a file that does
    not load is bad input for every command (``KnowledgeError``), and every catalogue exercise has exactly
    one figure, of an exercise the catalogue has."""
    from pathlib import Path

    from .figures import FIGURE_DIR, load_figures

    folder = Path(knowledge.root) / FIGURE_DIR
    if not folder.is_dir():
        return []
    figures = load_figures(Path(knowledge.root))
    found = [
        Problem(
            figures.origin.get(ex_id, str(folder)),
            None,
            f"figure of an unknown exercise '{ex_id}'"
            + (f" (did you mean '{near}'?)" if (near := closest(ex_id, knowledge.exercises)) else ""),
        )
        for ex_id in figures.figures
        if ex_id not in knowledge.exercises
    ]
    found += [
        Problem(str(folder), None, f"no figure for exercise '{ex_id}'")
        for ex_id in knowledge.exercises
        if ex_id not in figures.figures
    ]
    return found


def enforce(rules: RuleSet, knowledge: Knowledge) -> None:
    """Raise the first problem as a ``RuleError``."""
    found = problems(rules, knowledge)
    if found:
        raise found[0].error()
