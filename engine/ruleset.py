"""Rule files: their schema, loading, and the checks that make a rule set safe to use.

A rule file is TOML with one or more ``[[rule]]`` tables. A rule's effects (``then``) are a small
closed set of actions; nothing in a rule file can run code. Loading validates the schema (pydantic)
and every reference against the knowledge base, and raises ``RuleError`` naming the file, the rule
and the closest valid name.

Loading also refuses rules and stages larger than the ``MAX_*`` limits below: beyond what durable_rules
can take it crashes the process, hangs or fails (each measured by bench/durable_limits.py; the table is
in docs/performance.md, "Rule-set limits"), and the limits keep ``rules check`` and every plan fast.
"""

# Annotations are objects here, not strings (no ``from __future__ import annotations``): pydantic would
# otherwise compile each field's annotation from its text at every start (docs/performance.md).

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, NamedTuple, Protocol, TypeVar

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
from typing_extensions import Self

from ._tomlio import folder_digest, load_toml_file, pydantic_to_error
from .compiler import compile_condition, pattern_paths, pattern_shape
from .conditions import Condition
from .errors import RuleError, closest
from .facts import STAGES, FieldSpec, Stage, field_specs
from .knowledge import ID_PATTERN, Exercise, Knowledge

# --- limits on a rule set's shape (docs/performance.md, "Rule-set limits") ---------------------------
# One rule. durable_rules 2.0.28 keeps every path through a rule's network that a fact matches on a
# stack of 64: a condition with 64 alternatives that all hold fails (error 303) and deleting its session
# crashes the process; one with 511 or more hangs it. It stores two expressions per and/or group of a
# rule, at most 31: 16 groups fail to register (error 113). A long "all" works, but costs every plan and
# `rules check` time.
MAX_LEAVES = 200  # comparisons in one condition; an 'in'/'not_in' list counts one per value
MAX_TERMS = 32  # alternatives: terms of the condition written as an 'any' of 'all's (durable: 63)
MAX_GROUPS = 12  # and/or groups of the compiled condition (durable: 15)
MAX_DEPTH = 8  # levels of all/any/none/not
# One stage. durable_host splits a stage into rulesets of at most 60 alternatives; each costs every plan
# a session (about 30 us) and the process about 0.5 MB. A fact of 254 properties fails (error 302).
MAX_STAGE_RULES = 5_000
MAX_STAGE_TERMS = 10_000  # alternatives of all the stage's rules (at most ~350 rulesets)
MAX_STAGE_FIELDS = 200  # fact fields the stage's rules read (durable: 253 properties, nested objects count)
# The whole set: loading and `rules check` cost about 40 us a leaf (on top of about 0.5 ms a rule).
MAX_RULESET_LEAVES = 50_000

WarningLevel = Literal["info", "caution", "consult", "urgent"]
PROGRESSION_DIR = "progression"  # the subfolder of rules/ that read_rule_files leaves to engine.journal
LEVEL_ORDER: tuple[str, ...] = ("urgent", "consult", "caution", "info")


