"""How much of each exercise: the dosing table of ``knowledge/dosing.toml``, applied.

dose = programme × experience × goal × active. Every dose starts from the catalogue's prescription (the
starting dose of a beginner) and the table's steps apply in file order, each one whose programme, level,
goal, usual pain and exercise (category, tags) match. The level is the stated experience, or the level
the table gives people who are not exercising regularly. Nothing about the amounts is written here: this
module only reads the table and does the arithmetic it declares.

The order that must hold (SPEC "Coherence"), for every exercise, level, goal and pain: a gentle dose never
exceeds the catalogue's, which never exceeds the strength dose at the same level. ``order_violations``
checks it over every combination the table distinguishes; ``backplan verify`` and the tests use it.

``python -m engine.dosing_doc docs/dosing.md`` writes the table as documentation (``--check`` compares).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, ValidationError, model_validator

from ._tomlio import load_toml_file, pydantic_to_error
from .errors import KnowledgeError

if TYPE_CHECKING:  # pragma: no cover
    from .knowledge import Exercise, Knowledge

DOSING_FILE = "dosing.toml"
LEVELS: tuple[str, ...] = ("beginner", "intermediate", "advanced")
CATEGORIES: tuple[str, ...] = ("mobility", "stabilisation", "strength")
_ID = r"^[a-z][a-z0-9_]*$"
# ``dosed_by`` names the table's steps with this prefix, the rules by their ids.
DOSING_PREFIX = "dosing:"


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class Bound(_Strict):
    """``set``, ``at_most`` or ``at_least`` a number (exactly one)."""

    set: StrictInt | None = Field(default=None, ge=0, le=600)
    at_most: StrictInt | None = Field(default=None, ge=0, le=600)
    at_least: StrictInt | None = Field(default=None, ge=0, le=600)

    @model_validator(mode="after")
    def _one(self) -> Bound:
        if sum(v is not None for v in (self.set, self.at_most, self.at_least)) != 1:
            raise ValueError("give exactly one of: set, at_most, at_least")
        return self

    def apply(self, value: int) -> int:
        if self.set is not None:
            return self.set
        if self.at_most is not None:
            return min(value, self.at_most)
        assert self.at_least is not None
        return max(value, self.at_least)

    def describe(self) -> str:
        if self.set is not None:
            return str(self.set)
        if self.at_most is not None:
            return f"at most {self.at_most}"
        return f"at least {self.at_least}"


class Step(_Strict):
    id: str = Field(pattern=_ID)
    title: str = Field(min_length=5)
    programme: str
    levels: tuple[Literal["beginner", "intermediate", "advanced"], ...] = LEVELS  # type: ignore[assignment]
    goals: tuple[str, ...] = ()  # () = any goal
    pain: tuple[StrictInt, StrictInt] = (0, 10)  # usual pain intensity, inclusive
    categories: tuple[Literal["mobility", "stabilisation", "strength"], ...] = CATEGORIES  # type: ignore[assignment]
    tags_any: tuple[str, ...] = ()
    tags_none: tuple[str, ...] = ()
    # Not when the rules derived any of these facts (e.g. moderate_intensity_only: no heavy zones).
    unless_derived: tuple[str, ...] = ()
    sets: Bound | None = None
    work: StrictFloat | None = Field(default=None, gt=0, le=2)
    reps: str | None = Field(default=None, pattern=r"^\d{1,3}(-\d{1,3})?$")
    rest_seconds: Bound | None = None
    note: str = Field(min_length=10, description="why, in plain words")
    source: str

    @model_validator(mode="after")
    def _changes_something(self) -> Step:
        if self.sets is None and self.work is None and self.reps is None and self.rest_seconds is None:
            raise ValueError("change at least one of: sets, work, reps, rest_seconds")
        low, high = self.pain
        if not 0 <= low <= high <= 10:
            raise ValueError("pain is [lowest, highest] usual intensity, within 0..10")
        return self

    def matches(
        self, ex: Exercise, programme: str, level: str, goal: str, pain: int, derived: frozenset[str] = frozenset()
    ) -> bool:
        return (
            not derived.intersection(self.unless_derived)
            and self.programme == programme
            and level in self.levels
            and (not self.goals or goal in self.goals)
            and self.pain[0] <= pain <= self.pain[1]
            and ex.category in self.categories
            and (not self.tags_any or bool(set(ex.tags) & set(self.tags_any)))
            and not set(ex.tags) & set(self.tags_none)
        )


class ProgrammeOrder(_Strict):
    id: str
    order: Literal["at_most_catalogue", "at_least_catalogue"]


class LevelPolicy(_Strict):
    inactive_counts_as: Literal["beginner", "intermediate", "advanced"]
    source: str


class DosingTable(_Strict):
    hold_step_seconds: StrictInt = Field(ge=1, le=60)
    level: LevelPolicy
    programme: tuple[ProgrammeOrder, ...] = Field(min_length=1)
    step: tuple[Step, ...] = Field(min_length=1)

    def order_of(self, programme: str) -> str | None:
        return next((p.order for p in self.programme if p.id == programme), None)


def load_dosing(root: Path) -> DosingTable:
    """``knowledge/dosing.toml``, validated (references are checked with the rest of the knowledge)."""
    path = Path(root) / DOSING_FILE
    data = load_toml_file(path, KnowledgeError)
    try:
        table = DosingTable.model_validate(data)
    except ValidationError as exc:
        raise pydantic_to_error(exc, model=DosingTable, file=str(path), error=KnowledgeError) from None
    seen: set[str] = set()
    for step in table.step:
        if step.id in seen:
            raise KnowledgeError(f"duplicate step id '{step.id}'", file=str(path), location=f"step '{step.id}'")
        seen.add(step.id)
    return table


def check_references(table: DosingTable, knowledge: Knowledge, root: Path) -> None:
    """Every programme, goal, tag and source the table names exists."""
    from .errors import closest

    path = str(Path(root) / DOSING_FILE)

    def ref(value: str, valid: Iterable[str], what: str, where: str) -> None:
        names = list(valid)
        if value not in names:
            raise KnowledgeError(
                f"unknown {what} '{value}'", file=path, location=where, suggestion=closest(value, names)
            )

    ref(table.level.source, knowledge.sources, "source", "level.source")
    for p in table.programme:
        ref(p.id, knowledge.programmes, "programme", f"programme '{p.id}'")
    for step in table.step:
        where = f"step '{step.id}'"
        ref(step.programme, knowledge.programmes, "programme", f"{where}.programme")
        ref(step.source, knowledge.sources, "source", f"{where}.source")
        for goal in step.goals:
            ref(goal, knowledge.goals, "goal", f"{where}.goals")
        for tag in (*step.tags_any, *step.tags_none):
            ref(tag, knowledge.tags, "tag", f"{where}.tags")


# --- the arithmetic -----------------------------------------------------------------------------------


class Dose(NamedTuple):
    sets: int
    reps: str | None
    hold_seconds: int | None
    rest_seconds: int
    steps: tuple[str, ...] = ()  # the ids of the table's steps that applied

    @property
    def work(self) -> int:
        """Work in one set: the top of the reps range, or the hold in seconds."""
        if self.hold_seconds is not None:
            return self.hold_seconds
        return top_reps(self.reps or "0")

    @property
    def volume(self) -> int:
        return self.sets * self.work

    def text(self) -> str:
        work = f"{self.reps} reps" if self.reps is not None else f"hold {self.hold_seconds} s"
        return f"{self.sets} × {work}"


_NUMBERS = re.compile(r"\d+")


def top_reps(reps: str) -> int:
    """The top of a reps range: "8-12" -> 12, "10 each side" -> 10."""
    return int(_NUMBERS.findall(reps)[:2][-1])


def _scale_reps(reps: str, factor: float) -> str:
    numbers = [int(n) for n in _NUMBERS.findall(reps)[:2]]
    suffix = " each side" if reps.endswith(" each side") else ""
    scaled = [max(1, math.floor(n * factor + 0.5)) for n in numbers]
    if len(scaled) == 2 and scaled[0] >= scaled[1]:
        scaled = [scaled[1]]
    return "-".join(map(str, scaled)) + suffix


def _scale_hold(hold: int, original: int, factor: float, step: int) -> int:
    scaled = math.floor(hold * factor / step + 0.5) * step
    return max(min(original, step), scaled)


def level_of(experience: str, active: bool, table: DosingTable) -> str:
    """The level that sets the volume: the experience, or the table's level for people not yet active."""
    return experience if active else table.level.inactive_counts_as


