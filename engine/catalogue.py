"""Reading the catalogue and the rules the way a reviewer does: filters and plain descriptions."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import InputError, closest
from .knowledge import CATEGORIES, LEVELS, Exercise, Knowledge
from .rulebook import RuleBook
from .ruleset import AddCaution, ChooseProgramme, Derive, Exclude, Include, Limit, Prescribe, Stop, Warn


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _check(value: str | None, valid: list[str], option: str, names: dict[str, str] | None = None) -> str | None:
    """The id ``value`` stands for: an id or a name, in any case, with spaces or hyphens ("Pull-up bar",
    "BEGINNER"); bad input with a "did you mean" (ids and names) otherwise."""
    if value is None:
        return None
    lookup = {_slug(v): v for v in valid}
    for ident, name in (names or {}).items():
        lookup.setdefault(_slug(name), ident)
    key = _slug(value)
    if key in lookup:
        return lookup[key]
    hit = closest(key, lookup)
    raise InputError(f"unknown value '{value}'", location=option, suggestion=lookup[hit] if hit else None)


def filter_exercises(
    knowledge: Knowledge,
    *,
    equipment: str | None = None,
    tag: str | None = None,
    level: str | None = None,
    muscle: str | None = None,
    category: str | None = None,
) -> list[Exercise]:
    """Catalogue entries matching every given filter, in catalogue order."""
    equipment = _check(
        equipment, ["none", *knowledge.equipment], "--equipment", {k: v.name for k, v in knowledge.equipment.items()}
    )
    tag = _check(tag, list(knowledge.tags), "--tag", {k: v.name for k, v in knowledge.tags.items()})
    level = _check(level, list(LEVELS), "--level")
    muscle = _check(muscle, list(knowledge.muscles), "--muscle", {k: v.name for k, v in knowledge.muscles.items()})
    category = _check(category, list(CATEGORIES), "--category")
    out = []
    for ex in knowledge.exercises.values():
        if equipment == "none" and ex.equipment:
            continue
        if equipment not in (None, "none") and ex.equipment_for([equipment]) is None:
            continue
        if tag and tag not in ex.tags:
            continue
        if level and ex.level != level:
            continue
        if muscle and muscle not in ex.muscles:
            continue
        if category and ex.category != category:
            continue
        out.append(ex)
    return out


def rules_selecting(exercise: Exercise, book: RuleBook) -> list[tuple[str, str]]:
    """(rule id, "include"/"prefer"/"exclude") for every rule whose include or exclude selects the exercise."""
    out = []
    for item in book.rules.rules:
        for action in item.rule.then:
            if isinstance(action, (Include, Exclude)) and action.selected((exercise,)):
                verb = "exclude" if isinstance(action, Exclude) else ("prefer" if action.prefer else "include")
                out.append((item.id, verb))
    return list(dict.fromkeys(out))


def describe_action(action: object) -> str:
    if isinstance(action, Stop):
        return f"STOP the plan ({action.level}): {action.message}"
    if isinstance(action, Warn):
        return f"warn ({action.level}): {action.message}"
    if isinstance(action, (Exclude, Include)):
        what = [
            f"{name} {', '.join(getattr(action, name))}"
            for name in ("exercises", "tags", "categories")
            if getattr(action, name)
        ]
        verb = "exclude" if isinstance(action, Exclude) else ("prefer" if action.prefer else "include")
        return f"{verb} {'; '.join(what)} — {action.reason}"
    if isinstance(action, AddCaution):
        chosen = [
            f"{n} {', '.join(getattr(action, n))}" for n in ("exercises", "tags", "categories") if getattr(action, n)
        ]
        return f"caution on {'; '.join(chosen)}: {action.text} — {action.reason}"
    if isinstance(action, ChooseProgramme):
        return f"choose the {action.programme} programme"
    if isinstance(action, Derive):
        return f"derive the fact derived.{action.fact} for later stages"
    if isinstance(action, Prescribe):
        parts = [
            f"{n.replace('_', ' ')} {getattr(action, n)}"
            for n in ("sets", "reps", "rest_seconds")
            if getattr(action, n) is not None
        ]
        return f"prescribe for {', '.join(action.categories)}: {', '.join(parts)}"
    if isinstance(action, Limit):
        parts = [
            f"{n.replace('_', ' ')} {getattr(action, n)}"
            for n in ("max_sets", "min_rest_seconds")
            if getattr(action, n) is not None
        ]
        return f"limit {', '.join(parts)} — {action.reason}"
    raise TypeError(type(action).__name__)  # pragma: no cover - the action set is closed


def _relative(file: str, root: str) -> str:
    """A rule file as a path inside its rules folder (the same on every machine)."""
    try:
        return Path(file).relative_to(root).as_posix()
    except ValueError:
        return file


def describe_rule(rule_id: str, book: RuleBook) -> str:
    rules = book.rules.by_id()
    if rule_id not in rules:
        raise InputError(f"unknown rule id '{rule_id}'", location="rule", suggestion=closest(rule_id, rules))
    item = rules[rule_id]
    r = item.rule
    source = book.knowledge.sources[r.source]
    lines = [
        f"{r.id}: {r.title}",
        f"  file:     {_relative(item.file, book.rules.root)}",
        f"  stage:    {r.stage}, priority {r.priority} (lower fires first)",
        f"  when:     {r.when.describe()}",
        "  then:",
        *[f"    - {describe_action(a)}" for a in r.then],
        f"  why:      {' '.join(r.rationale.split())}",
        f"  source:   {r.source} — {source.title} ({source.reference})",
    ]
    return "\n".join(lines)
