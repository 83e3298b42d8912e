"""``backplan rules table``: the condition rules as a decision table a reviewer reads at a glance.

One row per medical condition in ``knowledge/conditions.toml``: the consult the rules give, the tags and
exercises they exclude, the exercises and tags they prefer, the rules that read the condition and their
sources. Built from the loaded rules themselves (every rule whose condition reads ``conditions.<id>``, or
a fact such a rule derives),
so the table cannot drift from what the planner does; the exclusions declared in ``conditions.toml``
are shown beside them, so a reviewer sees declaration and implementation side by side.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from .rulebook import RuleBook
from .ruleset import Derive, Exclude, Include, LoadedRule, Stop, Warn

COLUMNS: tuple[str, ...] = (
    "condition",
    "consult",
    "declared excluded tags",
    "excluded tags",
    "excluded exercises",
    "preferred",
    "rules",
    "sources",
)


@dataclass(frozen=True)
class Row:
    condition: str
    consult: tuple[str, ...]  # the consult or stop messages of the rules reading the condition
    declared_excluded_tags: tuple[str, ...]
    excluded_tags: tuple[str, ...]
    excluded_exercises: tuple[str, ...]
    preferred: tuple[str, ...]  # exercise ids, and "tag:<id>" for preferred tags
    rules: tuple[str, ...]
    sources: tuple[str, ...]  # as a reader finds them: title

    def cells(self) -> list[str]:
        return [
            self.condition,
            " / ".join(self.consult) or "-",
            ", ".join(self.declared_excluded_tags) or "-",
            ", ".join(self.excluded_tags) or "-",
            ", ".join(self.excluded_exercises) or "-",
            ", ".join(self.preferred) or "-",
            ", ".join(self.rules),
            "; ".join(self.sources),
        ]


def condition_table(book: RuleBook) -> list[Row]:
    """One row per condition, in the order of ``knowledge/conditions.toml``."""
    knowledge = book.knowledge
    rows: list[Row] = []
    for condition_id, condition in knowledge.conditions.items():
        reading = _reading(book, f"conditions.{condition_id}")
        consult: list[str] = []
        tags: set[str] = set()
        exercises: set[str] = set()
        preferred: list[str] = []
        for item in reading:
            for action in item.rule.then:
                if isinstance(action, (Warn, Stop)) and action.level in ("consult", "urgent"):
                    consult.append(action.message)
                elif isinstance(action, Exclude):
                    tags.update(action.tags)
                    exercises.update(action.exercises)
                elif isinstance(action, Include) and action.prefer:
                    preferred += [*action.exercises, *(f"tag:{t}" for t in action.tags)]
        sources = sorted({item.rule.source for item in reading})
        rows.append(
            Row(
                condition=condition_id,
                consult=tuple(consult),
                declared_excluded_tags=tuple(sorted(condition.exclude_tags)),
                excluded_tags=tuple(sorted(tags)),
                excluded_exercises=tuple(sorted(exercises)),
                preferred=tuple(dict.fromkeys(preferred)),
                rules=tuple(item.id for item in reading),
                sources=tuple(knowledge.sources[s].title if s in knowledge.sources else s for s in sources),
            )
        )
    return rows


def _reading(book: RuleBook, target: str) -> list[LoadedRule]:
    """The rules that read ``target``, directly or through a fact derived by such a rule, in rule order."""
    fields = {target}
    reading: list[LoadedRule] = []
    while True:
        found = [i for i in book.rules.rules if i not in reading and fields & set(i.rule.when.fields())]
        if not found:
            return [i for i in book.rules.rules if i in reading]
        reading += found
        fields |= {f"derived.{a.fact}" for i in found for a in i.rule.then if isinstance(a, Derive)}


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(rows: list[Row]) -> str:
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *("| " + " | ".join(_md_cell(c) for c in row.cells()) + " |" for row in rows),
    ]
    return "\n".join(lines) + "\n"


def to_csv(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(row.cells())
    return out.getvalue()