def dose_for(
    ex: Exercise,
    programme: str,
    level: str,
    goal: str,
    pain: int,
    table: DosingTable,
    derived: frozenset[str] = frozenset(),
) -> Dose:
    """The table's dose of ``ex`` (before the safety rules' caps); ``derived``: the facts the rules derived."""
    p = ex.prescription
    sets, reps, hold, rest = p.sets, p.reps, p.hold_seconds, p.rest_seconds
    used: list[str] = []
    for step in table.step:
        if not step.matches(ex, programme, level, goal, pain, derived):
            continue
        used.append(step.id)
        if step.sets is not None:
            sets = max(1, step.sets.apply(sets))
        if step.reps is not None and reps is not None:
            reps = step.reps + (" each side" if reps.endswith(" each side") else "")
        if step.work is not None:
            if reps is not None:
                reps = _scale_reps(reps, step.work)
            if hold is not None:
                hold = _scale_hold(hold, p.hold_seconds or hold, step.work, table.hold_step_seconds)
        if step.rest_seconds is not None:
            rest = step.rest_seconds.apply(rest)
    return Dose(sets, reps, hold, rest, tuple(used))


def catalogue_dose(ex: Exercise) -> Dose:
    p = ex.prescription
    return Dose(p.sets, p.reps, p.hold_seconds, p.rest_seconds)


