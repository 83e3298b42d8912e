"""``backplan diff``: what a change of rules or knowledge changes for a cohort of intakes.

Each line of a JSON Lines file is one answers object. Every valid line is planned by the rule book before
and after the change (each its own rules and knowledge folders); the report lists every intake whose plan
differs, and how: screen outcome, programme, warnings (added, removed, level), the words of any warning
or screen reason, exercises (added, removed), and, for an exercise in both plans, its dose, its
equipment and its cautions. Lines that are not valid answers for a side are reported with their line
numbers and skipped; ``backplan cohort`` writes a cohort with one intake for each class the rules
distinguish.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._tomlio import decode_text, read_bytes
from .errors import BackplanError, EngineError, InputError, IntakeError
from .intake import Intake, parse_answers_text, parse_intake
from .plan import Plan, PlannedExercise
from .planner import RuleBook, recommend
from .resources import default_knowledge_dir, default_rules_dir

KINDS: tuple[str, ...] = (
    "failure",
    "outcome",
    "programme",
    "warnings",
    "messages",
    "exercises",
    "doses",
    "equipment",
    "cautions",
    "excluded",
)
SHOWN_WORDS = 60  # characters of a changed message shown on each side


@dataclass(frozen=True)
class Dose:
    sets: int
    reps: str | None
    hold_seconds: int | None
    rest_seconds: int

    def __str__(self) -> str:
        amount = f"{self.sets} x {self.reps} reps" if self.reps else f"{self.sets} x {self.hold_seconds} s"
        return f"{amount}, rest {self.rest_seconds} s"


@dataclass(frozen=True)
class Side:
    """What one rule book made of one intake (or why it made nothing)."""

    outcome: str
    programme: str | None
    warnings: Mapping[str, str] = field(default_factory=dict)  # rule -> level
    messages: Mapping[str, str] = field(default_factory=dict)  # "warning rule" / "reason rule" -> words
    exercises: Mapping[str, Dose] = field(default_factory=dict)
    equipment: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    cautions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    excluded: frozenset[str] = frozenset()
    failure: str | None = None

    @classmethod
    def of(cls, plan: Plan) -> Side:
        planned: list[PlannedExercise] = [e for s in plan.sessions for e in s.exercises]
        messages = {f"warning {w.rule}": w.message for w in plan.warnings}
        messages.update({f"reason {r.rule}": r.message for r in plan.screen.reasons})
        return cls(
            outcome=plan.screen.outcome,
            programme=plan.programme,
            warnings={w.rule: w.level for w in plan.warnings},
            messages=messages,
            exercises={e.id: Dose(e.sets, e.reps, e.hold_seconds, e.rest_seconds) for e in planned},
            equipment={e.id: e.equipment for e in planned},
            cautions={e.id: e.cautions for e in planned},
            excluded=frozenset(x.id for x in plan.excluded),
        )


def _added_removed(before: Sequence[str] | frozenset[str], after: Sequence[str] | frozenset[str]) -> list[str]:
    return [*(f"+{x}" for x in sorted(set(after) - set(before))), *(f"-{x}" for x in sorted(set(before) - set(after)))]


def _short(text: str) -> str:
    return repr(text if len(text) <= SHOWN_WORDS else text[: SHOWN_WORDS - 1] + "…")


def _in_both(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in before.keys() & after.keys() if before[k] != after[k])


def _describe_kind(kind: str, b: Side, a: Side) -> str:
    if kind == "failure":
        return f"failure {b.failure or 'none'} -> {a.failure or 'none'}"
    if kind in ("outcome", "programme"):
        return f"{kind} {getattr(b, kind) or 'none'} -> {getattr(a, kind) or 'none'}"
    if kind == "warnings":
        parts = _added_removed(list(b.warnings), list(a.warnings))
        parts += [f"{r} {b.warnings[r]} -> {a.warnings[r]}" for r in _in_both(b.warnings, a.warnings)]
        return "warnings " + " ".join(parts)
    if kind == "messages":
        changed = _in_both(b.messages, a.messages)
        return "messages " + ", ".join(f"{k}: {_short(b.messages[k])} -> {_short(a.messages[k])}" for k in changed)
    if kind == "exercises":
        return "exercises " + " ".join(_added_removed(list(b.exercises), list(a.exercises)))
    if kind == "doses":
        changed = _in_both(b.exercises, a.exercises)
        return "doses " + ", ".join(f"{x} {b.exercises[x]} -> {a.exercises[x]}" for x in changed)
    if kind == "equipment":
        changed = _in_both(b.equipment, a.equipment)
        return "equipment " + ", ".join(
            f"{x} {'+'.join(b.equipment[x]) or 'none'} -> {'+'.join(a.equipment[x]) or 'none'}" for x in changed
        )
    if kind == "cautions":
        changed = _in_both(b.cautions, a.cautions)
        return "cautions " + ", ".join(
            f"{x} " + " ".join(_added_removed(b.cautions[x], a.cautions[x]) or ["(order)"]) for x in changed
        )
    assert kind == "excluded", kind
    return "excluded " + " ".join(_added_removed(b.excluded, a.excluded))


@dataclass(frozen=True)
class IntakeChange:
    line: int
    before: Side
    after: Side

    @property
    def kinds(self) -> list[str]:
        b, a = self.before, self.after
        changed = {
            "failure": b.failure != a.failure,
            "outcome": b.outcome != a.outcome,
            "programme": b.programme != a.programme,
            "warnings": b.warnings != a.warnings,
            "messages": bool(_in_both(b.messages, a.messages)),
            "exercises": b.exercises.keys() != a.exercises.keys(),
            "doses": bool(_in_both(b.exercises, a.exercises)),
            "equipment": bool(_in_both(b.equipment, a.equipment)),
            "cautions": bool(_in_both(b.cautions, a.cautions)),
            "excluded": b.excluded != a.excluded,
        }
        return [kind for kind in KINDS if changed[kind]]

    def describe(self) -> str:
        return "; ".join(_describe_kind(kind, self.before, self.after) for kind in self.kinds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "kinds": self.kinds,
            "changes": [_describe_kind(kind, self.before, self.after) for kind in self.kinds],
        }


@dataclass(frozen=True)
class LineError:
    line: int
    message: str


@dataclass(frozen=True)
class DiffReport:
    file: str
    before: str  # rules and knowledge folders with their digests, for the header
    after: str
    intakes: int  # valid lines compared
    changes: list[IntakeChange]
    errors: list[LineError]

    def counts(self) -> dict[str, int]:
        return {kind: sum(kind in c.kinds for c in self.changes) for kind in KINDS}

    def render(self) -> str:
        counts = self.counts()
        lines = [
            f"Diff for {self.file}",
            f"  before: {self.before}",
            f"  after:  {self.after}",
            "",
            f"{self.intakes} intakes compared, {len(self.changes)} changed"
            + (f", {len(self.errors)} invalid lines skipped" if self.errors else ""),
            "  " + ", ".join(f"{kind} {n}" for kind, n in counts.items() if kind != "failure" or n),
        ]
        if self.changes:
            lines += ["", "Changed intakes:"]
            lines += [f"  line {c.line}: {c.describe()}" for c in self.changes]
        if self.errors:
            lines += ["", "Invalid lines (skipped):"]
            lines += [f"  line {e.line}: {e.message}" for e in self.errors]
        return "\n".join(lines) + "\n"

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "before": self.before,
            "after": self.after,
            "intakes": self.intakes,
            "counts": self.counts(),
            "changes": [c.as_dict() for c in self.changes],
            "errors": [{"line": e.line, "message": e.message} for e in self.errors],
        }


def load_side(option: str, load: Callable[[], RuleBook]) -> RuleBook:
    """Load one side's rule book; an error names the side (``--before`` or ``--after``) first."""
    try:
        return load()
    except BackplanError as exc:
        raise type(exc)(
            exc.message,
            file=f"{option}: {exc.file}" if exc.file else option,
            location=exc.location,
            rule=exc.rule,
            suggestion=exc.suggestion,
        ) from None


