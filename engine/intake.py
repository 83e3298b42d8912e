"""The answers file: parsed from TOML or JSON, validated strictly against SPEC.md and the vocabularies.

Strict on purpose: unknown keys are rejected (a misspelt screening answer must never be dropped
silently), every screening question must be answered with a real boolean, and ids are checked
against ``knowledge/``.
"""

# Annotations are objects here, not strings (no ``from __future__ import annotations``): pydantic would
# otherwise compile each field's annotation from its text at every start (docs/performance.md).

from collections.abc import Collection, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, model_validator
from typing_extensions import Self

from ._tomlio import (
    check_shape,
    decode_text,
    parse_json_object,
    parse_toml,
    pydantic_to_error,
    read_bytes,
    toml_value,
)
from .errors import IntakeError, closest, shown
from .knowledge import Knowledge

PainStatus = Literal["none", "acute", "subacute", "chronic"]
Experience = Literal["beginner", "intermediate", "advanced"]


class _Strict(BaseModel):
    # Lax containers (TOML/JSON give lists) but strict scalars: no "35" -> 35, no 1 -> True.
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class Pain(_Strict):
    status: PainStatus
    intensity: StrictInt = Field(ge=0, le=10)
    radiates_to_leg: StrictBool

    @model_validator(mode="after")
    def _no_pain_no_intensity(self) -> Self:
        if self.status == "none" and self.intensity != 0:
            raise ValueError(f"intensity must be 0 when status is 'none', got {self.intensity}")
        return self


class Startback(_Strict):
    """Scores from the Keele STarT Back Tool, given by a clinician (the items themselves are licensed)."""

    total: StrictInt = Field(ge=0, le=9)
    distress: StrictInt = Field(ge=0, le=5, description="the psychosocial subscale, items 5-9")

    @model_validator(mode="after")
    def _subscale_within_total(self) -> Self:
        if self.distress > self.total:
            raise ValueError(f"distress ({self.distress}) cannot exceed total ({self.total})")
        return self


class Intake(_Strict):
    """A validated set of answers. Lists are normalised (unique, sorted) so equal answers compare equal."""

    age: StrictInt = Field(ge=16, le=100)
    experience: Experience
    active: StrictBool
    goal: str = "general"
    equipment: tuple[str, ...]
    conditions: tuple[str, ...]
    pain: Pain
    screening: dict[str, StrictBool]
    startback: Startback | None = None

    def to_answers(self) -> dict[str, Any]:
        """The answers as plain data, in SPEC.md's key order (round-trips through ``parse_intake``)."""
        out: dict[str, Any] = {
            "age": self.age,
            "experience": self.experience,
            "active": self.active,
            "goal": self.goal,
            "equipment": list(self.equipment),
            "conditions": list(self.conditions),
            "pain": self.pain.model_dump(),
            "screening": dict(self.screening),
        }
        if self.startback is not None:
            out["startback"] = self.startback.model_dump()
        return out


# The baseline person: the answers a scenario, an example or a counterexample does not state. Screening
# answers are not listed: every question the knowledge asks is "no", so a new question needs no edit.
BASELINE: Mapping[str, Any] = MappingProxyType(
    {
        "age": 35,
        "experience": "beginner",
        "active": True,
        "goal": "general",
        "equipment": (),
        "conditions": (),
        "pain": MappingProxyType({"status": "none", "intensity": 0, "radiates_to_leg": False}),
    }
)


def baseline_answers(knowledge: Knowledge) -> dict[str, Any]:
    """The answers of the baseline person, a complete answers mapping (fresh lists and tables each call).

    35 years old, beginner, active, goal general, no equipment, no condition, no back pain, every
    screening question in ``knowledge`` answered false, no STarT Back scores.
    """
    out: dict[str, Any] = {}
    for key, value in BASELINE.items():
        out[key] = dict(value) if isinstance(value, Mapping) else list(value) if isinstance(value, tuple) else value
    out["screening"] = {question: False for question in knowledge.screening}
    return out


