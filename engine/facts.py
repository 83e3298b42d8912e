"""The facts rules can see: which fields exist, what values they take, and the fact built from an intake.

List answers (equipment, conditions) become one boolean per vocabulary entry (``conditions.scoliosis``)
so that membership and its negation are plain comparisons: no list operators, no empty-list traps.
Later stages also see ``programme`` (chosen by the route stage) and ``derived.<name>`` facts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, NamedTuple

from .intake import Intake
from .knowledge import LEVELS, PAIN_STATUSES, Knowledge
from .pipeline import PIPELINE

STAGES: tuple[str, ...] = tuple(spec.name for spec in PIPELINE)
Stage = Literal["screen", "route", "select"]
NO_PROGRAMME = "none"

Scalar = bool | int | str


class FieldSpec(NamedTuple):
    """One field a rule condition may name."""

    name: str
    kind: Literal["int", "bool", "enum"]
    values: tuple[Scalar, ...]  # every value the field can take (ints: the whole range)
    # The earliest stage that may read it (programme and derived facts are made by earlier stages).
    first_stage: Stage = "screen"

    @property
    def minimum(self) -> int:
        return int(min(v for v in self.values if isinstance(v, int)))

    @property
    def maximum(self) -> int:
        return int(max(v for v in self.values if isinstance(v, int)))


def field_specs(knowledge: Knowledge, derived: Mapping[str, Stage] | None = None) -> dict[str, FieldSpec]:
    """Every field, given the knowledge and the derived facts (name -> stage that derives it)."""
    specs: dict[str, FieldSpec] = {}

    def add(spec: FieldSpec) -> None:
        specs[spec.name] = spec

    add(FieldSpec("age", "int", tuple(range(16, 101))))
    add(FieldSpec("experience", "enum", LEVELS))
    add(FieldSpec("active", "bool", (False, True)))
    add(FieldSpec("goal", "enum", tuple(knowledge.goals)))
    add(FieldSpec("pain.status", "enum", PAIN_STATUSES))
    add(FieldSpec("pain.intensity", "int", tuple(range(0, 11))))
    add(FieldSpec("pain.radiates_to_leg", "bool", (False, True)))
    # STarT Back is optional: without scores ``given`` is false and both scores read 0.
    add(FieldSpec("startback.given", "bool", (False, True)))
    add(FieldSpec("startback.total", "int", tuple(range(0, 10))))
    add(FieldSpec("startback.distress", "int", tuple(range(0, 6))))
    for question in knowledge.screening:
        add(FieldSpec(f"screening.{question}", "bool", (False, True)))
    for item in knowledge.equipment:
        add(FieldSpec(f"equipment.{item}", "bool", (False, True)))
    for item in knowledge.conditions:
        add(FieldSpec(f"conditions.{item}", "bool", (False, True)))
    add(FieldSpec("programme", "enum", (NO_PROGRAMME, *knowledge.programmes), first_stage="select"))
    for name, stage in sorted((derived or {}).items()):
        later = STAGES[min(STAGES.index(stage) + 1, len(STAGES) - 1)]
        add(FieldSpec(f"derived.{name}", "bool", (False, True), first_stage=later))  # type: ignore[arg-type]
    return specs


LIST_FIELDS: tuple[str, ...] = ("equipment", "conditions")


def intake_fact(intake: Intake, knowledge: Knowledge) -> dict[str, Any]:
    """The fact asserted for the screen stage: nested dicts, addressed by dotted paths in rules."""
    owned, conditions = set(intake.equipment), set(intake.conditions)
    return {
        "age": intake.age,
        "experience": intake.experience,
        "active": intake.active,
        "goal": intake.goal,
        "equipment": {item: item in owned for item in knowledge.equipment},
        "conditions": {item: item in conditions for item in knowledge.conditions},
        "pain": intake.pain.model_dump(),
        "screening": dict(intake.screening),
        "startback": {
            "given": intake.startback is not None,
            "total": intake.startback.total if intake.startback else 0,
            "distress": intake.startback.distress if intake.startback else 0,
        },
    }


def stage_fact(
    base: Mapping[str, Any], programme: str | None, derived: Iterable[str], all_derived: Iterable[str]
) -> dict[str, Any]:
    """The fact for a later stage: the intake plus what earlier stages decided (all derived names present)."""
    have = set(derived)
    fact = dict(base)
    fact["programme"] = programme or NO_PROGRAMME
    fact["derived"] = {name: name in have for name in sorted(all_derived)}
    return fact


def reader(path: str) -> Callable[[Mapping[str, Any]], Any]:
    """``lookup(fact, path)`` with the path split once (hot paths read the same fields for every plan)."""
    parts = tuple(path.split("."))
    if len(parts) == 1:
        (key,) = parts
        return lambda fact: fact[key]
    if len(parts) == 2:
        outer, inner = parts
        return lambda fact: fact[outer][inner]

    def read(fact: Mapping[str, Any]) -> Any:
        value: Any = fact
        for part in parts:
            value = value[part]
        return value

    return read
