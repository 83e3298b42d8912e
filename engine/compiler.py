"""Compile validated rules to durable_rules ruleset definitions (plain JSON-able dicts).

Each rule becomes one durable rule over a single fact (alias ``m``) with ``pri`` = priority and
``run`` = the rule id. Negation is pushed down to the leaves (De Morgan), so every compiled pattern
uses only the operators durable_rules implements reliably: equality, ``$neq``, ``$lt``/``$lte``/
``$gt``/``$gte``, ``$and``, ``$or`` and ``$ex``.

``compile_predicate`` compiles the same conditions to plain Python closures with the reference
semantics of ``Condition.holds``: the planner's independent cross-check of every durable evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from .conditions import Condition, negated_op
from .facts import STAGES, reader

if TYPE_CHECKING:  # ruleset.py measures rules with this module's patterns (``pattern_shape``)
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
    op = leaf.op  # (``target`` and ``operand`` would each look the operator up again)
    assert leaf.field is not None
    if op == "contains":
        return {f"{leaf.field}.{leaf.contains}": not negate}
    path = leaf.field
    value = getattr(leaf, "in_" if op == "in" else op)
    if negate:
        op = negated_op(op)
    if op == "eq":
        return {path: value}
    if op == "in":
        return _join("$or", [{path: v} for v in value])
    if op == "not_in":
        return _join("$and", [{"$neq": {path: v}} for v in value])
    return {_DURABLE_OP[op]: {path: value}}


# --- the shape of a compiled pattern: what durable_rules' limits are about ----------------------------

_OPERATORS = ("$neq", "$lt", "$lte", "$gt", "$gte", "$ex", "$nex")


class PatternShape(NamedTuple):
    """What durable_rules builds from one pattern (see docs/performance.md, "Rule-set limits")."""

    leaves: int  # comparisons: alpha nodes of its network
    terms: int  # terms in disjunctive normal form: paths through the network (all may be open at once)
    groups: int  # "$and"/"$or" nodes: durable keeps two expressions for each, at most 31 a rule


def pattern_terms(pattern: Mapping[str, Any]) -> int:
    """How many terms the pattern has in disjunctive normal form: its paths through durable's alpha network."""
    if len(pattern) == 1:
        ((key, value),) = pattern.items()
        if key == "$or":
            return sum(pattern_terms(child) for child in value)
        if key == "$and":
            terms = 1
            for child in value:
                terms *= pattern_terms(child)
            return terms
    return 1


def pattern_shape(pattern: Mapping[str, Any]) -> PatternShape:
    if len(pattern) == 1:
        ((key, value),) = pattern.items()
        if key in ("$and", "$or"):
            shapes = [pattern_shape(child) for child in value]
            terms = 1 if key == "$and" else 0
            for shape in shapes:
                terms = terms * shape.terms if key == "$and" else terms + shape.terms
            return PatternShape(
                leaves=sum(s.leaves for s in shapes), terms=terms, groups=1 + sum(s.groups for s in shapes)
            )
    return PatternShape(leaves=1, terms=1, groups=0)


def pattern_paths(pattern: Mapping[str, Any]) -> Iterator[str]:
    """Every dotted fact path a compiled pattern reads."""
    for key, value in pattern.items():
        if key in ("$and", "$or"):
            for child in value:
                yield from pattern_paths(child)
        elif key in _OPERATORS:
            yield from value
        else:
            yield key


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


# --- the reference semantics, compiled ---------------------------------------------------------------

Predicate = Callable[[Mapping[str, Any]], bool]


