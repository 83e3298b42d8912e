"""The journal commands as library calls (``cli.py`` only parses options and prints what these return).

Order matters for "bad input writes nothing": everything typed is validated (answers, date, pains, done,
symptoms, person, journal location) before the journal is opened for writing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..intake import Intake, load_intake
from ..knowledge import Knowledge
from ..planner import RuleBook
from ..ruleset import RuleSet
from .progression import Outcome, make_checkin, progress, progression_for
from .report import trace_lines
from .store import check_person, export, open_journal, resolve


def record(
    answers: Path,
    *,
    date: str,
    pain_during: str,
    pain_next_day: str,
    done: str,
    symptoms: Sequence[str],
    person: str,
    journal: str | None,
    book: RuleBook,
) -> str:
    """Record one check-in; the line to print (what was recorded and the decision now)."""
    intake = load_intake(answers, book.knowledge)
    item = make_checkin(date, pain_during, pain_next_day, done, symptoms, book.knowledge)
    check_person(person)
    resolve(journal)
    progression_for(book)  # the progression rules load and check before anything is written
    with open_journal(journal, create=True) as store:
        store.record(person, item)
        items = store.checkins(person)
    outcome = progress(intake, items, book)
    return (
        f"recorded {item.date} for {person} ({len(items)} check-ins); "
        f"decision now: {outcome.decision} ({', '.join(outcome.because)}); see `backplan progress`\n"
    )


def load(answers: Path, person: str, journal: str | None, book: RuleBook) -> tuple[Intake, Outcome]:
    """The answers and the decision over the person's check-ins (nothing is created or written)."""
    intake = load_intake(answers, book.knowledge)
    check_person(person)
    with open_journal(journal, create=False) as store:
        items = store.checkins(person)
    return intake, progress(intake, items, book)


def explain_journal(intake: Intake, book: RuleBook, person: str, journal: str | None) -> list[str]:
    check_person(person)
    with open_journal(journal, create=False) as store:
        items = store.checkins(person)
    return trace_lines(progress(intake, items, book), progression_for(book))


def export_json(person: str, journal: str | None) -> str:
    check_person(person)
    with open_journal(journal, create=False) as store:
        return json.dumps(export(store, person), indent=2) + "\n"


def delete(person: str, journal: str | None) -> str:
    check_person(person)
    with open_journal(journal, create=False) as store:
        removed = store.delete(person)
        where = store.target.shown
    return f"deleted {removed} check-ins of {person} from {where}\n"


# --- the progression rules in `rules check`, `rules list` and `rules show` --------------------------------


def has_progression(book: RuleBook) -> bool:
    from .rules import progression_dir

    return progression_dir(book.rules.root).is_dir()


def check(ruleset: RuleSet, knowledge: Knowledge) -> tuple[str, list[str]]:
    """``rules check``, for plan rules it has just checked: the summary, and one line per broken invariant
    (a quick bounded walk; ``verify`` walks further). A rules folder without ``progression/`` is fine: the
    journal is then unavailable."""
    from ..compiler import compile_stages
    from ..durable_host import DurableEvaluator
    from .invariants import verify_journal

    book = RuleBook(knowledge, ruleset, DurableEvaluator(compile_stages(ruleset.rules)))
    if not has_progression(book):
        return "no progression rules (the journal commands are unavailable)", []
    progression = progression_for(book)  # loads and checks the files: RuleError on the first defect
    report = verify_journal(book, cadence_bound=5, gap_bound=3, durable_bound=1)
    root = progression.rules.root
    lines = [f"{root}: {name}: {example}" for name, kept in report.examples.items() for example in kept]
    return f"{len(progression.rules.rules)} progression rules", lines


def list_lines(book: RuleBook) -> list[str]:
    """``rules list`` rows for the progression rules, in priority order."""
    if not has_progression(book):
        return []
    rules = progression_for(book).rules
    return [f"{r.id:<34} {'journal':<7} {r.rule.priority:>4}  {r.rule.title} [{r.rule.source}]" for r in rules.rules]


def describe_rule(rule_id: str, book: RuleBook) -> str | None:
    """``rules show`` for a progression rule; None when ``rule_id`` is not one."""
    from .report import describe

    if not has_progression(book):
        return None
    rules = progression_for(book).rules
    if rule_id not in rules.by_id():
        return None
    source = book.knowledge.sources[rules.by_id()[rule_id].rule.source]
    return describe(rule_id, rules, source.title, source.reference)
