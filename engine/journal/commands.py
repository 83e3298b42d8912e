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
from .progression import CheckIn, Outcome, make_checkin, progress, progression_for

# The store (SQLAlchemy, a quarter of a second to import) is imported by the commands that use it: `plan`
# must not pay for the database.


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
    count, outcome = record_checkin(intake, item, person, journal, book)
    return (
        f"recorded {item.date} for {person} ({count} check-ins); "
        f"decision now: {outcome.decision} ({', '.join(outcome.because)}); see `backplan progress`\n"
    )


def record_checkin(
    intake: Intake, item: CheckIn, person: str, journal: str | None, book: RuleBook
) -> tuple[int, Outcome]:
    """Record a validated check-in for validated answers; the number of check-ins and the decision now.
    The person, the journal location and the progression rules are checked before anything is written."""
    from .store import check_person, open_journal, resolve

    check_person(person)
    resolve(journal)
    progression_for(book)  # the progression rules load and check before anything is written
    with open_journal(journal, create=True) as store:
        store.record(person, item)
        items = store.checkins(person)
    return len(items), progress(intake, items, book)


def load(answers: Path, person: str, journal: str | None, book: RuleBook) -> tuple[Intake, Outcome]:
    """The answers and the decision over the person's check-ins (nothing is created or written)."""
    intake = load_intake(answers, book.knowledge)
    return intake, outcome_of(intake, person, journal, book)


def outcome_of(intake: Intake, person: str, journal: str | None, book: RuleBook) -> Outcome:
    """The decision over the person's check-ins for validated answers (nothing is created or written)."""
    from .store import check_person, open_journal

    check_person(person)
    with open_journal(journal, create=False) as store:
        items = store.checkins(person)
    return progress(intake, items, book)


def explain_journal(intake: Intake, book: RuleBook, person: str, journal: str | None) -> list[str]:
    from .store import check_person, open_journal

    check_person(person)
    with open_journal(journal, create=False) as store:
        items = store.checkins(person)
    from .report import trace_lines

    return trace_lines(progress(intake, items, book), progression_for(book))


def export_json(person: str, journal: str | None) -> str:
    from .store import check_person, export, open_journal

    check_person(person)
    with open_journal(journal, create=False) as store:
        return json.dumps(export(store, person), indent=2) + "\n"


def delete(person: str, journal: str | None) -> str:
    from .store import check_person, open_journal

    check_person(person)
    with open_journal(journal, create=False) as store:
        removed = store.delete(person)
        where = store.target.shown
    return f"deleted {removed} check-ins of {person} from {where}\n"


# --- the progression rules in `rules check`, `rules list` and `rules show` --------------------------------


def has_progression(book: RuleBook) -> bool:
    from .rules import progression_dir

    return progression_dir(book.rules.root).is_dir()


def check(ruleset: RuleSet, knowledge: Knowledge) -> str:
    """``rules check``, for plan rules it has just checked: the progression rules' summary (``RuleError`` on
    the first defect). A rules folder without ``progression/`` is fine: the journal is then unavailable.
    That the rules keep SPEC.md's contract is ``verify``'s part (``invariants``)."""
    from .rules import load_progression, progression_dir

    if not progression_dir(ruleset.root).is_dir():
        return "no progression rules (the journal commands are unavailable)"
    return f"{len(load_progression(ruleset, knowledge).rules)} progression rules"


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
