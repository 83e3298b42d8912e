"""The progression rules (``rules/progression/*.toml``): their schema, loading, checks, and compilation.

A progression rule looks at the person's check-ins as a stream of events in date order. It is anchored on
the **latest** check-in and may correlate it with what came before:

* ``latest``: a condition (the plan rules' condition language) on the latest check-in's fields;
* ``previous``: the decision taken at the check-in before it was one of these;
* ``decided``: the decision just taken at the latest check-in was one of these (advice rules only);
* ``window``: over the last ``days`` days up to the latest check-in: at least ``at_least`` check-ins (or
  the programme's sessions a week times ``sessions_weeks``), every one of them satisfying ``every``, the
  journal covering the whole window, and (``unchanged``) no dose change decided inside it.

Its effect is a ``decision`` (stop, regress, hold or progress) or a warning (``warn``). Of the decision
rules that fire at a check-in, the one with the lowest priority decides (ties: the more cautious decision).

The same rules compile twice: to durable_rules rulesets (``compile_stage``: one alias per correlated fact,
joins by sequence number and day, ``$not`` for "no later check-in" and "none in the window"), evaluated
over the stream in ``progression``, and to plain Python predicates that ``progression`` evaluates
independently as the run-time guard. ``[dosing]`` (one table in the folder) says how one step changes a
dose and where the ceiling is: the strength programme's own prescription for the person's experience.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError, model_validator

from .._tomlio import folder_digest, load_toml_file, pydantic_to_error
from ..compiler import Predicate, compile_condition, compile_predicate
from ..conditions import Condition
from ..errors import RuleError, closest
from ..facts import FieldSpec
from ..knowledge import ID_PATTERN, Knowledge
from ..ruleset import PROGRESSION_DIR, Loaded, RuleSet, check_values, validated_rules

Decision = Literal["stop", "regress", "hold", "progress"]
# The more cautious first: breaks ties between decision rules of the same priority.
DECISIONS: tuple[str, ...] = ("stop", "regress", "hold", "progress")
CHANGES: tuple[str, ...] = ("regress", "progress")  # the decisions that change the dose

# The fields of one check-in event that conditions may read.
EVENT_FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        FieldSpec("pain_during", "int", tuple(range(0, 11))),
        FieldSpec("pain_next_day", "int", tuple(range(0, 11))),
        FieldSpec("next_day_over_usual", "int", tuple(range(-10, 11))),
        FieldSpec("done", "enum", ("all", "some", "none")),
        FieldSpec("symptom", "bool", (False, True)),
        FieldSpec("red_flag", "bool", (False, True)),
        FieldSpec("at_ceiling", "bool", (False, True)),
    )
}


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class Warn(_Strict):
    level: Literal["info", "caution", "consult", "urgent"]
    message: StrictStr = Field(min_length=10)


class Window(_Strict):
    days: StrictInt = Field(ge=2, le=366)
    at_least: StrictInt | None = Field(default=None, ge=2, le=1000)
    sessions_weeks: StrictInt | None = Field(default=None, ge=1, le=52)
    every: Condition
    unchanged: StrictBool = True

    @model_validator(mode="after")
    def _one_count(self) -> Window:
        if (self.at_least is None) == (self.sessions_weeks is None):
            raise ValueError("give exactly one of at_least or sessions_weeks")
        return self

    def count(self, sessions_per_week: int) -> int:
        """How many check-ins the window needs (at least 2: the latest and one more)."""
        return self.at_least if self.at_least is not None else max(2, sessions_per_week * (self.sessions_weeks or 1))


class ProgressionRule(_Strict):
    id: StrictStr = Field(pattern=ID_PATTERN, max_length=80)
    title: StrictStr = Field(min_length=5)
    rationale: StrictStr = Field(min_length=10)
    source: StrictStr
    priority: StrictInt = Field(ge=0, le=1000, description="lower wins")
    latest: Condition | None = None
    previous: tuple[Decision, ...] = ()
    decided: tuple[Decision, ...] = ()
    window: Window | None = None
    decision: Decision | None = None
    warn: Warn | None = None

    @model_validator(mode="after")
    def _one_effect(self) -> ProgressionRule:
        if (self.decision is None) == (self.warn is None):
            raise ValueError("give exactly one of decision or warn")
        if self.decided and self.decision is not None:
            raise ValueError("'decided' reads the decision just taken: only a warn rule may use it")
        return self

    @property
    def phase(self) -> Literal["decide", "advise"]:
        """Decision rules fire when the check-in arrives; rules reading ``decided`` once it is decided."""
        return "advise" if self.decided else "decide"

    def conditions(self) -> list[tuple[str, Condition]]:
        """Each condition on one check-in, with where it is written."""
        out = [("latest", self.latest)] if self.latest is not None else []
        return out + ([("window.every", self.window.every)] if self.window is not None else [])

    def describe(self) -> list[str]:
        """The rule's conditions in reviewer notation, one per line."""
        out = []
        if self.latest is not None:
            out.append(f"the latest check-in: {self.latest.describe()}")
        if self.previous:
            out.append(f"the decision at the check-in before: {' or '.join(self.previous)}")
        if self.decided:
            out.append(f"the decision just taken: {' or '.join(self.decided)}")
        if self.window is not None:
            w = self.window
            many = f"at least {w.at_least}" if w.at_least else f"at least sessions a week × {w.sessions_weeks}"
            out.append(
                f"the last {w.days} days (covered by the journal): {many} check-ins, every one: {w.every.describe()}"
                + ("; no dose change decided in them" if w.unchanged else "")
            )
        return out or ["every check-in"]

    def effect(self) -> str:
        if self.decision is not None:
            return f"decide {self.decision}" + (
                " (with the screen's advice for the symptom)" if self.decision == "stop" else ""
            )
        assert self.warn is not None
        return f"warn ({self.warn.level}): {self.warn.message}"


