"""The answers file: parsed from TOML or JSON, validated strictly against SPEC.md and the vocabularies.

Strict on purpose: unknown keys are rejected (a misspelt screening answer must never be dropped
silently), every screening question must be answered with a real boolean, and ids are checked
against ``knowledge/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from ._tomlio import decode_text, parse_json_object, parse_toml, pydantic_to_error, read_bytes, toml_value
from .errors import IntakeError, closest
from .knowledge import Knowledge

PainStatus = Literal["none", "acute", "subacute", "chronic"]
Experience = Literal["beginner", "intermediate", "advanced"]


class _Strict(BaseModel):
    # Lax containers (TOML/JSON give lists) but strict scalars: no "35" -> 35, no 1 -> True.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Pain(_Strict):
    status: PainStatus
    intensity: StrictInt = Field(ge=0, le=10)
    radiates_to_leg: StrictBool


class Intake(_Strict):
    """A validated set of answers. Lists are normalised (unique, sorted) so equal answers compare equal."""

    age: StrictInt = Field(ge=16, le=100)
    experience: Experience
    goal: str = "general"
    equipment: tuple[str, ...]
    conditions: tuple[str, ...]
    pain: Pain
    screening: dict[str, StrictBool]

    def to_answers(self) -> dict[str, Any]:
        """The answers as plain data, in SPEC.md's key order (round-trips through ``parse_intake``)."""
        return {
            "age": self.age,
            "experience": self.experience,
            "goal": self.goal,
            "equipment": list(self.equipment),
            "conditions": list(self.conditions),
            "pain": self.pain.model_dump(),
            "screening": dict(self.screening),
        }


def parse_intake(data: Any, knowledge: Knowledge, *, file: str = "<answers>") -> Intake:
    """Validate an answers mapping (already parsed from TOML or JSON)."""
    if not isinstance(data, Mapping):
        raise IntakeError(f"expected a table/object of answers, got {type(data).__name__}", file=file)
    if not data:
        raise IntakeError("no answers (the file is empty)", file=file)
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
    for answer in intake.screening:
        if answer not in knowledge.screening:
            raise IntakeError(
                "unknown screening question",
                file=file,
                location=f"screening.{answer}",
                suggestion=closest(answer, knowledge.screening),
            )
    for question in knowledge.screening:
        if question not in intake.screening:
            raise IntakeError(
                "is required: every screening question must be answered true or false",
                file=file,
                location=f"screening.{question}",
            )
    return intake.model_copy(
        update={
            "equipment": tuple(sorted(set(intake.equipment))),
            "conditions": tuple(sorted(set(intake.conditions))),
            # Knowledge order, so serialisation never depends on the order keys were typed in.
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
        return parse_json_object(text, file, IntakeError)
    return parse_toml(text, file, IntakeError)


def load_intake(path: Path, knowledge: Knowledge) -> Intake:
    """Read, parse and validate an answers file."""
    file = str(path)
    raw = read_bytes(Path(path), IntakeError)
    text = decode_text(raw, file, IntakeError)
    return parse_intake(parse_answers_text(text, file=file), knowledge, file=file)


def intake_to_toml(intake: Intake, knowledge: Knowledge | None = None) -> str:
    """An answers file in SPEC.md's layout; with ``knowledge`` each screening answer carries its question."""
    data = intake.to_answers()
    lines = [f"{key} = {toml_value(data[key])}" for key in ("age", "experience", "goal", "equipment", "conditions")]
    lines += ["", "[pain]"]
    lines += [f"{key} = {toml_value(value)}" for key, value in data["pain"].items()]
    lines += ["", "[screening]"]
    for key, value in data["screening"].items():
        line = f"{key} = {toml_value(value)}"
        if knowledge is not None and key in knowledge.screening:
            line += "  # " + " ".join(knowledge.screening[key].text.split())
        lines.append(line)
    return "\n".join(lines) + "\n"
