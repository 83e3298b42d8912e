"""Whole-rule-set checks beyond the schema: the defects ``backplan rules check`` reports.

Run on every load (``enforce``), so no command ever uses a defective rule set. Each problem names
the file, the rule and what is wrong. Satisfiability questions ("can these two rules fire for the
same person?", "does every yes to this question stop the plan?") are decided exactly, for every
possible intake, by the solver in ``symbolic``; the declared meanings are proved in ``obligations``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import z3

from .errors import RuleError
from .facts import NO_PROGRAMME
from .knowledge import EXERCISE_DIR, Knowledge
from .obligations import excluders_of, unmet
from .ruleset import ChooseProgramme, Include, RuleSet
from .symbolic import Logic, describe


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
    found: list[Problem] = []
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
    for condition in knowledge.conditions:
        target = f"conditions.{condition}"
        if not any(target in item.rule.when.fields() for item in items):
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
        if not logic.possible(logic.fires(item)):
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
    for (ra, pa), (rb, pb) in itertools.combinations(choosers, 2):
        if pa != pb and ra.rule.priority == rb.rule.priority:
            fact = logic.example(logic.fires(ra), logic.fires(rb))
            if fact is not None:
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
    for item in items:
        for action in item.rule.then:
            if not isinstance(action, Include):
                continue
            for ex_id in action.exercises:
                excluders = excluders_of(rules, knowledge, ex_id)
                if not excluders:
                    continue
                allowed = z3.Not(z3.Or(*[logic.fires(r) for r in excluders]))
                if not logic.possible(logic.fires(item), allowed):
                    together = [r for r in excluders if logic.possible(logic.fires(item), logic.fires(r))]
                    names = ", ".join(r.id for r in together)
                    found.append(
                        Problem(
                            item.file,
                            item.id,
                            f"includes '{ex_id}', but whenever this rule fires it is excluded (by {names})",
                        )
                    )
    return found


def enforce(rules: RuleSet, knowledge: Knowledge) -> None:
    """Raise the first problem as a ``RuleError``."""
    found = problems(rules, knowledge)
    if found:
        raise found[0].error()
