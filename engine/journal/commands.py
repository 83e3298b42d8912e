"""The journal commands as library calls (``cli.py`` only parses options and prints what these return).

Order matters for "bad input writes nothing": everything typed is validated (answers, date, pains, done,
symptoms, person, journal location) before the journal is opened for writing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..intake import Intake, load_intake
from ..planner import RuleBook
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
