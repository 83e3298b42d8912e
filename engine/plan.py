"""The plan: the engine's output, shaped exactly as SPEC.md's plan JSON (plus documented extras)."""

# Annotations are objects here, not strings (no ``from __future__ import annotations``): pydantic would
# otherwise compile each field's annotation from its text at every start (docs/performance.md).

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from .ruleset import WarningLevel

Outcome = Literal["clear", "consult", "stop"]

_Model = TypeVar("_Model", bound="_Out")
# Each model's field names in declaration order, and as the set every model of it has set (copied).
_FIELDS: dict[type[BaseModel], tuple[tuple[str, ...], set[str]]] = {}
_new, _set = object.__new__, object.__setattr__  # (BaseModel defines neither)


class _Out(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    @classmethod
    def trusted(cls: type[_Model], **values: Any) -> _Model:
        """The model of values the engine made itself out of validated data, without validating them again:
        for the plan's parts only, every field given, in declaration order, and of its declared type.

        A plan is some fifty models, and validating what was valid by construction cost a sixth of a
        plan. This is what pydantic's ``model_construct`` does for these models (they have no alias,
        default used, private attribute or post-init hook), without its search for aliases and defaults,
        which makes it slower than validating. tests/test_plan_inputs.py checks that plans equal their
        validated round trip."""
        known = _FIELDS.get(cls)
        if known is None:
            known = _FIELDS.setdefault(cls, (tuple(cls.model_fields), set(cls.model_fields)))
        names, fields_set = known
        if tuple(values) != names:
            raise TypeError(f"{cls.__name__}.trusted takes exactly, in order: {', '.join(names)}")
        model = _new(cls)
        _set(model, "__dict__", values)
        _set(model, "__pydantic_fields_set__", fields_set.copy())
        _set(model, "__pydantic_extra__", None)
        _set(model, "__pydantic_private__", None)
        return model


class Reason(_Out):
    rule: str
    message: str


class Screen(_Out):
    outcome: Outcome
    reasons: tuple[Reason, ...]


class PlanWarning(_Out):
    """A warning in the plan (not Python's ``Warning``): which rule, how serious, what to do."""

    rule: str
    level: WarningLevel
    message: str
    source: str


class PlannedExercise(_Out):
    id: str
    name: str
    block: Literal["warm_up", "main", "cool_down"]
    equipment: tuple[str, ...]
    sets: int
    reps: str | None
    hold_seconds: int | None
    rest_seconds: int
    because: tuple[str, ...]
    dosed_by: tuple[str, ...]
    steps: tuple[str, ...]
    # What to watch for, for this person: the catalogue's notes chosen by the answers (conditions, pain,
    # screening answers and the facts the rules derived from them).
    cautions: tuple[str, ...]
    # Why it is in the plan, in words: the reasons of the rules that included it (``because`` has their ids).
    why: tuple[str, ...]
    source: str


class Session(_Out):
    name: str
    exercises: tuple[PlannedExercise, ...]
    stretch_minutes: int | None


class Exclusion(_Out):
    id: str
    because: tuple[Reason, ...]


class TraceEntry(_Out):
    rule: str
    stage: str
    priority: int
    title: str
    source: str
    file: str
    matched: dict[str, Any]
    effects: tuple[str, ...]


class Provenance(_Out):
    engine_version: str
    rules_digest: str
    knowledge_digest: str


class Plan(_Out):
    screen: Screen
    programme: str | None
    sessions_per_week: str | None
    warnings: tuple[PlanWarning, ...]
    sessions: tuple[Session, ...]
    excluded: tuple[Exclusion, ...]
    derived: tuple[str, ...]
    trace: tuple[TraceEntry, ...]
    intake: dict[str, Any]  # the validated answers the plan was made from (SPEC.md)
    provenance: Provenance

    def exercise_ids(self) -> list[str]:
        return [ex.id for session in self.sessions for ex in session.exercises]

    def to_json(self) -> str:
        """Canonical JSON: fixed key order, two-space indent, no clock time; identical input, identical bytes."""
        return self.model_dump_json(indent=2) + "\n"