class Dosing(_Strict):
    """How one step changes a dose; the ceiling is the strength programme's dose (knowledge/dosing.toml)."""

    source: StrictStr
    categories: tuple[Literal["mobility", "stabilisation", "strength"], ...] = Field(min_length=1)
    sets_step: StrictInt = Field(ge=0, le=5)
    reps_step: StrictInt = Field(ge=0, le=10)


class _File(_Strict):
    rule: tuple[ProgressionRule, ...] = ()
    dosing: Dosing | None = None


LoadedProgressionRule = Loaded[ProgressionRule]


@dataclass(frozen=True)
class ProgressionRules:
    root: str
    digest: str
    rules: tuple[LoadedProgressionRule, ...]  # by (priority, id)
    dosing: Dosing
    dosing_file: str
    sessions_per_week: Mapping[str, int]  # programme -> sessions a week (the most its template says)

    def by_id(self) -> dict[str, LoadedProgressionRule]:
        return {r.id: r for r in self.rules}


def progression_dir(rules_root: Path | str) -> Path:
    return Path(rules_root) / PROGRESSION_DIR


def read_files(folder: Path) -> tuple[list[LoadedProgressionRule], Dosing, str]:
    """Parse and schema-check every file of the folder (no cross-checks)."""
    if not folder.is_dir():
        raise RuleError("progression rules folder not found", file=str(folder))
    files = sorted(p for p in folder.rglob("*.toml") if p.is_file())
    if not files:
        raise RuleError("no progression rule files (*.toml) found", file=str(folder))
    loaded: list[LoadedProgressionRule] = []
    dosing: tuple[Dosing, str] | None = None
    for path in files:
        data = load_toml_file(path, RuleError)
        extra = sorted(set(data) - {"rule", "dosing"})
        if extra:
            raise RuleError(
                f"expected [[rule]] tables and a [dosing] table, found '{extra[0]}'",
                file=str(path),
                suggestion=closest(extra[0], ["rule", "dosing"]),
            )
        for rule in validated_rules(data.get("rule", []), ProgressionRule, path):
            loaded.append(LoadedProgressionRule(rule, str(path)))
        if "dosing" in data:
            if dosing is not None:
                raise RuleError(f"a second [dosing] table (the first is in {dosing[1]})", file=str(path))
            try:
                dosing = (Dosing.model_validate(data["dosing"]), str(path))
            except ValidationError as exc:
                raise pydantic_to_error(exc, model=Dosing, file=str(path), error=RuleError, prefix="dosing") from None
    if dosing is None:
        raise RuleError("no [dosing] table: say how a step changes the dose", file=str(folder))
    if not loaded:
        raise RuleError("no [[rule]] tables", file=str(folder))
    return loaded, dosing[0], dosing[1]