# Answers every file must give (besides one per screening question); ``goal`` and ``startback`` are optional.
REQUIRED_TOP: tuple[str, ...] = ("age", "experience", "active", "equipment", "conditions", "pain", "screening")
REQUIRED_PAIN: tuple[str, ...] = ("status", "intensity", "radiates_to_leg")


def missing_answers(data: Mapping[str, Any], knowledge: Knowledge) -> list[str]:
    """Every answer ``data`` lacks, as dotted keys in questionnaire order (a version-1 file lacks some)."""
    missing = [key for key in REQUIRED_TOP if key not in data and key not in ("pain", "screening")]
    pain = data.get("pain")
    if isinstance(pain, Mapping):
        missing += [f"pain.{key}" for key in REQUIRED_PAIN if key not in pain]
    elif pain is None:
        missing += [f"pain.{key}" for key in REQUIRED_PAIN]
    screening = data.get("screening")
    if isinstance(screening, Mapping):
        missing += [f"screening.{q}" for q in knowledge.screening if q not in screening]
    elif screening is None:
        missing += [f"screening.{q}" for q in knowledge.screening]
    return missing


# The keys each table of an answers file may have (the screening table's: the knowledge's questions).
_TOP_KEYS = frozenset(Intake.model_fields)
_PAIN_KEYS = frozenset(Pain.model_fields)
_STARTBACK_KEYS = frozenset(Startback.model_fields)


def _unknown_keys(data: Mapping[str, Any], knowledge: Knowledge, file: str) -> None:
    tables: list[tuple[str, Mapping[str, Any], Collection[str]]] = [("", data, _TOP_KEYS)]
    known: Collection[str]
    for name, known in (("pain", _PAIN_KEYS), ("screening", knowledge.screening)):
        if isinstance(data.get(name), Mapping):
            tables.append((name + ".", data[name], known))
    if isinstance(data.get("startback"), Mapping):
        tables.append(("startback.", data["startback"], _STARTBACK_KEYS))
    for prefix, table, known in tables:
        for key in table:
            if key not in known:
                what = "unknown screening question" if prefix == "screening." else "unknown key"
                raise IntakeError(what, file=file, location=prefix + shown(str(key)), suggestion=closest(key, known))


def parse_intake(data: Any, knowledge: Knowledge, *, file: str = "<answers>", resumable: bool = True) -> Intake:
    """Validate an answers mapping (already parsed from TOML or JSON).

    ``resumable``: ``file`` is an answers file that ``backplan intake --resume`` could complete (not a
    line of a batch, a scenario or a request), so a missing-answers error says how."""
    if not isinstance(data, Mapping):
        raise IntakeError(f"expected a table/object of answers, got {type(data).__name__}", file=file)
    if not data:
        raise IntakeError("no answers (the file is empty)", file=file)
    _unknown_keys(data, knowledge, file)  # a misspelt key says "did you mean", not "missing"
    missing = missing_answers(data, knowledge)
    if missing:
        # One line naming every missing key: a version-1 file, or one saved part-way, is never guessed at.
        hint = f" (answer them with: backplan intake --resume {file})" if resumable else ""
        raise IntakeError(
            f"{len(missing)} answer{'s' if len(missing) != 1 else ''} missing: {', '.join(missing)}{hint}",
            file=file,
        )
    try:
        intake = Intake.model_validate(dict(data))
    except ValidationError as exc:
        raise pydantic_to_error(exc, model=Intake, file=file, error=IntakeError) from None
    return _check_vocabularies(intake, knowledge, file)


