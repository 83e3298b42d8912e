"""``backplan diff``: what a rule change changes for a cohort of intakes.

Each line of a JSON Lines file is one answers object. Every valid line is planned with the rules before
and after the change; the report lists the intakes whose outcome, programme, warnings (rule ids) or
planned exercises (ids) differ. Invalid lines are reported with their line numbers and skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ._tomlio import decode_text, read_bytes
from .errors import EngineError, InputError, IntakeError
from .intake import Intake, parse_answers_text, parse_intake
from .plan import Plan
from .planner import RuleBook, recommend

KINDS: tuple[str, ...] = ("outcome", "programme", "warnings", "exercises", "failure")


@dataclass(frozen=True)
class Side:
    """What one rule book made of one intake (or why it made nothing)."""

    outcome: str
    programme: str | None
    warnings: frozenset[str]
    exercises: frozenset[str]
    failure: str | None = None


@dataclass(frozen=True)
class IntakeChange:
    line: int
    before: Side
    after: Side

    @property
    def kinds(self) -> list[str]:
        b, a = self.before, self.after
        changed = {
            "outcome": b.outcome != a.outcome,
            "programme": b.programme != a.programme,
            "warnings": b.warnings != a.warnings,
            "exercises": b.exercises != a.exercises,
            "failure": b.failure != a.failure,
        }
        return [kind for kind in KINDS if changed[kind]]

    def describe(self) -> str:
        b, a = self.before, self.after
        parts: list[str] = []
        if "failure" in self.kinds:
            parts.append(f"failure {b.failure or 'none'} -> {a.failure or 'none'}")
        if "outcome" in self.kinds:
            parts.append(f"outcome {b.outcome} -> {a.outcome}")
        if "programme" in self.kinds:
            parts.append(f"programme {b.programme or 'none'} -> {a.programme or 'none'}")
        for kind in ("warnings", "exercises"):
            if kind in self.kinds:
                parts.append(f"{kind} {_set_change(getattr(b, kind), getattr(a, kind))}")
        return "; ".join(parts)


def _set_change(before: frozenset[str], after: frozenset[str]) -> str:
    return " ".join([*(f"+{x}" for x in sorted(after - before)), *(f"-{x}" for x in sorted(before - after))])


@dataclass(frozen=True)
class LineError:
    line: int
    message: str


@dataclass(frozen=True)
class DiffReport:
    file: str
    before: str  # rules folder and digest, for the header
    after: str
    intakes: int  # valid lines compared
    changes: list[IntakeChange]
    errors: list[LineError]

    def counts(self) -> dict[str, int]:
        return {kind: sum(kind in c.kinds for c in self.changes) for kind in KINDS}

    def render(self) -> str:
        counts = self.counts()
        lines = [
            f"Rule change diff for {self.file}",
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


def _side(intake: Intake, book: RuleBook) -> Side:
    try:
        plan: Plan = recommend(intake, book)
    except EngineError as exc:  # a change that breaks planning for someone is the most important change
        return Side("none", None, frozenset(), frozenset(), failure=f"internal error: {exc.message}")
    return Side(
        plan.screen.outcome,
        plan.programme,
        frozenset(w.rule for w in plan.warnings),
        frozenset(plan.exercise_ids()),
    )


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


def _label(book: RuleBook) -> str:
    return f"{book.rules.root} ({book.rules.digest[:19]})"
