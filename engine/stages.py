"""Running the stages (engine/pipeline.py) for one intake: durable_rules evaluates each stage, the
reference check guards it (any disagreement fails closed), and the fired rules' effects are gathered
as ``Decisions``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from .errors import EngineError
from .facts import intake_fact, stage_fact
from .index import RuleFacts
from .intake import Intake
from .pipeline import PIPELINE, choose_programme
from .plan import (
    Reason,
)
from .rulebook import RuleBook
from .ruleset import (
    Limit,
    LoadedRule,
    Prescribe,
    Stop,
    Warn,
)

# --- decisions: what the fired rules said ---------------------------------------------------------


@dataclass
class Decisions:
    fired: list[LoadedRule] = field(default_factory=list)
    matched: dict[str, dict[str, Any]] = field(default_factory=dict)
    stops: list[tuple[LoadedRule, Stop]] = field(default_factory=list)
    warnings: list[tuple[LoadedRule, Warn | Stop]] = field(default_factory=list)
    excluded: dict[str, list[Reason]] = field(default_factory=dict)
    excluding: list[str] = field(default_factory=list)  # the rules that excluded any, in the order applied
    included: dict[str, list[str]] = field(default_factory=dict)  # exercise id -> the distinct rules including it
    preferred: set[str] = field(default_factory=set)
    programmes: list[tuple[LoadedRule, str]] = field(default_factory=list)
    derived: dict[str, str] = field(default_factory=dict)  # fact -> rule id
    prescriptions: list[tuple[LoadedRule, Prescribe]] = field(default_factory=list)
    limits: list[tuple[LoadedRule, Limit]] = field(default_factory=list)
    dosing_rules: list[str] = field(default_factory=list)  # the rules that prescribed or limited, in order
    cautions: dict[str, list[str]] = field(default_factory=dict)  # exercise id -> cautions rules added
    base: dict[str, Any] = field(default_factory=dict)  # the intake's fact (``facts.intake_fact``), read-only


_ORDER = attrgetter("order")  # a rule's (stage, priority, id)


def _apply(facts: RuleFacts, d: Decisions) -> None:
    """What one fired rule decides (every list keeps rule order, then action order)."""
    item = facts.item
    if facts.warnings:
        d.stops.extend((item, a) for a in facts.stops)
        d.warnings.extend((item, a) for a in facts.warnings)
    if facts.excludes:
        d.excluding.append(item.rule.id)
    for chosen, reason in facts.excludes:
        excluded = d.excluded
        for ex_id in chosen:
            if ex_id in excluded:
                excluded[ex_id].append(reason)
            else:
                excluded[ex_id] = [reason]
    if facts.include_ids:
        # Once per exercise however many of the rule's includes select it: each list in ``included``
        # holds distinct rule ids (a rule is applied once per plan).
        included = d.included
        rule_id = item.rule.id
        for ex_id in facts.include_ids:
            if ex_id in included:
                included[ex_id].append(rule_id)
            else:
                included[ex_id] = [rule_id]
        d.preferred.update(facts.preferred_ids)
    for programme in facts.programmes:
        d.programmes.append((item, programme))
    for name in facts.derives:
        d.derived.setdefault(name, item.rule.id)
    if facts.prescriptions or facts.limits:
        d.dosing_rules.append(item.rule.id)
        d.prescriptions.extend((item, a) for a in facts.prescriptions)
        d.limits.extend((item, a) for a in facts.limits)
    for chosen, text in facts.cautions:
        for ex_id in chosen:
            d.cautions.setdefault(ex_id, []).append(text)


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
    for facts in sorted([index.rules[i] for i in fired_ids], key=_ORDER):
        d.fired.append(facts.item)
        d.matched[facts.item.rule.id] = {name: read(fact) for name, read in facts.reads}
        _apply(facts, d)


def decide(intake: Intake, book: RuleBook) -> tuple[Decisions, str | None]:
    """Run the stages; returns the decisions and the chosen programme (None when the screen stops)."""
    d = Decisions()
    base = d.base = intake_fact(intake, book.knowledge)
    index = book.index
    all_derived, ranks = index.derived_names, index.caution_ranks
    programme: str | None = None
    for spec in PIPELINE:
        if spec.runs != "always" and d.stops:  # a stop ends the pipeline: no plan
            return d, None
        if spec.runs == "planned":
            programme = choose_programme((p for _, p in d.programmes), ranks)
            if programme is None:
                raise EngineError("no rule chose a programme for this intake (the rule set is incomplete)")
        fact = stage_fact(base, programme if spec.sees_programme else None, d.derived, all_derived)
        _run_stage(book, spec.name, fact, d)
    return d, programme