def _check_vocabularies(intake: Intake, knowledge: Knowledge, file: str) -> Intake:
    if intake.goal not in knowledge.goals:
        raise IntakeError(
            f"unknown goal '{intake.goal}' (one of: {', '.join(knowledge.goals)})",
            file=file,
            location="goal",
            suggestion=closest(intake.goal, knowledge.goals),
        )
    for key, vocab in (("equipment", knowledge.equipment), ("conditions", knowledge.conditions)):
        for index, item in enumerate(getattr(intake, key)):
            if item not in vocab:
                what = "equipment" if key == "equipment" else "condition"
                raise IntakeError(
                    f"unknown {what} '{item}'",
                    file=file,
                    location=f"{key}[{index}]",
                    suggestion=closest(item, vocab),
                )
    if not intake.screening.keys() <= knowledge.screening.keys():  # (the first unknown one is named)
        for answer in intake.screening:
            if answer not in knowledge.screening:
                raise IntakeError(
                    "unknown screening question",
                    file=file,
                    location=f"screening.{answer}",
                    suggestion=closest(answer, knowledge.screening),
                )
    equipment = tuple(sorted(set(intake.equipment)))
    conditions = tuple(sorted(set(intake.conditions)))
    # Screening answers in knowledge order, so serialisation never depends on the order keys were typed in
    # (the keys are the knowledge's questions: checked above).
    if (
        equipment == intake.equipment
        and conditions == intake.conditions
        and list(intake.screening) == list(knowledge.screening)
    ):
        return intake  # already in that form (as a plan's own answers are)
    return intake.model_copy(
        update={
            "equipment": equipment,
            "conditions": conditions,
            "screening": {q: intake.screening[q] for q in knowledge.screening},
        }
    )


def parse_answers_text(text: str, *, file: str, fmt: str | None = None) -> Any:
    """Parse answers text as TOML or JSON (by ``fmt``, else by the file name, else by its first character)."""
    if fmt is None:
        lower = file.lower()
        if lower.endswith(".json"):
            fmt = "json"
        elif lower.endswith(".toml"):
            fmt = "toml"
        else:
            fmt = "json" if text.lstrip().startswith("{") else "toml"
    if not text.strip():
        raise IntakeError("no answers (the file is empty)", file=file)
    if fmt == "json":
        return parse_json_object(text, file, IntakeError)  # the same limits, checked while parsing
    check_shape(text, file, IntakeError)
    return parse_toml(text, file, IntakeError)


MAX_ANSWERS_BYTES = 1 << 20  # SPEC: an answers file over 1 MiB is bad input


def load_intake(path: Path, knowledge: Knowledge) -> Intake:
    """Read, parse and validate an answers file."""
    file = str(path)
    raw = read_bytes(Path(path), IntakeError, limit=MAX_ANSWERS_BYTES)
    text = decode_text(raw, file, IntakeError)
    return parse_intake(parse_answers_text(text, file=file), knowledge, file=file)


def intake_to_toml(intake: Intake, knowledge: Knowledge | None = None) -> str:
    """An answers file in SPEC.md's layout; with ``knowledge`` each screening answer carries its question."""
    return answers_to_toml(intake.to_answers(), knowledge)


def answers_to_toml(data: Mapping[str, Any], knowledge: Knowledge | None = None) -> str:
    """Answers (complete or not, e.g. saved part-way through the questionnaire) in SPEC.md's layout."""
    top = ("age", "experience", "active", "goal", "equipment", "conditions")
    lines = [f"{key} = {toml_value(data[key])}" for key in top if key in data]
    for table in ("pain", "screening", "startback"):
        values = data.get(table)
        if not isinstance(values, Mapping):
            continue
        lines += ["", f"[{table}]"]
        group = None
        for key, value in values.items():
            question = knowledge.screening.get(key) if knowledge is not None and table == "screening" else None
            if question is not None and knowledge is not None and question.group != group:
                group = question.group
                lines.append(f"# {knowledge.groups[group].title}")
            line = f"{key} = {toml_value(value)}"
            if question is not None:
                line += "  # " + " ".join(question.short.split())
            lines.append(line)
    return "\n".join(lines) + "\n"
