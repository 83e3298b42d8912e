"""Hypothesis strategies for valid answers (answers file version 2), derived from ``knowledge/`` and ``rules/``.

Nothing here is a copy of the knowledge: the questions, vocabularies, levels, pain statuses and value
ranges come from the loaded knowledge (``engine.facts.field_specs``), and the integer values worth
trying more often (an age of 49, 50 and 51, a pain of 5 and 6...) are read from the thresholds that the
declarations in ``knowledge/screening.toml`` and the rule files compare against. A new screening
question, condition or threshold is generated without an edit here.

``answers()`` draws any valid answers; ``answers_where(premise)`` draws answers that (almost always)
satisfy a declared premise, so that each declared meaning is exercised, not only the common ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from hypothesis import strategies as st

from engine import default_knowledge_dir, default_rules_dir, load_knowledge, load_rules
from engine.conditions import Condition
from engine.facts import field_specs
from engine.obligations import obligations, programme_obligations

_K = load_knowledge(default_knowledge_dir())
_RULES = load_rules(default_rules_dir(), _K)
SPECS = field_specs(_K)

EQUIPMENT: tuple[str, ...] = tuple(_K.equipment)
CONDITIONS: tuple[str, ...] = tuple(_K.conditions)
SCREENING: tuple[str, ...] = tuple(_K.screening)
GOALS: tuple[str, ...] = tuple(_K.goals)
EXPERIENCE: tuple[str, ...] = tuple(str(v) for v in SPECS["experience"].values)
PAIN_STATUSES: tuple[str, ...] = tuple(str(v) for v in SPECS["pain.status"].values)
NO_PAIN = "none"  # SPEC.md: status "none" forces intensity 0
assert NO_PAIN in PAIN_STATUSES, PAIN_STATUSES


def _declared_conditions() -> list[Condition]:
    declared = [o.premise for o in obligations(_K)] + [o.premise for o in programme_obligations(_K)]
    return declared + [item.rule.when for item in _RULES.rules]


@cache
def thresholds(field: str) -> tuple[int, ...]:
    """Each integer a declaration or rule compares ``field`` with, and its neighbours, within the field's range."""
    spec = SPECS[field]
    found: set[int] = set()
    for cond in _declared_conditions():
        for leaf in cond.leaves():
            if leaf.target() != field or leaf.op not in ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in"):
                continue
            operands = leaf.operand if isinstance(leaf.operand, tuple) else (leaf.operand,)
            for value in operands:
                if isinstance(value, int) and not isinstance(value, bool):
                    found.update((value - 1, value, value + 1))
    return tuple(sorted(v for v in found if spec.minimum <= v <= spec.maximum))


@cache
def integers(field: str, at_least: int | None = None) -> st.SearchStrategy[int]:
    """Any value of an integer field, half of the time one at a declared threshold."""
    spec = SPECS[field]
    low = spec.minimum if at_least is None else max(spec.minimum, at_least)
    whole = st.integers(low, spec.maximum)
    edges = [v for v in thresholds(field) if v >= low]
    return st.one_of(whole, st.sampled_from(edges)) if edges else whole


@cache
def _rate(rate: float) -> st.SearchStrategy[bool]:
    """True with probability ``rate``; shrinks to False."""
    percent = round(rate * 100)
    return st.integers(0, 99).map(lambda n: n >= 100 - percent)


@st.composite
def startback(draw: st.DrawFn) -> dict[str, int]:
    """STarT Back scores: distress within 0..5 and never above the total."""
    distress = draw(integers("startback.distress"))
    total = draw(integers("startback.total", at_least=distress))
    return {"total": total, "distress": distress}


@st.composite
def answers(
    draw: st.DrawFn, red_flag_rate: float = 0.1, *, startback_rate: float = 0.3, goal_rate: float = 0.9
) -> dict[str, Any]:
    """Valid answers: every question from the knowledge answered, ``goal`` and ``[startback]`` optional.

    ``red_flag_rate``: the chance that each screening question is answered yes.
    """
    status = draw(st.sampled_from(PAIN_STATUSES))
    intensity = 0 if status == NO_PAIN else draw(integers("pain.intensity"))
    data: dict[str, Any] = {
        "age": draw(integers("age")),
        "experience": draw(st.sampled_from(EXPERIENCE)),
        "active": draw(st.booleans()),
    }
    if draw(_rate(goal_rate)):  # optional: "general" when left out
        data["goal"] = draw(st.sampled_from(GOALS))
    data["equipment"] = draw(st.lists(st.sampled_from(EQUIPMENT), unique=True))
    data["conditions"] = draw(st.lists(st.sampled_from(CONDITIONS), unique=True, max_size=3))
    data["pain"] = {"status": status, "intensity": intensity, "radiates_to_leg": draw(st.booleans())}
    data["screening"] = {q: draw(_rate(red_flag_rate)) for q in SCREENING}
    if draw(_rate(startback_rate)):
        data["startback"] = draw(startback())
    return data


# --- answers that satisfy a declared premise ------------------------------------------------------------


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    head, _, tail = path.partition(".")
    if head == "startback":
        scores = data.setdefault("startback", {"total": 0, "distress": 0})
        if tail == "given":
            if not value:
                del data["startback"]
            return
        scores[tail] = value
    elif tail:
        data[head][tail] = value
    else:
        data[head] = value


def _one_field_fact(path: str, value: Any) -> dict[str, Any]:
    fact: dict[str, Any] = {}
    node = fact
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return fact


def _satisfy(draw: st.DrawFn, data: dict[str, Any], cond: Condition) -> None:
    """Change ``data`` so that each leaf on the way to a satisfying branch holds (``not``/``none`` left alone)."""
    if cond.all is not None:
        for child in cond.all:
            _satisfy(draw, data, child)
    elif cond.any is not None:
        _satisfy(draw, data, draw(st.sampled_from(cond.any)))
    elif cond.field is not None:
        if cond.op == "contains":
            if cond.contains not in data[cond.field]:
                data[cond.field] = [*data[cond.field], cond.contains]
            return
        spec = SPECS[cond.field]
        fitting = [v for v in spec.values if cond.holds(_one_field_fact(cond.field, v))]
        if fitting:
            _set(data, cond.field, draw(st.sampled_from(fitting)))


def _repair(data: dict[str, Any]) -> None:
    """Make forced answers valid again: no intensity without pain, distress never above the total."""
    if data["pain"]["status"] == NO_PAIN:
        data["pain"]["intensity"] = 0
    scores: Mapping[str, int] | None = data.get("startback")
    if scores is not None and scores["distress"] > scores["total"]:
        data["startback"] = {"total": scores["distress"], "distress": scores["distress"]}


@st.composite
def answers_where(draw: st.DrawFn, premise: Condition, red_flag_rate: float = 0.1) -> dict[str, Any]:
    """Valid answers changed so that ``premise`` holds (callers ``assume`` it for the rare conflict)."""
    data = draw(answers(red_flag_rate))
    _satisfy(draw, data, premise)
    _repair(data)
    return data