def _check_condition(item: LoadedProgressionRule, where: str, cond: Condition) -> None:
    """Each leaf names a check-in field, with an operator and values that field can take."""
    for leaf in cond.leaves():
        assert leaf.field is not None
        at = f"{where}: {leaf.field}"
        if leaf.op == "contains":
            raise item.fail("'contains' has no list to look in: a check-in's fields are single values", at)
        spec = EVENT_FIELDS.get(leaf.field)
        if spec is None:
            raise item.fail("unknown check-in field", at, closest(leaf.field, EVENT_FIELDS))
        check_values(item, leaf, spec, at)
    if _uses_always(cond):
        raise item.fail("'always' is not needed here: leave the condition out", where)


def _uses_always(cond: Condition) -> bool:
    return bool(cond.always) or any(_uses_always(c) for c in cond.children())


def _sessions_per_week(knowledge: Knowledge) -> dict[str, int]:
    out: dict[str, int] = {}
    for programme in knowledge.programmes.values():
        found = re.match(r"^\s*(\d+)(?:\s*-\s*(\d+))?", programme.sessions_per_week)
        if not found:
            raise RuleError(
                f"programme '{programme.id}': sessions_per_week must start with a number or a range "
                f"(got '{programme.sessions_per_week}'); the progression window counts sessions",
                file=str(Path(knowledge.root) / "programmes.toml"),
            )
        out[programme.id] = int(found.group(2) or found.group(1))
    return out


def load_progression(plan_rules: RuleSet, knowledge: Knowledge) -> ProgressionRules:
    """Load and check ``rules/progression`` (beside the plan rules); ``RuleError`` on the first defect."""
    folder = progression_dir(plan_rules.root)
    loaded, dosing, dosing_file = read_files(folder)
    seen: dict[str, LoadedProgressionRule] = {}
    plan_ids = plan_rules.by_id()
    for item in loaded:
        if item.id in seen:
            raise RuleError(f"duplicate rule id (first defined in {seen[item.id].file})", file=item.file, rule=item.id)
        if item.id in plan_ids:
            raise RuleError(
                f"rule id also used by a plan rule ({plan_ids[item.id].file})", file=item.file, rule=item.id
            )
        seen[item.id] = item
        rule = item.rule
        if rule.source not in knowledge.sources:
            raise item.fail(f"unknown source '{rule.source}'", "source", closest(rule.source, knowledge.sources))
        for where, cond in rule.conditions():
            _check_condition(item, where, cond)
        if rule.window is not None and rule.window.at_least is not None and rule.window.at_least > rule.window.days:
            raise item.fail("more check-ins than days in the window: at most one check-in a day", "window.at_least")
    if dosing.source not in knowledge.sources:
        raise RuleError(f"unknown source '{dosing.source}'", file=dosing_file, location="dosing.source")
    ordered = tuple(sorted(loaded, key=lambda r: (r.rule.priority, r.id)))
    return ProgressionRules(
        root=str(folder),
        digest=folder_digest(folder),
        rules=ordered,
        dosing=dosing,
        dosing_file=dosing_file,
        sessions_per_week=_sessions_per_week(knowledge),
    )


# --- to durable_rules ------------------------------------------------------------------------------------

CHECKIN, STEP, JOURNAL = "checkin", "step", "journal"  # the kinds of fact (field ``t``) in a session


def _minus(alias: str, field: str, n: int) -> Any:
    return {"$sub": {"$l": {alias: field}, "$r": n}} if n else {alias: field}


def _one_of(decisions: Sequence[str]) -> dict[str, Any]:
    options = [{"decision": d} for d in decisions]
    return options[0] if len(options) == 1 else {"$or": options}