def at_most(a: Dose, b: Dose) -> bool:
    """``a`` asks no more than ``b``: no more sets, and no more work in all (sets × reps or seconds held).

    A reps range is counted by its top ("8-12" as 12). Rest is not part of the order: more rest is not more
    exercise. A heavier-weight zone of fewer repetitions (the strength goal) still asks at least as much
    as the catalogue because it comes with more sets."""
    return a.sets <= b.sets and a.volume <= b.volume


def at_most_each(a: Dose, b: Dose) -> bool:
    """``a`` is no more than ``b`` in sets, in repetitions per set and in seconds held (the gentle order)."""
    return a.sets <= b.sets and a.work <= b.work


# --- the order over every combination the table distinguishes -----------------------------------------


def pain_levels(table: DosingTable) -> tuple[int, ...]:
    """One usual-pain value for each band the table distinguishes (its bounds)."""
    cuts = {0, 10}
    for step in table.step:
        cuts.update(step.pain)
        cuts.update(v for v in (step.pain[0] - 1, step.pain[1] + 1) if 0 <= v <= 10)
    return tuple(sorted(cuts))


class OrderViolation(NamedTuple):
    exercise: str
    level: str
    goal: str
    pain: int
    message: str


def derived_sets(table: DosingTable) -> tuple[frozenset[str], ...]:
    """No derived fact, and each fact a step names (the cases the table distinguishes)."""
    named = sorted({f for step in table.step for f in step.unless_derived})
    return (frozenset(), *(frozenset([f]) for f in named))


def order_violations(knowledge: Knowledge, table: DosingTable | None = None) -> list[OrderViolation]:
    """Every (exercise, level, goal, usual pain, derived facts) for which gentle <= catalogue <= strength fails
    (the table's doses; ``backplan verify`` checks the plans, the rules' caps included)."""
    table = table or knowledge.dosing
    gentle = [p.id for p in table.programme if p.order == "at_most_catalogue"]
    strength = [p.id for p in table.programme if p.order == "at_least_catalogue"]
    out: list[OrderViolation] = []
    for ex in knowledge.exercises.values():
        if ex.never_recommend:
            continue
        default = catalogue_dose(ex)
        for level in LEVELS:
            for goal in knowledge.goals:
                for pain in pain_levels(table):
                    for g in gentle:
                        dose = dose_for(ex, g, level, goal, pain, table)
                        if not at_most_each(dose, default):
                            out.append(
                                OrderViolation(
                                    ex.id,
                                    level,
                                    goal,
                                    pain,
                                    f"{g} {dose.text()} above the catalogue's {default.text()}",
                                )
                            )
                    for s in strength:
                        for derived in derived_sets(table):
                            dose = dose_for(ex, s, level, goal, 0, table, derived)
                            if not at_most(default, dose):
                                out.append(
                                    OrderViolation(
                                        ex.id,
                                        level,
                                        goal,
                                        pain,
                                        f"{s} {dose.text()} below the catalogue's {default.text()}",
                                    )
                                )
    return out


# --- the table as documentation -------------------------------------------------------------------------


def _cell(values: Sequence[str], every: Sequence[str]) -> str:
    return "any" if not values or set(values) == set(every) else ", ".join(values)


def _change(step: Step) -> str:
    parts = []
    if step.sets is not None:
        parts.append(f"sets {step.sets.describe()}")
    if step.reps is not None:
        parts.append(f"reps {step.reps}")
    if step.work is not None:
        parts.append(f"reps and holds × {step.work:g}")
    if step.rest_seconds is not None:
        parts.append(f"rest {step.rest_seconds.describe()} s")
    return "; ".join(parts)


def _examples(knowledge: Knowledge) -> list[str]:
    """A few exercises of each kind, to show the table at work."""
    wanted = ("dead_hang", "plank", "bird_dog", "lat_pulldown", "seated_cable_row", "dumbbell_shrug", "pull_up")
    return [e for e in wanted if e in knowledge.exercises]


