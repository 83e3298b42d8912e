"""The intake classes the rules distinguish: what ``verify`` plans and ``cohort`` writes.

Plan assembly depends on which select rules fired, on experience, programme and equipment, nothing else, so
one intake per *signature* (a combination of fired select rules that some intake produces, found by the
solver) per (experience, programme) cell and per equipment extreme (none, everything) gives every fired-rule
combination the rules can assemble a plan from; ``verify`` also plans each signature with one of the
catalogue's equipment options owned alone, in turn (partial equipment). Stopping intakes: one minimal intake
per declared stop and per stop rule. Every other rule: one minimal intake where it fires, so that a change
to any rule shows on some intake.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import z3

from .knowledge import LEVELS, Knowledge
from .obligations import Obligation, obligations
from .rulebook import RuleBook
from .symbolic import Logic, any_of, bit, pack


@dataclass(frozen=True)
class Case:
    """One intake to evaluate, with the select rules its signature predicts (None: not predicted)."""

    answers: dict[str, Any]
    fired: frozenset[str] | None = None
    recheck: bool = False


Cell = tuple[str, str]  # (experience, programme): the answers plan assembly reads besides fired rules


def equipment_sets(knowledge: Knowledge) -> tuple[tuple[str, ...], ...]:
    """No equipment, and every item: eligibility only grows with equipment, so these are the extremes."""
    return ((), tuple(knowledge.equipment))


def equipment_options(knowledge: Knowledge) -> tuple[tuple[str, ...], ...]:
    """Each equipment option of the catalogue, owned alone (sorted, without repeats and without the extremes):
    the sets where some exercise's option is owned and others are not, so the planner must pick the owned one."""
    found = {tuple(sorted(option)) for ex in knowledge.exercises.values() for option in ex.equipment}
    extremes = {tuple(sorted(s)) for s in equipment_sets(knowledge)}
    return tuple(sorted(found - extremes))


def stop_cases(logic: Logic, todo: Sequence[Obligation]) -> list[Case]:
    """A minimal intake for every declared stop and for every stop rule: the stop region, planned for real."""
    out: dict[str, Case] = {}
    formulas = [logic.encode(o.premise) for o in todo if o.is_stop] + [logic.when(r) for r in logic.stop_rules()]
    for formula in formulas:
        example = logic.example(formula)
        if example is not None:
            answers = logic.answers(example)
            out.setdefault(repr(sorted(example.items())), Case(answers, None, recheck=True))
    return list(out.values())


def plan_cells(knowledge: Knowledge) -> list[Cell]:
    """Every (experience, programme) pair."""
    return list(itertools.product(LEVELS, knowledge.programmes))


SPLIT_DEPTH = 8  # signatures: the select rules whose firing splits the enumeration into parts (up to 2**8)


def signatures(logic: Logic, cell: Cell) -> list[tuple[dict[str, Any], frozenset[str]]]:
    """Every combination of fired select rules that some intake in ``cell`` produces, with one such intake.

    All-solutions enumeration with blocking clauses, over one Boolean per select rule (``fires_i``, equal to
    whether it fires). The first ``SPLIT_DEPTH`` of them split it: each part (every way those rules can fire
    or not, the empty parts skipped) is enumerated on its own, so a check carries only its part's blocking
    clauses, not every signature found so far. The parts cover every intake, so nothing is lost; the
    ``fires_i`` are read in one evaluation (a bit-vector), like the answers (``Logic.values``)."""
    experience, programme = cell
    select = logic.rules.stage("select")
    fires = [z3.Bool(f"backplan.fires.{i}") for i in range(len(select))]
    fires_not = [z3.Not(f) for f in fires]
    word, places = pack([(bit(f), 1) for f in fires])
    solver = z3.Solver()
    solver.add(logic.domain, logic.planned, logic.programme_is(programme))
    solver.add(logic.is_value("experience", experience))
    solver.add(*[f == logic.fires(r) for f, r in zip(fires, select, strict=True)])
    out: list[tuple[dict[str, Any], frozenset[str]]] = []

    found: set[frozenset[str]] = set()

    def enumerate_part() -> None:
        while solver.check() == z3.sat:
            model = solver.model()
            packed = model.eval(word, model_completion=True).as_long() if word is not None else 0
            truth = [bool(packed >> shift & mask) for shift, mask in places]
            fired = frozenset(r.id for r, hit in zip(select, truth, strict=True) if hit)
            if fired in found:  # the blocking clause did not block this model: a defect, never an endless loop
                raise RuntimeError(f"signature enumeration found {sorted(fired)} twice in cell {cell}")
            found.add(fired)
            out.append((logic.values(model), fired))
            solver.add(any_of([no if hit else yes for yes, no, hit in zip(fires, fires_not, truth, strict=True)]))

    def split(i: int) -> None:
        if i == min(SPLIT_DEPTH, len(fires)):
            solver.push()
            enumerate_part()
            solver.pop()
            return
        for literal in (fires_not[i], fires[i]):
            solver.push()
            solver.add(literal)
            if solver.check() == z3.sat:
                split(i + 1)
            solver.pop()

    split(0)
    return out


def plan_cases(
    logic: Logic,
    cells: Sequence[Cell],
    sets: Sequence[tuple[str, ...]],
    options: Sequence[tuple[str, ...]] = (),
) -> list[Case]:
    """Every signature of every cell, with each equipment set in ``sets``, and with one of ``options`` in
    turn (a cell's i-th signature with ``options[i % len(options)]``): each signature gets len(sets) cases,
    plus one when there are options."""
    knowledge = logic.knowledge
    cases: list[Case] = []
    for cell in cells:
        for i, (values, fired) in enumerate(signatures(logic, cell)):
            for owned in (*sets, options[i % len(options)]) if options else sets:
                flat = dict(values)
                flat.update({f"equipment.{e}": e in owned for e in knowledge.equipment})
                answers = logic.answers(flat)
                cases.append(Case(answers, fired))
    return cases


def rule_cases(logic: Logic) -> list[Case]:
    """A minimal intake on which each rule fires (rules that can never fire have none)."""
    out: dict[str, Case] = {}
    for item in logic.rules.rules:
        example = logic.example(logic.fires(item))
        if example is not None:
            out.setdefault(repr(sorted(example.items())), Case(logic.answers(example)))
    return list(out.values())


def cohort(book: RuleBook) -> list[dict[str, Any]]:
    """One answers object per class the rules distinguish, in a fixed order, without repeats: the stop
    region, every rule firing, and every signature with no equipment and with every item."""
    logic = Logic(book.rules, book.knowledge)
    cases = [
        *stop_cases(logic, obligations(book.knowledge)),
        *rule_cases(logic),
        *plan_cases(logic, plan_cells(book.knowledge), equipment_sets(book.knowledge)),
    ]
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for case in cases:
        key = repr(case.answers)
        if key not in seen:
            seen.add(key)
            out.append(case.answers)
    return out
