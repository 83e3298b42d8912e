"""Whole-rule-set checks beyond the schema: the defects ``backplan rules check`` reports.

Run on every load (``enforce``), so no command ever uses a defective rule set. Each problem names
the file, the rule and what is wrong. Satisfiability questions ("can these two rules fire for the
same person?", "does every yes to this question stop the plan?") are decided exactly, for every
possible intake, by the solver in ``symbolic``; the declared meanings are proved in ``obligations``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from .errors import RuleError
from .facts import NO_PROGRAMME
from .knowledge import EXERCISE_DIR, Knowledge
from .obligations import unmet
from .ruleset import ChooseProgramme, Include, LoadedRule, RuleSet
from .symbolic import Logic, any_of, describe


@dataclass(frozen=True)
class Problem:
    file: str
    rule: str | None
    message: str

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
        found.append(Problem(miss.file, miss.rule, miss.message))

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
            found.append(Problem(item.file, item.id, f"can never fire: {why}: {item.rule.when.describe()}"))

    # After the screen, some programme is always chosen (else the planner would have to fail).
    lost = logic.example(z3.Not(logic.stop), logic.programme_is(NO_PROGRAMME))
    if lost is not None:
        found.append(Problem(rules.root, None, f"no rule chooses a programme for: {describe(lost, order)}"))

    # Two rules choosing different programmes at the same priority for the same person.
    choosers = [(item, a.programme) for item in items for a in item.rule.then if isinstance(a, ChooseProgramme)]
    for ra, pa, rb, pb, fact in _same_priority_choices(logic, choosers):
        found.append(
            Problem(
                rb.file,
                rb.id,
                f"chooses '{pb}' while rule {ra.id} chooses '{pa}' at the same priority "
                f"{ra.rule.priority}, both for: {describe(fact, order)}",
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
                )
            )
    return found


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


Choice = tuple[LoadedRule, str]


def _same_priority_choices(
    logic: Logic, choosers: Sequence[Choice]
) -> Iterator[tuple[LoadedRule, str, LoadedRule, str, dict[str, Any]]]:
    """Each pair of choices (in the order of ``itertools.combinations(choosers, 2)``) of different
    programmes at the same priority that can fire for the same person, with an example.

    Asked of groups, not pairs: "can some rule choosing A and some rule choosing B at this priority fire
    together?" is one question; only a "yes" is split in halves and asked again. A rule set without
    such clashes costs one question per priority and pair of programmes, not one per pair of rules.
    """
    groups: dict[tuple[int, str], list[int]] = {}
    for index, (item, programme) in enumerate(choosers):
        groups.setdefault((item.rule.priority, programme), []).append(index)
    pairs: list[tuple[int, int]] = []

    def together(a: Sequence[int], b: Sequence[int]) -> None:
        fire_a = any_of([logic.fires_named(choosers[i][0]) for i in a])
        fire_b = any_of([logic.fires_named(choosers[j][0]) for j in b])
        if not logic.possible(fire_a, fire_b):
            return
        if len(a) == 1 and len(b) == 1:
            pairs.append((min(a[0], b[0]), max(a[0], b[0])))
        elif len(a) >= len(b):
            together(a[: len(a) // 2], b)
            together(a[len(a) // 2 :], b)
        else:
            together(a, b[: len(b) // 2])
            together(a, b[len(b) // 2 :])

    for (priority, programme), indices in groups.items():
        for (other_priority, other), other_indices in groups.items():
            if other_priority == priority and programme < other:
                together(indices, other_indices)
    for i, j in sorted(pairs):
        (ra, pa), (rb, pb) = choosers[i], choosers[j]
        fact = logic.example(logic.fires(ra), logic.fires(rb))
        if fact is not None:
            yield ra, pa, rb, pb, fact


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
        Problem(figures.origin.get(ex_id, str(folder)), None, f"figure of an unknown exercise '{ex_id}'")
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