def compile_predicate(cond: Condition) -> Predicate:
    """``cond.holds`` as a closure: the same semantics (``conditions._compare``), decided once per rule.

    The planner cross-checks every durable_rules evaluation against the reference semantics; walking
    the pydantic condition tree for every rule of every plan was the largest cost of a plan. This
    closure evaluates exactly what ``Condition.holds`` evaluates, in the same order and with the same
    short-circuits (so a missing field raises the same ``KeyError``); the tests check that the two
    agree on every rule and on random conditions and facts.
    """
    if cond.always:
        return _true
    if cond.all is not None:
        return _conjunction(tuple(compile_predicate(c) for c in cond.all))
    if cond.any is not None:
        return _disjunction(tuple(compile_predicate(c) for c in cond.any))
    if cond.none is not None:
        return _negation(_disjunction(tuple(compile_predicate(c) for c in cond.none)))
    if cond.not_ is not None:
        return _negation(compile_predicate(cond.not_))
    return _leaf(cond.op, cond.target(), cond.operand)


def _true(fact: Mapping[str, Any]) -> bool:
    return True


def _false(fact: Mapping[str, Any]) -> bool:
    return False


def _negation(inner: Predicate) -> Predicate:
    return lambda fact: not inner(fact)


def _conjunction(parts: tuple[Predicate, ...]) -> Predicate:
    if not parts:
        return _true
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        a, b = parts
        return lambda fact: a(fact) and b(fact)
    if len(parts) == 3:
        a, b, c = parts
        return lambda fact: a(fact) and b(fact) and c(fact)
    return lambda fact: all(part(fact) for part in parts)


def _disjunction(parts: tuple[Predicate, ...]) -> Predicate:
    if not parts:
        return _false
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        a, b = parts
        return lambda fact: a(fact) or b(fact)
    if len(parts) == 3:
        a, b, c = parts
        return lambda fact: a(fact) or b(fact) or c(fact)
    return lambda fact: any(part(fact) for part in parts)


def _same(actual: Any, operand: Any) -> bool:
    # conditions._compare "eq": equal and of the same type (True is not 1, "1" is not 1).
    return bool(actual == operand and type(actual) is type(operand))


def _leaf(op: str, path: str, operand: Any) -> Predicate:
    """One comparison; paths of one or two parts (every field today) read the fact directly."""
    parts = tuple(path.split("."))
    if len(parts) == 2 and op in ("eq", "ne", "contains"):
        outer, inner = parts
        if op == "contains":
            return lambda fact: fact[outer][inner] is True
        kind = type(operand)
        if op == "eq":
            return lambda fact: bool((v := fact[outer][inner]) == operand and type(v) is kind)
        return lambda fact: not ((v := fact[outer][inner]) == operand and type(v) is kind)
    get = reader(path)
    if op == "contains":
        return lambda fact: get(fact) is True
    if op == "eq":
        return lambda fact: _same(get(fact), operand)
    if op == "ne":
        return lambda fact: not _same(get(fact), operand)
    if op in ("in", "not_in"):
        options = tuple(operand)
        positive = op == "in"

        def member(fact: Mapping[str, Any]) -> bool:
            actual = get(fact)
            for option in options:
                if _same(actual, option):
                    return positive
            return not positive

        return member
    compare = _NUMERIC[op]

    def numeric(fact: Mapping[str, Any]) -> bool:
        actual = get(fact)
        if isinstance(actual, bool) or not isinstance(actual, int):
            return False
        return compare(actual, operand)

    return numeric


_NUMERIC: dict[str, Callable[[int, int], bool]] = {
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}


# --- one function per stage --------------------------------------------------------------------------

StageCheck = Callable[[Mapping[str, Any]], list[str]]


def compile_stage_check(rules: Sequence[tuple[str, Condition]]) -> StageCheck:
    """A function returning the ids (in the given order) of the rules whose condition holds for a fact.

    Built from ``compile_predicate`` closures, so it has exactly the reference semantics of
    ``Condition.holds`` (a missing field raises the same ``KeyError``). Closures rather than generated
    source on purpose: nothing derived from a rule file is ever handed to ``exec``.
    """
    checks = tuple((rule_id, compile_predicate(cond)) for rule_id, cond in rules)

    def check(fact: Mapping[str, Any]) -> list[str]:
        return [rule_id for rule_id, holds in checks if holds(fact)]

    return check
