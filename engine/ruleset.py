"""Rule files: their schema, loading, and the checks that make a rule set safe to use.

A rule file is TOML with one or more ``[[rule]]`` tables. A rule's effects (``then``) are a small
closed set of actions; nothing in a rule file can run code. Loading validates the schema (pydantic)
and every reference against the knowledge base, and raises ``RuleError`` naming the file, the rule
and the closest valid name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from ._tomlio import folder_digest, load_toml_file, pydantic_to_error
from .conditions import Condition
from .errors import RuleError, closest
from .facts import STAGES, FieldSpec, Stage, field_specs
from .knowledge import ID_PATTERN, Knowledge

WarningLevel = Literal["info", "caution", "consult", "urgent"]
LEVEL_ORDER: tuple[str, ...] = ("urgent", "consult", "caution", "info")


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stop(_Action):
    """No plan: say what to do instead."""

    action: Literal["stop"]
    level: Literal["urgent", "consult"]
    message: StrictStr = Field(min_length=10)


class Warn(_Action):
    action: Literal["warn"]
    level: WarningLevel
    message: StrictStr = Field(min_length=10)


class _Selector(_Action):
    exercises: tuple[StrictStr, ...] = ()
    tags: tuple[StrictStr, ...] = ()
    categories: tuple[Literal["mobility", "stabilisation", "strength"], ...] = ()
    reason: StrictStr = Field(min_length=5)

    @model_validator(mode="after")
    def _selects_something(self) -> _Selector:
        if not (self.exercises or self.tags or self.categories):
            raise ValueError("select at least one of: exercises, tags, categories")
        return self


class Exclude(_Selector):
    action: Literal["exclude"]


class Include(_Selector):
    """Make exercises eligible for the plan; ``prefer`` ranks them first in their block."""

    action: Literal["include"]
    prefer: StrictBool = False


class ChooseProgramme(_Action):
    action: Literal["programme"]
    programme: StrictStr


class Derive(_Action):
    """Set ``derived.<fact>`` to true for later stages."""

    action: Literal["derive"]
    fact: StrictStr = Field(pattern=ID_PATTERN)


class Prescribe(_Action):
    """Dosage for exercises of the given categories; later rules override earlier ones field by field."""

    action: Literal["prescribe"]
    categories: tuple[Literal["mobility", "stabilisation", "strength"], ...] = Field(min_length=1)
    sets: StrictInt | None = Field(default=None, ge=1, le=10)
    reps: StrictStr | None = Field(default=None, pattern=r"^\d{1,3}(-\d{1,3})?$")
    rest_seconds: StrictInt | None = Field(default=None, ge=0, le=600)

    @model_validator(mode="after")
    def _sets_something(self) -> Prescribe:
        if self.sets is None and self.reps is None and self.rest_seconds is None:
            raise ValueError("prescribe at least one of: sets, reps, rest_seconds")
        return self


class Limit(_Action):
    """Caps applied after prescriptions (to the given categories, default all); limits combine to the strictest."""

    action: Literal["limit"]
    categories: tuple[Literal["mobility", "stabilisation", "strength"], ...] = ("mobility", "stabilisation", "strength")
    max_sets: StrictInt | None = Field(default=None, ge=1, le=10)
    min_rest_seconds: StrictInt | None = Field(default=None, ge=0, le=600)
    reason: StrictStr = Field(min_length=5)

    @model_validator(mode="after")
    def _limits_something(self) -> Limit:
        if self.max_sets is None and self.min_rest_seconds is None:
            raise ValueError("limit at least one of: max_sets, min_rest_seconds")
        return self


Action = Annotated[
    Stop | Warn | Exclude | Include | ChooseProgramme | Derive | Prescribe | Limit,
    Field(discriminator="action"),
]
ACTION_NAMES: tuple[str, ...] = ("stop", "warn", "exclude", "include", "programme", "derive", "prescribe", "limit")
# Which stages each action may be used in: the pipeline only reads them there.
ACTION_STAGES: dict[str, tuple[str, ...]] = {
    "stop": ("screen",),
    "warn": STAGES,
    "exclude": STAGES,
    "include": ("route", "select"),
    "programme": ("route",),
    "derive": ("screen", "route"),
    "prescribe": ("route", "select"),
    "limit": STAGES,
}


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: StrictStr = Field(pattern=ID_PATTERN, max_length=80)
    title: StrictStr = Field(min_length=5)
    rationale: StrictStr = Field(min_length=10)
    source: StrictStr
    stage: Stage
    priority: StrictInt = Field(ge=0, le=1000, description="lower fires first")
    when: Condition
    then: tuple[Action, ...] = Field(min_length=1)


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: tuple[Rule, ...] = Field(min_length=1)


@dataclass(frozen=True)
class LoadedRule:
    rule: Rule
    file: str

    @property
    def id(self) -> str:
        return self.rule.id

    @property
    def order_key(self) -> tuple[int, int, str]:
        return (STAGES.index(self.rule.stage), self.rule.priority, self.rule.id)


@dataclass(frozen=True)
class RuleSet:
    """Every rule, ordered by (stage, priority, id), with the fields they may read."""

    root: str
    digest: str
    rules: tuple[LoadedRule, ...]
    fields: Mapping[str, FieldSpec]
    derived: Mapping[str, Stage]

    def by_id(self) -> dict[str, LoadedRule]:
        return {r.id: r for r in self.rules}

    def stage(self, stage: str) -> list[LoadedRule]:
        return [r for r in self.rules if r.rule.stage == stage]


def rules_digest(root: Path) -> str:
    return folder_digest(root)


def _rule_label(raw: object, index: int) -> str | None:
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        return str(raw["id"])
    return None


def read_rule_files(root: Path) -> list[LoadedRule]:
    """Parse and schema-validate every ``*.toml`` under ``root`` (no cross-checks yet)."""
    root = Path(root)
    if not root.is_dir():
        raise RuleError("rules folder not found", file=str(root))
    files = sorted(p for p in root.rglob("*.toml") if p.is_file())
    if not files:
        raise RuleError("no rule files (*.toml) found", file=str(root))
    loaded: list[LoadedRule] = []
    for path in files:
        data = load_toml_file(path, RuleError)
        if set(data) != {"rule"}:
            extra = sorted(set(data) - {"rule"})
            name = extra[0] if extra else "rule"
            raise RuleError(
                f"expected only [[rule]] tables, found '{name}'" if extra else "no [[rule]] tables",
                file=str(path),
                suggestion=closest(name, ["rule"]) if extra else None,
            )
        raw_rules = data["rule"] if isinstance(data["rule"], list) else [data["rule"]]
        for index, raw in enumerate(raw_rules):
            label = _rule_label(raw, index)
            try:
                rule = Rule.model_validate(raw)
            except ValidationError as exc:
                raise pydantic_to_error(
                    exc,
                    model=Rule,
                    file=str(path),
                    error=RuleError,
                    rule=label,
                    prefix="" if label else f"rule[{index}]",
                ) from None
            loaded.append(LoadedRule(rule, str(path)))
    return loaded


def load_rules(root: Path, knowledge: Knowledge) -> RuleSet:
    """Load every rule file and check it against the knowledge; raises ``RuleError`` on the first defect."""
    root = Path(root)
    loaded = read_rule_files(root)
    seen: dict[str, LoadedRule] = {}
    for item in loaded:
        if item.id in seen:
            raise RuleError(f"duplicate rule id (first defined in {seen[item.id].file})", file=item.file, rule=item.id)
        seen[item.id] = item
    derived = _derived_facts(loaded)
    fields = field_specs(knowledge, derived)
    for item in loaded:
        _check_rule(item, knowledge, fields)
    ordered = tuple(sorted(loaded, key=lambda r: r.order_key))
    return RuleSet(root=str(root), digest=rules_digest(root), rules=ordered, fields=fields, derived=derived)


def _derived_facts(loaded: Sequence[LoadedRule]) -> dict[str, Stage]:
    """Each derived fact and the earliest stage that derives it."""
    out: dict[str, Stage] = {}
    for item in sorted(loaded, key=lambda r: r.order_key):
        for action in item.rule.then:
            if isinstance(action, Derive) and action.fact not in out:
                out[action.fact] = item.rule.stage
    return out


def _fail(item: LoadedRule, message: str, location: str, suggestion: str | None = None) -> RuleError:
    return RuleError(message, file=item.file, rule=item.id, location=location, suggestion=suggestion)


def _check_rule(item: LoadedRule, knowledge: Knowledge, fields: Mapping[str, FieldSpec]) -> None:
    rule = item.rule
    if rule.source not in knowledge.sources:
        raise _fail(item, f"unknown source '{rule.source}'", "source", closest(rule.source, knowledge.sources))
    for leaf in rule.when.leaves():
        _check_leaf(item, leaf, fields, knowledge)
    for index, action in enumerate(rule.then):
        where = f"then[{index}]"
        if rule.stage not in ACTION_STAGES[action.action]:
            allowed = ", ".join(ACTION_STAGES[action.action])
            raise _fail(
                item, f"action '{action.action}' is not allowed in stage '{rule.stage}' (only: {allowed})", where
            )
        if isinstance(action, (Exclude, Include)):
            for ex in action.exercises:
                if ex not in knowledge.exercises:
                    raise _fail(
                        item, f"unknown exercise '{ex}'", f"{where}.exercises", closest(ex, knowledge.exercises)
                    )
            for tag in action.tags:
                if tag not in knowledge.tags:
                    raise _fail(item, f"unknown tag '{tag}'", f"{where}.tags", closest(tag, knowledge.tags))
            if isinstance(action, Include):
                never = [ex for ex in action.exercises if knowledge.exercises[ex].never_recommend]
                if never:
                    raise _fail(
                        item, f"includes '{never[0]}', which the catalogue marks never-recommend", f"{where}.exercises"
                    )
        if isinstance(action, ChooseProgramme) and action.programme not in knowledge.programmes:
            raise _fail(
                item,
                f"unknown programme '{action.programme}'",
                f"{where}.programme",
                closest(action.programme, knowledge.programmes),
            )


def _check_leaf(item: LoadedRule, leaf: Condition, fields: Mapping[str, FieldSpec], knowledge: Knowledge) -> None:
    assert leaf.field is not None
    where = f"when: {leaf.field}"
    op = leaf.op
    if op == "contains":
        if leaf.field not in ("equipment", "conditions"):
            raise _fail(
                item,
                "'contains' works on equipment or conditions",
                where,
                closest(leaf.field, ["equipment", "conditions"]),
            )
        target = leaf.target()
        if target not in fields:
            vocab = knowledge.equipment if leaf.field == "equipment" else knowledge.conditions
            raise _fail(
                item,
                f"unknown {'condition' if leaf.field == 'conditions' else 'equipment'} id '{leaf.contains}'",
                where,
                closest(str(leaf.contains), vocab),
            )
        spec = fields[target]
    else:
        if leaf.field not in fields:
            if leaf.field.startswith("derived."):
                raise _fail(
                    item,
                    "no rule derives this fact",
                    where,
                    closest(leaf.field, [f for f in fields if f.startswith("derived.")]),
                )
            raise _fail(item, "unknown field", where, closest(leaf.field, fields))
        spec = fields[leaf.field]
    if STAGES.index(item.rule.stage) < STAGES.index(spec.first_stage):
        raise _fail(
            item,
            f"field '{spec.name}' is only known from stage '{spec.first_stage}' on "
            f"(this rule is in '{item.rule.stage}')",
            where,
        )
    if op == "contains":
        return
    operand = leaf.operand
    values = operand if isinstance(operand, tuple) else (operand,)
    if op in ("lt", "lte", "gt", "gte") and spec.kind != "int":
        raise _fail(item, f"'{op}' needs a number field, '{spec.name}' is {spec.kind}", where)
    for value in values:
        if spec.kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise _fail(item, f"'{spec.name}' is a number, got {value!r}", where)
        if spec.kind == "bool" and (not isinstance(value, bool)):
            raise _fail(item, f"'{spec.name}' is true or false, got {value!r}", where)
        if spec.kind == "enum" and value not in spec.values:
            raise _fail(
                item,
                f"'{value}' is not a value of '{spec.name}' (one of: {', '.join(map(str, spec.values))})",
                where,
                closest(str(value), [str(v) for v in spec.values]),
            )
    # A comparison that no value of the field satisfies can never hold (e.g. intensity > 10).
    from .conditions import _compare

    satisfiable = any(_compare(op, v, operand) for v in spec.values)
    if not satisfiable:
        raise _fail(
            item,
            f"condition '{leaf.describe()}' can never hold ({spec.name} is {spec.minimum}..{spec.maximum})"
            if spec.kind == "int"
            else f"condition '{leaf.describe()}' can never hold",
            where,
        )
