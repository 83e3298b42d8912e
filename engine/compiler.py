"""Compile validated rules to durable_rules ruleset definitions (plain JSON-able dicts).

Each rule becomes one durable rule over a single fact (alias ``m``) with ``pri`` = priority and
``run`` = the rule id. Negation is pushed down to the leaves (De Morgan), so every compiled pattern
uses only the operators durable_rules implements reliably: equality, ``$neq``, ``$lt``/``$lte``/
``$gt``/``$gte``, ``$and``, ``$or`` and ``$ex``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .conditions import Condition, negated_op
from .facts import STAGES
from .ruleset import LoadedRule

_DURABLE_OP = {"ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}
# A field every fact has; "always" compiles to "this field exists".
_ALWAYS = {"$ex": {"age": 1}}


def compile_condition(cond: Condition, negate: bool = False) -> dict[str, Any]:
    if cond.always:
        if negate:
            return {"$nex": {"age": 1}}
        return dict(_ALWAYS)
    if cond.not_ is not None:
        return compile_condition(cond.not_, not negate)
    if cond.all is not None or cond.any is not None or cond.none is not None:
        children = cond.children()
        if cond.none is not None:
            # none(a, b) == all(not a, not b)
            return _join("$or" if negate else "$and", [compile_condition(c, not negate) for c in children])
        conj = cond.all is not None
        if negate:
            conj = not conj
        return _join("$and" if conj else "$or", [compile_condition(c, negate) for c in children])
    return _compile_leaf(cond, negate)


def _join(op: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    if not parts:
        # all() of nothing is true; any() of nothing is false.
        return dict(_ALWAYS) if op == "$and" else {"$nex": {"age": 1}}
    if len(parts) == 1:
        return parts[0]
    return {op: parts}


def _compile_leaf(leaf: Condition, negate: bool) -> dict[str, Any]:
    op = leaf.op
    path = leaf.target()
    if op == "contains":
        return {path: not negate}
    if negate:
        op = negated_op(op)
    value = leaf.operand
    if op == "eq":
        return {path: value}
    if op == "in":
        return _join("$or", [{path: v} for v in value])
    if op == "not_in":
        return _join("$and", [{"$neq": {path: v}} for v in value])
    return {_DURABLE_OP[op]: {path: value}}


def compile_rule(item: LoadedRule) -> dict[str, Any]:
    return {
        "all": [{"m": compile_condition(item.rule.when)}],
        "pri": item.rule.priority,
        "run": item.rule.id,
    }


def compile_stages(rules: Iterable[LoadedRule]) -> dict[str, dict[str, dict[str, Any]]]:
    """stage name -> {rule id: durable rule}; stages without rules are left out."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for item in rules:
        out.setdefault(item.rule.stage, {})[item.id] = compile_rule(item)
    return {stage: out[stage] for stage in STAGES if stage in out}
