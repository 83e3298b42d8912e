"""The condition language of rule files (``when``), and a reference evaluator for it.

A condition is exactly one of:

* a leaf: ``{ field = "pain.intensity", gte = 7 }`` with one operator among
  ``eq ne lt lte gt gte in not_in contains``;
* a combinator: ``{ all = [...] }``, ``{ any = [...] }``, ``{ none = [...] }``, ``{ not = {...} }``;
* ``{ always = true }``.

The compiler turns conditions into durable_rules patterns; ``holds`` is the same semantics in plain
Python, used by ``rules check`` (reachability, conflicts), ``verify`` and as a cross-check of the
compiled rules in the tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

Value = StrictBool | StrictInt | StrictStr


def lookup(fact: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted path (``pain.intensity``); KeyError when absent."""
    value: Any = fact
    for part in dotted.split("."):
        value = value[part]
    return value


COMPARISONS: tuple[str, ...] = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains")
_NEGATED = {"eq": "ne", "ne": "eq", "lt": "gte", "gte": "lt", "gt": "lte", "lte": "gt", "in": "not_in", "not_in": "in"}


class Condition(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True, populate_by_name=True)

    all: tuple[Condition, ...] | None = None
    any: tuple[Condition, ...] | None = None
    none: tuple[Condition, ...] | None = None
    not_: Condition | None = Field(default=None, alias="not")
    always: Literal[True] | None = None
    field: StrictStr | None = None
    eq: Value | None = None
    ne: Value | None = None
    lt: StrictInt | None = None
    lte: StrictInt | None = None
    gt: StrictInt | None = None
    gte: StrictInt | None = None
    in_: tuple[Value, ...] | None = Field(default=None, alias="in", min_length=1)
    not_in: tuple[Value, ...] | None = Field(default=None, min_length=1)
    contains: StrictStr | None = None

    @model_validator(mode="after")
    def _exactly_one_form(self) -> Condition:
        forms = [name for name in ("all", "any", "none", "not_", "always", "field") if getattr(self, name) is not None]
        ops = self.operators()
        if len(forms) != 1:
            raise ValueError("a condition needs exactly one of: field (with an operator), all, any, none, not, always")
        if self.field is None and ops:
            raise ValueError(f"operator '{ops[0]}' needs a field")
        if self.field is not None and len(ops) != 1:
            raise ValueError(f"field '{self.field}' needs exactly one operator of: {', '.join(COMPARISONS)}")
        return self

    def operators(self) -> list[str]:
        return [op for op in COMPARISONS if getattr(self, "in_" if op == "in" else op) is not None]

    @property
    def op(self) -> str:
        return self.operators()[0]

    @property
    def operand(self) -> Any:
        return getattr(self, "in_" if self.op == "in" else self.op)

    def leaves(self) -> Iterator[Condition]:
        if self.field is not None:
            yield self
        for child in self.children():
            yield from child.leaves()

    def children(self) -> tuple[Condition, ...]:
        if self.not_ is not None:
            return (self.not_,)
        return self.all or self.any or self.none or ()

    def fields(self) -> list[str]:
        """Every fact field this condition reads, as dotted paths, in first-use order."""
        seen: dict[str, None] = {}
        for leaf in self.leaves():
            seen[leaf.target()] = None
        return list(seen)

    def target(self) -> str:
        """The dotted fact path a leaf reads (``contains`` reads one per-id boolean)."""
        assert self.field is not None
        return f"{self.field}.{self.contains}" if self.op == "contains" else self.field

    def holds(self, fact: Mapping[str, Any]) -> bool:
        if self.always:
            return True
        if self.all is not None:
            return all(c.holds(fact) for c in self.all)
        if self.any is not None:
            return any(c.holds(fact) for c in self.any)
        if self.none is not None:
            return not any(c.holds(fact) for c in self.none)
        if self.not_ is not None:
            return not self.not_.holds(fact)
        return _compare(self.op, lookup(fact, self.target()), self.operand)

    def describe(self) -> str:
        """The condition in reviewer English-ish notation."""
        if self.always:
            return "always"
        if self.field is not None:
            symbol = {
                "eq": "=",
                "ne": "≠",
                "lt": "<",
                "lte": "≤",
                "gt": ">",
                "gte": "≥",
                "in": "in",
                "not_in": "not in",
            }
            if self.op == "contains":
                return f"{self.field} includes {self.contains}"
            value = self.operand
            shown = "[" + ", ".join(_show(v) for v in value) + "]" if isinstance(value, tuple) else _show(value)
            return f"{self.field} {symbol[self.op]} {shown}"
        if self.not_ is not None:
            return f"not ({self.not_.describe()})"
        word = "all" if self.all is not None else "any" if self.any is not None else "none"
        inner = "; ".join(c.describe() for c in self.children())
        return f"{word} of ({inner})"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _compare(op: str, actual: Any, operand: Any) -> bool:
    if op == "contains":
        return actual is True
    if op == "eq":
        return bool(actual == operand and type(actual) is type(operand))
    if op == "ne":
        return not _compare("eq", actual, operand)
    if op == "in":
        return any(_compare("eq", actual, v) for v in operand)
    if op == "not_in":
        return not _compare("in", actual, operand)
    if isinstance(actual, bool) or not isinstance(actual, int):
        return False
    result: bool = {"lt": actual < operand, "lte": actual <= operand, "gt": actual > operand, "gte": actual >= operand}[
        op
    ]
    return result


def negated_op(op: str) -> str:
    return _NEGATED[op]