def _and(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"$and": list(parts)}


def compile_rule(rule: ProgressionRule, sessions_per_week: int) -> dict[str, Any]:
    """One durable rule: ``l`` the latest check-in, joined with the facts it correlates.

    "Latest" is the stream: check-ins arrive in date order and the agenda is drained after each arrival, so
    a rule fires when, and only when, the check-in bound to ``l`` arrives (every join reaches back from
    ``l``: to the step before it, to the journal's first day, to the check-in ``count - 1`` before it)."""
    latest = [{"t": CHECKIN}] + ([compile_condition(rule.latest)] if rule.latest is not None else [])
    if rule.window is not None:  # the latest is in the window: it satisfies ``every`` too (durable's ``$not``
        latest.append(compile_condition(rule.window.every))  # below never looks at the fact bound to ``l``)
    parts: list[dict[str, Any]] = [{"l": _and(*latest) if len(latest) > 1 else latest[0]}]
    # durable_rules' ``$not`` never sees a fact bound to another alias of the same rule (measured): each alias
    # that could be one of the facts a ``$not`` below looks for carries that negation's condition itself.
    previous: list[dict[str, Any]] = []
    if rule.previous:
        previous = [{"t": STEP}, {"seq": _minus("l", "seq", 1)}, _one_of(rule.previous)]
        if rule.window is not None and rule.window.unchanged:
            start = _minus("l", "day", rule.window.days - 1)
            previous.append({"$or": [{"$lt": {"day": start}}, {"changed": False}]})
        parts.append({"p": _and(*previous)})
    if rule.decided:
        parts.append({"d": _and({"t": STEP}, {"seq": {"l": "seq"}}, _one_of(rule.decided))})
    if rule.window is not None:
        w = rule.window
        start = _minus("l", "day", w.days - 1)  # the first day of the window
        parts.append({"j": _and({"t": JOURNAL}, {"$lte": {"first_day": start}})})
        kth = _minus("l", "seq", w.count(sessions_per_week) - 1)
        parts.append({"k": _and({"t": CHECKIN}, {"seq": kth}, {"$gte": {"day": start}}, compile_condition(w.every))})
        # Negations name only facts asserted before ``l`` (seq bounds): a blocking fact arriving after a rule
        # fired makes durable_rules retract a consumed match, which crashes it (measured).
        parts.append(
            {
                "u$not": _and(
                    {"t": CHECKIN},
                    {"$lt": {"seq": {"l": "seq"}}},
                    {"$gte": {"day": start}},
                    compile_condition(w.every, negate=True),
                )
            }
        )
        if w.unchanged:
            parts.append(
                {
                    "c$not": _and(
                        {"t": STEP}, {"$lt": {"seq": {"l": "seq"}}}, {"$gte": {"day": start}}, {"changed": True}
                    )
                }
            )
    return {"all": parts, "pri": rule.priority, "run": rule.id}


def compile_stage(rules: ProgressionRules, programme: str) -> dict[str, dict[str, Any]]:
    """The durable ruleset for people on ``programme`` (the window's count depends on its sessions)."""
    spw = rules.sessions_per_week[programme]
    return {item.id: compile_rule(item.rule, spw) for item in rules.rules}


def stage_name(programme: str) -> str:
    return f"progression_{programme}"


@dataclass(frozen=True)
class CompiledRule:
    """The reference semantics of one rule: its check-in conditions as predicates, the rest as data."""

    item: LoadedProgressionRule
    latest: Predicate | None
    every: Predicate | None
    count: int  # check-ins the window needs (0: no window)


def compile_reference(rules: ProgressionRules, programme: str) -> tuple[CompiledRule, ...]:
    spw = rules.sessions_per_week[programme]
    return tuple(
        CompiledRule(
            item,
            compile_predicate(item.rule.latest) if item.rule.latest is not None else None,
            compile_predicate(item.rule.window.every) if item.rule.window is not None else None,
            item.rule.window.count(spw) if item.rule.window is not None else 0,
        )
        for item in rules.rules
    )