def render_doc(knowledge: Knowledge, rules_limits: Sequence[tuple[str, str, str]] = ()) -> str:
    """docs/dosing.md: the steps, the caps of the safety rules and worked examples, all from the data."""
    table = knowledge.dosing
    goals = list(knowledge.goals)
    out = [
        "# How much of each exercise: the dosing table",
        "",
        "<!-- generated by `python -m engine.dosing_doc docs/dosing.md` from knowledge/dosing.toml and rules/; "
        "do not edit: tests/test_dosing.py checks that it is in step -->",
        "",
        "dose = programme × experience × goal × `active`. Every dose starts from the catalogue's prescription of "
        "the exercise, which is the starting dose of a beginner (1-2 quality sets: seed 003, ACSM 2009 novices); "
        "the steps below apply in order, each one whose row matches. The level is the stated experience, except "
        f"that someone not exercising regularly (`active = false`) counts as **{table.level.inactive_counts_as}** "
        f"({knowledge.sources[table.level.source].title}). Reps scale to whole repetitions, holds to "
        f"{table.hold_step_seconds} s.",
        "",
        "The order that holds for every exercise, level, goal and usual pain (checked by `backplan verify`, "
        "invariant `dose_order`, and by a property test over generated intakes): **gentle dose ≤ catalogue dose "
        "≤ strength dose** at the same level. Gentle ≤ catalogue: no more sets, repetitions or seconds held. "
        "Catalogue ≤ strength: no more sets and no more work in all (sets × the top of the reps range, or × "
        "seconds held); the strength goal trades repetitions for a heavier weight, so its zone comes with "
        "more sets.",
        "",
        "## Steps (knowledge/dosing.toml)",
        "",
        "| step | programme | level | goal | usual pain | exercises | change | source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in table.step:
        exercises = _cell(s.categories, CATEGORIES)
        if s.tags_any:
            exercises += f"; tagged {' or '.join(s.tags_any)}"
        if s.tags_none:
            exercises += f"; not {' or '.join(s.tags_none)}"
        if s.unless_derived:
            exercises += f"; not when {' or '.join(s.unless_derived)}"
        pain = "any" if s.pain == (0, 10) else f"{s.pain[0]}-{s.pain[1]}/10"
        out.append(
            f"| `{s.id}` | {s.programme} | {_cell(s.levels, LEVELS)} | {_cell(s.goals, goals)} | {pain} | "
            f"{exercises} | {_change(s)} | {knowledge.sources[s.source].title} |"
        )
    out.append("")
    if rules_limits:
        out += [
            "## Caps from the safety rules (rules/, applied after the steps)",
            "",
            "| rule | when | cap |",
            "|---|---|---|",
            *[f"| `{rule}` | {when} | {cap} |" for rule, when, cap in rules_limits],
            "",
        ]
    out += [
        "## The table at work",
        "",
        "Doses before the safety rules' caps; usual pain 0 unless said.",
        "",
        "| exercise | catalogue | level | gentle | gentle, pain 5/10 | strength, goal general | strength, goal "
        "strength | strength, goal muscle |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for ex_id in _examples(knowledge):
        ex = knowledge.exercises[ex_id]
        default = catalogue_dose(ex)

        def shown(d: Dose) -> str:
            return f"{d.text()}, rest {d.rest_seconds} s"

        for level in LEVELS:
            out.append(
                f"| {ex.name} | {shown(default)} | {level} | "
                f"{shown(dose_for(ex, 'gentle', level, 'general', 0, table))} | "
                f"{shown(dose_for(ex, 'gentle', level, 'general', 5, table))} | "
                f"{shown(dose_for(ex, 'strength', level, 'general', 0, table))} | "
                f"{shown(dose_for(ex, 'strength', level, 'strength', 0, table))} | "
                f"{shown(dose_for(ex, 'strength', level, 'muscle', 0, table))} |"
            )
    out += ["", "## Why each step", ""]
    for s in table.step:
        out.append(f"- **{s.title}** ({knowledge.sources[s.source].title}): {s.note}")
    out.append("")
    return "\n".join(out)


def rules_limits(rules: Iterable[object]) -> list[tuple[str, str, str]]:
    """(rule id, condition, cap) for each ``limit`` action of the rules."""
    from .ruleset import Limit, LoadedRule

    out = []
    for item in rules:
        assert isinstance(item, LoadedRule)
        for action in item.rule.then:
            if isinstance(action, Limit):
                caps = []
                if action.max_sets is not None:
                    caps.append(f"at most {action.max_sets} sets")
                if action.min_rest_seconds is not None:
                    caps.append(f"rest at least {action.min_rest_seconds} s")
                cats = "" if set(action.categories) == set(CATEGORIES) else f" ({', '.join(action.categories)})"
                out.append((item.id, item.rule.when.describe(), ", ".join(caps) + cats))
    return out