class _Action(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


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
    def _selects_something(self) -> Self:
        if not (self.exercises or self.tags or self.categories):
            raise ValueError("select at least one of: exercises, tags, categories")
        return self

    def selected(self, exercises: Iterable[Exercise]) -> tuple[str, ...]:
        """The ids of the ``exercises`` this action concerns (named, or one of their tags or their category
        listed), in the order given."""
        ids, tags, categories = frozenset(self.exercises), frozenset(self.tags), frozenset(self.categories)
        return tuple(
            ex.id for ex in exercises if ex.id in ids or not tags.isdisjoint(ex.tags) or ex.category in categories
        )


class Exclude(_Selector):
    action: Literal["exclude"]


class Include(_Selector):
    """Make exercises eligible for the plan; ``prefer`` ranks them first in their block."""

    action: Literal["include"]
    prefer: StrictBool = False


class AddCaution(_Selector):
    """A caution shown beside the selected exercises whenever they are planned for this person: what to
    watch for, in the person's words (``text``); ``reason`` says why, for the reviewer."""

    action: Literal["caution"]
    text: StrictStr = Field(min_length=10)


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
    def _sets_something(self) -> Self:
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
    def _limits_something(self) -> Self:
        if self.max_sets is None and self.min_rest_seconds is None:
            raise ValueError("limit at least one of: max_sets, min_rest_seconds")
        return self


Action = Annotated[
    Stop | Warn | Exclude | Include | AddCaution | ChooseProgramme | Derive | Prescribe | Limit,
    Field(discriminator="action"),
]
# Which stages each action may be used in: the pipeline only reads them there.
ACTION_STAGES: dict[str, tuple[str, ...]] = {
    "stop": ("screen",),
    "warn": STAGES,
    "exclude": STAGES,
    "include": ("route", "select"),
    "caution": ("select",),
    "programme": ("route",),
    "derive": ("screen", "route"),
    "prescribe": ("route", "select"),
    "limit": STAGES,
}


class Rule(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    id: StrictStr = Field(pattern=ID_PATTERN, max_length=80)
    title: StrictStr = Field(min_length=5)
    rationale: StrictStr = Field(min_length=10)
    source: StrictStr
    stage: Stage
    priority: StrictInt = Field(ge=0, le=1000, description="lower fires first")
    when: Condition
    then: tuple[Action, ...] = Field(min_length=1)


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=_HasId)


@dataclass(frozen=True)
class Loaded(Generic[R]):
    """A rule as loaded: the rule and the file it came from (plan rules here, progression rules in the journal)."""

    rule: R
    file: str

    @property
    def id(self) -> str:
        return self.rule.id

    def fail(self, message: str, location: str, suggestion: str | None = None) -> RuleError:
        """The error for a defect of this rule: file, rule id, where in it, and a "did you mean"."""
        return RuleError(message, file=self.file, rule=self.id, location=location, suggestion=suggestion)


@dataclass(frozen=True)
class LoadedRule(Loaded[Rule]):
    @property
    def order_key(self) -> tuple[int, int, str]:
        return (STAGES.index(self.rule.stage), self.rule.priority, self.rule.id)


class RuleSet(NamedTuple):
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


M = TypeVar("M", bound=BaseModel)


def validated_rules(raw: object, model: type[M], path: Path) -> list[M]:
    """The ``[[rule]]`` entries of one file, each validated by ``model``; the first invalid one is a
    ``RuleError`` naming the file and the rule (its id, or ``rule[i]`` when it has none)."""
    out: list[M] = []
    for index, entry in enumerate(raw if isinstance(raw, list) else [raw]):
        label = _rule_label(entry, index)
        try:
            out.append(model.model_validate(entry))
        except ValidationError as exc:
            raise pydantic_to_error(
                exc, model=model, file=str(path), error=RuleError, rule=label, prefix="" if label else f"rule[{index}]"
            ) from None
    return out


def read_rule_files(root: Path) -> list[LoadedRule]:
    """Parse and schema-validate every ``*.toml`` under ``root`` (no cross-checks yet)."""
    root = Path(root)
    if not root.is_dir():
        raise RuleError("rules folder not found", file=str(root))
    # rules/progression/ holds the training journal's rules: their own language (engine.journal.rules).
    files = sorted(p for p in root.rglob("*.toml") if p.is_file() and p.relative_to(root).parts[0] != PROGRESSION_DIR)
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
        for rule in validated_rules(data["rule"], Rule, path):
            item = LoadedRule(rule, str(path))
            _check_shape(item)
            loaded.append(item)
    return loaded


def _check_shape(item: LoadedRule) -> None:
    """Refuse a condition beyond the ``MAX_*`` limits of one rule, or listing one thing twice."""
    when = item.rule.when
    depth = _depth(when)
    if depth > MAX_DEPTH:
        raise item.fail(f"condition nests {depth} levels deep; at most {MAX_DEPTH}", "when")
    shape = pattern_shape(compile_condition(when))
    if shape.leaves > MAX_LEAVES:
        raise item.fail(
            f"condition has {shape.leaves:,} leaves (comparisons; an 'in' list counts each value); "
            f"at most {MAX_LEAVES}",
            "when",
        )
    if shape.terms > MAX_TERMS:
        raise item.fail(
            f"condition has {shape.terms:,} alternatives (written as an 'any' of 'all's); at most {MAX_TERMS} "
            "(durable_rules crashes from 64 that hold at once)",
            "when",
        )
    if shape.groups > MAX_GROUPS:
        raise item.fail(
            f"condition compiles to {shape.groups} and/or groups; at most {MAX_GROUPS} "
            "(durable_rules fails from 16: error 113)",
            "when",
        )
    _check_repeats(item, when)


def _depth(cond: Condition) -> int:
    """Levels of all/any/none/not: 0 for a leaf or ``always``."""
    children = cond.children()
    return 1 + max(_depth(c) for c in children) if children else 0


def _check_repeats(item: LoadedRule, cond: Condition) -> None:
    """The same condition twice in one all/any/none, or a value twice in one in/not_in list."""
    if cond.field is not None:
        if cond.op in ("in", "not_in"):
            values: set[str] = set()
            for value in cond.operand:
                key = json.dumps(value)  # true is not 1
                if key in values:
                    shown = str(value).lower() if isinstance(value, bool) else str(value)
                    raise item.fail(f"'{cond.op}' lists '{shown}' twice: {cond.describe()}", f"when: {cond.field}")
                values.add(key)
        return
    word = "all" if cond.all is not None else "any" if cond.any is not None else "none"
    siblings: set[str] = set()
    for child in cond.children():
        key = json.dumps(compile_condition(child), sort_keys=True)  # what durable_rules sees
        if key in siblings:
            raise item.fail(f"'{word}' lists the same condition twice: {child.describe()}", "when")
        siblings.add(key)
        _check_repeats(item, child)


def _check_stages(loaded: Sequence[LoadedRule]) -> None:
    """Refuse a stage beyond the ``MAX_STAGE_*`` limits, or a rule set beyond ``MAX_RULESET_LEAVES``, naming
    the rule (in evaluation order) that passes the limit."""
    ordered = sorted(loaded, key=lambda r: r.order_key)
    patterns = [compile_condition(r.rule.when) for r in ordered]
    shapes = [pattern_shape(p) for p in patterns]
    passing = _passes(ordered, [s.leaves for s in shapes], MAX_RULESET_LEAVES)
    if passing is not None:
        item, total = passing
        raise RuleError(
            f"the rule set has {total:,} leaves (comparisons); at most {MAX_RULESET_LEAVES:,} "
            "(this rule passes the limit)",
            file=item.file,
            rule=item.id,
        )
    for stage in STAGES:
        picked = [i for i, r in enumerate(ordered) if r.rule.stage == stage]
        rules = [ordered[i] for i in picked]
        passing = _passes(rules, [1] * len(rules), MAX_STAGE_RULES)
        if passing is not None:
            item, total = passing
            raise RuleError(
                f"stage '{stage}' has {total:,} rules; at most {MAX_STAGE_RULES:,} "
                f"(this rule is number {MAX_STAGE_RULES + 1:,} in evaluation order)",
                file=item.file,
                rule=item.id,
            )
        passing = _passes(rules, [shapes[i].terms for i in picked], MAX_STAGE_TERMS)
        if passing is not None:
            item, total = passing
            raise RuleError(
                f"stage '{stage}' has {total:,} alternatives (its conditions written as 'any' of 'all's); "
                f"at most {MAX_STAGE_TERMS:,} (this rule passes the limit)",
                file=item.file,
                rule=item.id,
            )
        fields: dict[str, LoadedRule] = {}
        for i in picked:
            for path in pattern_paths(patterns[i]):
                fields.setdefault(path, ordered[i])
        if len(fields) > MAX_STAGE_FIELDS:
            item = list(fields.values())[MAX_STAGE_FIELDS]
            raise RuleError(
                f"stage '{stage}' reads {len(fields)} fact fields; at most {MAX_STAGE_FIELDS} (this rule passes "
                "the limit; durable_rules fails on a fact of 254 properties: error 302)",
                file=item.file,
                rule=item.id,
            )


def _passes(rules: Sequence[LoadedRule], counts: Sequence[int], limit: int) -> tuple[LoadedRule, int] | None:
    """The rule at which the running sum of ``counts`` first exceeds ``limit``, and the total; None if never."""
    total = sum(counts)
    if total <= limit:
        return None
    running = 0
    for item, count in zip(rules, counts, strict=True):
        running += count
        if running > limit:
            return item, total
    raise AssertionError("unreachable")  # pragma: no cover


def load_rules(root: Path, knowledge: Knowledge) -> RuleSet:
    """Load every rule file and check it against the knowledge; raises ``RuleError`` on the first defect."""
    root = Path(root)
    loaded = read_rule_files(root)
    seen: dict[str, LoadedRule] = {}
    for item in loaded:
        if item.id in seen:
            raise RuleError(f"duplicate rule id (first defined in {seen[item.id].file})", file=item.file, rule=item.id)
        seen[item.id] = item
    _check_stages(loaded)
    derived = _derived_facts(loaded)
    fields = field_specs(knowledge, derived)
    for item in loaded:
        _check_rule(item, knowledge, fields)
    _check_cautions(knowledge, fields)
    ordered = tuple(sorted(loaded, key=lambda r: r.order_key))
    return RuleSet(root=str(root), digest=rules_digest(root), rules=ordered, fields=fields, derived=derived)


def _check_cautions(knowledge: Knowledge, fields: Mapping[str, FieldSpec]) -> None:
    """The catalogue's cautions read fields the select stage knows (the answers and the derived facts), and
    the dosing table names only facts some rule derives."""
    derived = [f.split(".", 1)[1] for f in fields if f.startswith("derived.")]
    for step in knowledge.dosing.step:
        for name in step.unless_derived:
            if name not in derived:
                raise RuleError(
                    f"no rule derives the fact '{name}'",
                    file=str(Path(knowledge.root) / "dosing.toml"),
                    location=f"step '{step.id}'.unless_derived",
                    suggestion=closest(name, derived),
                )
    for ex in knowledge.exercises.values():
        for index, caution in enumerate(ex.contraindications):
            if isinstance(caution, str):
                continue
            for leaf in caution.when.leaves():
                name = leaf.target()
                if name not in fields:
                    raise RuleError(
                        f"exercise '{ex.id}': contraindications[{index}] reads unknown field '{name}'",
                        file=str(Path(knowledge.root) / "exercises"),
                        location=f"exercise '{ex.id}'.contraindications[{index}].when",
                        suggestion=closest(name, fields),
                    )


def _derived_facts(loaded: Sequence[LoadedRule]) -> dict[str, Stage]:
    """Each derived fact and the earliest stage that derives it."""
    out: dict[str, Stage] = {}
    for item in sorted(loaded, key=lambda r: r.order_key):
        for action in item.rule.then:
            if isinstance(action, Derive) and action.fact not in out:
                out[action.fact] = item.rule.stage
    return out


def _check_rule(item: LoadedRule, knowledge: Knowledge, fields: Mapping[str, FieldSpec]) -> None:
    rule = item.rule
    if rule.source not in knowledge.sources:
        raise item.fail(f"unknown source '{rule.source}'", "source", closest(rule.source, knowledge.sources))
    for leaf in rule.when.leaves():
        _check_leaf(item, leaf, fields, knowledge)
    for index, action in enumerate(rule.then):
        where = f"then[{index}]"
        if rule.stage not in ACTION_STAGES[action.action]:
            allowed = ", ".join(ACTION_STAGES[action.action])
            raise item.fail(f"action '{action.action}' is not allowed in stage '{rule.stage}' (only: {allowed})", where)
        if isinstance(action, (Exclude, Include, AddCaution)):  # the exercises and tags they select exist
            for ex in action.exercises:
                if ex not in knowledge.exercises:
                    raise item.fail(f"unknown exercise '{ex}'", f"{where}.exercises", closest(ex, knowledge.exercises))
            for tag in action.tags:
                if tag not in knowledge.tags:
                    raise item.fail(f"unknown tag '{tag}'", f"{where}.tags", closest(tag, knowledge.tags))
            if isinstance(action, Include):
                never = [ex for ex in action.exercises if knowledge.exercises[ex].never_recommend]
                if never:
                    raise item.fail(
                        f"includes '{never[0]}', which the catalogue marks never-recommend", f"{where}.exercises"
                    )
        if isinstance(action, ChooseProgramme) and action.programme not in knowledge.programmes:
            raise item.fail(
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
            raise item.fail(
                "'contains' works on equipment or conditions",
                where,
                closest(leaf.field, ["equipment", "conditions"]),
            )
        target = leaf.target()
        if target not in fields:
            vocab = knowledge.equipment if leaf.field == "equipment" else knowledge.conditions
            raise item.fail(
                f"unknown {'condition' if leaf.field == 'conditions' else 'equipment'} id '{leaf.contains}'",
                where,
                closest(str(leaf.contains), vocab),
            )
        spec = fields[target]
    else:
        if leaf.field not in fields:
            if leaf.field.startswith("derived."):
                raise item.fail(
                    "no rule derives this fact",
                    where,
                    closest(leaf.field, [f for f in fields if f.startswith("derived.")]),
                )
            raise item.fail("unknown field", where, closest(leaf.field, fields))
        spec = fields[leaf.field]
    if STAGES.index(item.rule.stage) < STAGES.index(spec.first_stage):
        raise item.fail(
            f"field '{spec.name}' is only known from stage '{spec.first_stage}' on "
            f"(this rule is in '{item.rule.stage}')",
            where,
        )
    if op != "contains":
        check_values(item, leaf, spec, where)


def check_values(item: Loaded[Any], leaf: Condition, spec: FieldSpec, where: str) -> None:
    """A comparison leaf against the field it reads: the operator fits the field's kind, every value is one
    the field can take, and some value of the field satisfies it (else it can never hold)."""
    op, operand = leaf.op, leaf.operand
    values = operand if isinstance(operand, tuple) else (operand,)
    if op in ("lt", "lte", "gt", "gte") and spec.kind != "int":
        raise item.fail(f"'{op}' needs a number field, '{spec.name}' is {spec.kind}", where)
    for value in values:
        if spec.kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise item.fail(f"'{spec.name}' is a number, got {value!r}", where)
        if spec.kind == "bool" and (not isinstance(value, bool)):
            raise item.fail(f"'{spec.name}' is true or false, got {value!r}", where)
        if spec.kind == "enum" and value not in spec.values:
            raise item.fail(
                f"'{value}' is not a value of '{spec.name}' (one of: {', '.join(map(str, spec.values))})",
                where,
                closest(str(value), [str(v) for v in spec.values]),
            )
    from .conditions import _compare

    if not any(_compare(op, v, operand) for v in spec.values):
        raise item.fail(
            f"condition '{leaf.describe()}' can never hold ({spec.name} is {spec.minimum}..{spec.maximum})"
            if spec.kind == "int"
            else f"condition '{leaf.describe()}' can never hold",
            where,
        )
