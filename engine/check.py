"""Whole-rule-set checks beyond the schema: the defects ``backplan rules check`` reports.

Run on every load (``enforce``), so no command ever uses a defective rule set. Each problem names
the file, the rule and what is wrong. Satisfiability questions ("can these two rules fire for the
same person?") are answered exactly by enumerating the equivalence classes of the fields involved
(see ``classes``): the same partition ``verify`` uses.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from .compiler import Predicate, compile_predicate
from .conditions import Condition
from .errors import RuleError
from .facts import NO_PROGRAMME, STAGES, FieldSpec, Scalar
from .knowledge import EXERCISE_DIR, Knowledge
from .obligations import excluders_of, unmet
from .ruleset import ChooseProgramme, Derive, Include, LoadedRule, RuleSet
from .symbolic import Logic, describe


def classes(spec: FieldSpec, conditions: Sequence[Condition]) -> tuple[Scalar, ...]:
    """One representative value per equivalence class of ``spec`` under the given conditions.

    Booleans and enums: every value. Integers: the range split at every number a condition compares
    the field with (each side of every threshold), one representative per interval.
    """
    if spec.kind != "int":
        return spec.values
    cuts: set[int] = set()
    for cond in conditions:
        for leaf in cond.leaves():
            if leaf.target() != spec.name:
                continue
            operand = leaf.operand
            for v in operand if isinstance(operand, tuple) else (operand,):
                if isinstance(v, int) and not isinstance(v, bool):
                    cuts.update((v, v + 1))  # intervals [.., v-1], [v], [v+1, ..]
    lo, hi = spec.minimum, spec.maximum
    bounds = sorted({lo, *(c for c in cuts if lo < c <= hi)})
    return tuple(bounds)  # each bound starts an interval; its first value represents it


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{"pain.intensity": 3} -> {"pain": {"intensity": 3}}"""
    out: dict[str, Any] = {}
    for path, value in flat.items():
        parts = path.split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def assignments(
    fields: Sequence[str], specs: Mapping[str, FieldSpec], conditions: Sequence[Condition]
) -> Iterator[dict[str, Any]]:
    """Every combination of classes of ``fields``, as nested facts."""
    values = [classes(specs[f], conditions) for f in fields]
    for combo in itertools.product(*values):
        yield nest(dict(zip(fields, combo, strict=True)))


class Model:
    """The pipeline's decisions (derived facts, programme) as functions of intake fields.

    Rules that read ``derived.*`` or ``programme`` depend on the rules that make them; to ask whether
    two rules can fire for the same *person* we enumerate intake fields only, and recompute what the
    earlier stages would decide. (A stop in the screen would skip later stages; ignoring that can only
    report a conflict too many, never one too few.)
    """

    def __init__(self, rules: RuleSet, knowledge: Knowledge) -> None:
        self.rules = rules
        self.knowledge = knowledge
        self.derivers: dict[str, list[LoadedRule]] = {}
        self.choosers: list[tuple[LoadedRule, str]] = []
        self._predicates: dict[int, tuple[Condition, Predicate]] = {}
        for item in rules.rules:
            for action in item.rule.then:
                if isinstance(action, Derive):
                    self.derivers.setdefault(action.fact, []).append(item)
                elif isinstance(action, ChooseProgramme):
                    self.choosers.append((item, action.programme))

    def closure(self, conditions: Sequence[Condition]) -> tuple[list[str], list[Condition]]:
        """The intake fields (and every condition involved) that decide ``conditions``."""
        fields: dict[str, None] = {}
        involved: list[Condition] = []
        queue = list(conditions)
        seen_rules: set[str] = set()
        while queue:
            cond = queue.pop(0)
            involved.append(cond)
            for name in cond.fields():
                makers: list[LoadedRule] = []
                if name.startswith("derived."):
                    makers = self.derivers.get(name.split(".", 1)[1], [])
                elif name == "programme":
                    makers = [item for item, _ in self.choosers]
                else:
                    fields[name] = None
                for item in makers:
                    if item.id not in seen_rules:
                        seen_rules.add(item.id)
                        queue.append(item.rule.when)
        return list(fields), involved

    def _holds(self, cond: Condition, fact: dict[str, Any]) -> bool:
        """``cond.holds(fact)``, through a compiled predicate (the same semantics, a few times faster)."""
        entry = self._predicates.get(id(cond))
        if entry is None:
            entry = self._predicates[id(cond)] = (cond, compile_predicate(cond))  # keep cond: ids stay unique
        return entry[1](fact)

    def _safe_holds(self, cond: Condition, fact: dict[str, Any]) -> bool:
        try:
            return self._holds(cond, fact)
        except KeyError:  # a field outside the closure: it cannot matter for the question asked
            return False

    def decide(self, fact: dict[str, Any]) -> dict[str, Any]:
        """Add ``derived`` and ``programme`` to a partial intake fact, stage by stage."""
        full = dict(fact)
        full["derived"] = {name: False for name in self.rules.derived}
        full["programme"] = NO_PROGRAMME
        for stage in STAGES:
            for name, makers in self.derivers.items():
                if any(m.rule.stage == stage and self._safe_holds(m.rule.when, full) for m in makers):
                    full["derived"] = {**full["derived"], name: True}
            if stage == "route":
                chosen = [p for item, p in self.choosers if self._safe_holds(item.rule.when, full)]
                if chosen:
                    rank = self.knowledge.programmes
                    full["programme"] = min(chosen, key=lambda p: (rank[p].caution_rank, p))
        return full

    def jointly_possible(self, a: Condition, b: Condition) -> dict[str, Any] | None:
        """An intake (over the fields that matter) for which both hold, or None when none exists."""
        fields, involved = self.closure([a, b])
        for fact in assignments(fields, self.rules.fields, involved):
            full = self.decide(fact)
            if self._holds(a, full) and self._holds(b, full):
                return fact
        return None


@dataclass(frozen=True)
class Problem:
    file: str
    rule: str | None
    message: str

    def line(self) -> str:
        return f"{self.file}: {self.rule}: {self.message}" if self.rule else f"{self.file}: {self.message}"

    def error(self) -> RuleError:
        return RuleError(self.message, file=self.file, rule=self.rule)


def _example(fact: Mapping[str, Any]) -> str:
    flat: list[str] = []

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else key, value)
        else:
            flat.append(f"{prefix}={str(node).lower() if isinstance(node, bool) else node}")

    walk("", fact)
    return ", ".join(flat) or "any intake"


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