def _side(intake: Intake, book: RuleBook) -> Side:
    try:
        plan = recommend(intake, book)
    except EngineError as exc:  # a change that breaks planning for someone is the most important change
        return Side("none", None, failure=f"internal error: {exc.message}")
    return Side.of(plan)


def _parse(line: str, where: str, books: Sequence[RuleBook]) -> list[Intake]:
    if not line.strip():
        raise IntakeError("empty line", file=where)
    data = parse_answers_text(line, file=where, fmt="json")
    return [parse_intake(data, book.knowledge, file=where, resumable=False) for book in books]


def diff_cohort(intakes: Path, before: RuleBook, after: RuleBook) -> DiffReport:
    """Plan every valid line with both rule books; report the intakes whose plans differ."""
    path = Path(intakes)
    text = decode_text(read_bytes(path, IntakeError), str(path), IntakeError)
    changes: list[IntakeChange] = []
    errors: list[LineError] = []
    compared = 0
    for number, line in enumerate(_lines(text), 1):
        try:
            old, new = _parse(line, f"{path}:{number}", (before, after))
        except InputError as exc:
            errors.append(LineError(number, _without_file(exc)))
            continue
        compared += 1
        change = IntakeChange(number, _side(old, before), _side(new, after))
        if change.kinds:
            changes.append(change)
    return DiffReport(str(path), _label(before), _label(after), compared, changes, errors)


def _lines(text: str) -> list[str]:
    """Lines split at "\n" only: JSON may hold U+2028 and friends raw inside strings (splitlines breaks there)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    return [line.removesuffix("\r") for line in lines]


def _without_file(exc: InputError) -> str:
    # The line number is shown beside the message; the file name is in the header.
    return type(exc)(exc.message, location=exc.location, rule=exc.rule, suggestion=exc.suggestion).line()


def _folder(root: str, bundled: Path) -> str:
    return "bundled" if Path(root).resolve() == bundled.resolve() else root


def _label(book: RuleBook) -> str:
    rules = _folder(book.rules.root, default_rules_dir())
    knowledge = _folder(book.knowledge.root, default_knowledge_dir())
    return f"rules {rules} ({book.rules.digest[:19]}), knowledge {knowledge} ({book.knowledge.digest[:19]})"
