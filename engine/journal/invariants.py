"""``backplan verify``, the journal's part: the progression invariants over every sequence of check-ins.

The rules see a check-in only through their conditions on it; the *classes* of check-in are the distinct
truth values of all those conditions over every possible check-in (``event_classes``: with the bundled
rules, five: a red flag with or without a flare, a flare, a clean session, and anything else). Every
sequence of classes is walked depth-first up to a bound, for each programme, with the plain-Python replay
(``progression.Replay``): once at the programme's own cadence (a session every ``7 // sessions a week``
days) up to ``cadence_bound`` check-ins, and once with a gap of 1 or 7 days before each check-in up to
``gap_bound``. At every check-in of every sequence the decision is checked against SPEC.md's contract,
written here independently of the rule files:

* a red flag so far => stop (at that check-in and every later one);
* else pain during > 5 or next-day pain >= usual + 2 at the latest check-in => regress (and, when the
  decision before was regress too, a consult warning);
* else at least (sessions a week x 2) check-ins in the last 14 days, the journal covering them, every one
  with pain during <= 3, next-day pain <= usual, done all and no symptom, no dose change decided in them,
  and the dose not yet at its ceiling => progress;
* else hold.

So never progress after a check-in with pain during > 3 in the window; the dose level stays within
[0, ceiling]. durable_rules itself is run on every sequence up to ``durable_bound`` check-ins and on every
97th longest sequence, with the replay as its guard (any disagreement is reported); each of those is run
twice, and the same sequence must give the same decisions. The doses of real plans are checked at every
level: never below the starting dose, never above the ceiling unless the start already was.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import EngineError
from ..intake import baseline_answers, parse_intake
from ..planner import RuleBook, recommend
from .progression import CheckIn, Progression, Replay, dose_ladder, progression_for, resolve
from .rules import EVENT_FIELDS, CompiledRule

INVARIANTS: dict[str, str] = {
    "red_flag_stops": "a red-flag symptom => stop, at that check-in and every later one",
    "flare_regresses": "pain during > 5 or next-day pain >= usual + 2 at the latest check-in => regress",
    "no_progress_after_pain": "never progress after a check-in in the window with pain during > 3",
    "clean_weeks_progress": "two clean weeks (sessions a week x 2 check-ins, covered, no change, below the "
    "ceiling) => progress; otherwise hold",
    "consult_twice": "regress twice in a row => a consult warning",
    "dose_in_bounds": "the dose level stays within [start, ceiling]; real plans' doses too",
    "engine_agrees": "durable_rules fires exactly what the replay fires (run on the sequences below)",
    "deterministic": "the same sequence gives the same decisions",
}
USUAL = 3  # the usual intensity of the answers the sequences are replayed for
WINDOW_DAYS = 14  # SPEC.md: two weeks
DURABLE_EVERY = 97
EXAMPLES = 3  # sequences kept per violated invariant


def _contract_class(event: Mapping[str, Any]) -> tuple[bool, ...]:
    """What SPEC.md's contract (``expected``) distinguishes in one check-in."""
    return (
        event["pain_during"] > 3,
        event["pain_during"] > 5,
        event["next_day_over_usual"] > 0,
        event["next_day_over_usual"] >= 2,
        event["done"] == "all",
        bool(event["symptom"]),
        bool(event["red_flag"]),
    )


def event_classes(progression: Progression, programme: str, contract: bool = False) -> list[dict[str, Any]]:
    """One check-in of each class the rules distinguish (``contract``: or SPEC.md's contract does): the
    distinct truth values of every condition on one check-in, over every check-in (at_ceiling is state, not
    part of a class)."""
    conditions = [cr for cr in progression.reference[programme]]
    predicates = [p for cr in conditions for p in (cr.latest, cr.every) if p is not None]
    seen: dict[tuple[bool, ...], dict[str, Any]] = {}
    for pain_during, pain_next_day, done, (symptom, red_flag) in itertools.product(
        range(11), range(11), EVENT_FIELDS["done"].values, ((False, False), (True, False), (True, True))
    ):
        event = {
            "pain_during": pain_during,
            "pain_next_day": pain_next_day,
            "next_day_over_usual": pain_next_day - USUAL,
            "done": done,
            "symptom": symptom,
            "red_flag": red_flag,
        }
        key = tuple(p({**event, "at_ceiling": c}) for p in predicates for c in (False, True))
        seen.setdefault(key + (_contract_class(event) if contract else ()), event)
    return list(seen.values())


@dataclass
class Report:
    programmes: dict[str, int] = field(default_factory=dict)  # programme -> classes the rules distinguish
    contract_classes: dict[str, int] = field(default_factory=dict)  # ... that the rules or the contract do
    sequences: int = 0  # check-in sequences decided (every prefix counts)
    durable: int = 0  # sequences run through durable_rules
    plans: int = 0  # plans whose doses were checked at every level
    bounds: tuple[int, int, int] = (0, 0, 0)
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.counts

    def merge(self, other: Report) -> None:
        self.programmes.update(other.programmes)
        self.contract_classes.update(other.contract_classes)
        self.sequences += other.sequences
        self.durable += other.durable
        self.plans += other.plans
        for name, n in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + n
        for name, kept in other.examples.items():
            mine = self.examples.setdefault(name, [])
            mine.extend(kept[: max(0, EXAMPLES - len(mine))])

    def fail(self, invariant: str, example: str) -> None:
        self.counts[invariant] = self.counts.get(invariant, 0) + 1
        kept = self.examples.setdefault(invariant, [])
        if len(kept) < EXAMPLES:
            kept.append(example)

    def render(self) -> str:
        cadence, gaps, durable = self.bounds
        classes = ", ".join(f"{p}: {n} classes" for p, n in self.programmes.items())
        contract = ", ".join(f"{p}: {n}" for p, n in self.contract_classes.items())
        lines = [
            f"Journal (progression rules): {'PASSED' if self.passed else 'FAILED'}",
            f"  every sequence of check-ins up to {cadence} at each programme's cadence and up to {gaps} with "
            f"gaps of 1 or 7 days ({classes}): {self.sequences} decisions checked",
            f"  every check-in class the rules or the contract tell apart ({contract}) at every place of a clean "
            "run and of a run ending in a flare, and every two of them after a clean run",
            f"  durable_rules run on {self.durable} sequences (every one up to {durable} check-ins, every "
            f"{DURABLE_EVERY}th longest), each twice; doses of {self.plans} plans checked at every level",
        ]
        width = max(len(n) for n in INVARIANTS)
        lines += [f"  {n:<{width}}  {self.counts.get(n, 0):>6}  {d}" for n, d in INVARIANTS.items()]
        for name, kept in self.examples.items():
            lines += [f"  {name}: {example}" for example in kept]
        return "\n".join(lines) + "\n"


def _show(events: Sequence[Mapping[str, Any]], decisions: Sequence[str]) -> str:
    parts = []
    for e, d in zip(events, decisions, strict=False):
        flags = ("R" if e["red_flag"] else "S" if e["symptom"] else "") + ("" if e["done"] == "all" else e["done"][0])
        parts.append(f"day {e['day'] - events[0]['day']}: {e['pain_during']}/{e['pain_next_day']}{flags}->{d}")
    return "; ".join(parts)


def expected(events: Sequence[Mapping[str, Any]], decisions: Sequence[str], level: int, top: int, count: int) -> str:
    """SPEC.md's contract for the decision at the latest check-in (``decisions``: those before it)."""
    latest = events[-1]
    if any(e["red_flag"] for e in events):
        return "stop"
    if latest["pain_during"] > 5 or latest["next_day_over_usual"] >= 2:
        return "regress"
    start = latest["day"] - (WINDOW_DAYS - 1)
    inside = [i for i, e in enumerate(events) if e["day"] >= start]
    clean = all(
        events[i]["pain_during"] <= 3
        and events[i]["next_day_over_usual"] <= 0
        and events[i]["done"] == "all"
        and not events[i]["symptom"]
        for i in inside
    )
    unchanged = all(decisions[i] not in ("progress", "regress") for i in inside[:-1])
    if events[0]["day"] <= start and len(inside) >= count and clean and unchanged and level < top:
        return "progress"
    return "hold"


class _Walk:
    def __init__(self, progression: Progression, programme: str, report: Report, top: int) -> None:
        self.progression = progression
        self.programme = programme
        self.report = report
        self.top = top
        self.rules: Mapping[str, CompiledRule] = progression.by_id[programme]
        self.count = max(2, progression.rules.sessions_per_week[programme] * 2)
        self.replay = Replay(progression.reference[programme])
        self.levels: list[int] = [0]
        self.advice: list[list[str]] = []

    def push(self, event: Mapping[str, Any]) -> None:
        seq = len(self.replay.events) + 1
        level = self.levels[-1]
        fact = {**event, "t": "checkin", "seq": seq, "at_ceiling": level >= self.top}
        fired = self.replay.push(fact)
        decision, _ = resolve(fired, self.rules)
        previous = list(self.replay.decisions)
        advice = self.replay.record(decision)
        new = min(self.top, max(0, level + {"progress": 1, "regress": -1}.get(decision, 0)))
        self.levels.append(new)
        self.advice.append(advice)
        self._check(decision, previous, level, new, advice)

    def pop(self) -> None:
        self.replay.pop()
        self.levels.pop()
        self.advice.pop()

    def _check(self, decision: str, previous: list[str], level: int, new: int, advice: list[str]) -> None:
        report = self.report
        report.sequences += 1
        events = self.replay.events
        want = expected(events, previous, level, self.top, self.count)

        def fail(name: str) -> None:
            report.fail(name, f"{self.programme}: {_show(events, [*previous, decision])} (contract: {want})")

        latest = events[-1]
        if want == "stop" and decision != "stop":
            fail("red_flag_stops")
        elif want == "regress" and decision != "regress":
            fail("flare_regresses")
        elif decision == "progress" and any(
            e["pain_during"] > 3 for e in events if e["day"] >= latest["day"] - (WINDOW_DAYS - 1)
        ):
            fail("no_progress_after_pain")
        elif decision != want:
            fail("clean_weeks_progress")
        warnings = [self.rules[r].item.rule.warn for r in advice]
        consult = any(w is not None and w.level == "consult" for w in warnings)
        if decision == "regress" and previous and previous[-1] == "regress" and not consult:
            fail("consult_twice")
        if not 0 <= new <= self.top:
            fail("dose_in_bounds")


def _walk(walk: _Walk, letters: Sequence[tuple[int, Mapping[str, Any]]], bound: int, day0: int) -> Iterator[list[int]]:
    """Depth-first over every sequence of ``letters`` (gap, class) up to ``bound``; yields the longest."""
    path: list[int] = []

    def go(day: int) -> Iterator[list[int]]:
        if len(path) == bound:
            yield list(path)
            return
        for index, (gap, event) in enumerate(letters):
            next_day = day + (gap if path else 0)
            walk.push({**event, "day": next_day})
            path.append(index)
            yield from go(next_day)
            path.pop()
            walk.pop()

    yield from go(day0)


def _durable(
    progression: Progression,
    programme: str,
    top: int,
    letters: Sequence[tuple[int, Mapping[str, Any]]],
    path: Sequence[int],
    report: Report,
) -> None:
    """Run one sequence through durable_rules (guarded by the replay) twice; the decisions must agree."""
    day = datetime.date(2024, 1, 1)
    checkins = []
    flags = []
    for n, index in enumerate(path):
        gap, event = letters[index]
        day = day + datetime.timedelta(days=gap if n else 0)
        checkins.append(
            CheckIn(
                day, event["pain_during"], event["pain_next_day"], event["done"], ("fever",) if event["symptom"] else ()
            )
        )
        flags.append(bool(event["red_flag"]))
    runs = []
    for _ in range(2):
        try:
            steps = progression.replay(programme, checkins, USUAL, flags, top, durable=True)
        except EngineError as exc:
            report.fail("engine_agrees", f"{programme}: {exc.line()}")
            return
        runs.append([s.decision for s in steps])
    report.durable += 1
    if runs[0] != runs[1]:
        report.fail("deterministic", f"{programme}: {runs[0]} then {runs[1]}")


def _doses(book: RuleBook, progression: Progression, report: Report) -> None:
    """Every programme x experience x activity, with and without pain: each dose at every level."""
    knowledge = book.knowledge
    for experience, active, pain in itertools.product(("beginner", "intermediate", "advanced"), (True, False), (0, 2)):
        answers = baseline_answers(knowledge)
        answers.update(experience=experience, active=active)
        if pain:
            answers["pain"] = {"status": "chronic", "intensity": pain, "radiates_to_leg": False}
        intake = parse_intake(answers, knowledge)
        plan = recommend(intake, book)
        ladder = dose_ladder(plan, intake, progression)
        report.plans += 1
        for ex_id, start in ladder.start.items():
            for level in range(ladder.top + 2):
                dose = ladder.dose(ex_id, min(level, ladder.top))
                cap = ladder.cap_sets[ex_id]
                if dose.sets < start.sets or dose.sets > max(start.sets, cap):
                    report.fail("dose_in_bounds", f"{experience}, active {active}, pain {pain}: {ex_id} {dose}")


def verify_journal(
    book: RuleBook,
    *,
    cadence_bound: int = 8,
    gap_bound: int = 5,
    durable_bound: int = 3,
    top: int = 1,
    workers: int = 1,
) -> Report:
    """Check the progression invariants (module docstring); the report says what was covered.

    ``workers`` > 1: one process per programme (each compiles its own rule book, as ``verify`` does)."""
    bounds = (cadence_bound, gap_bound, durable_bound, top)
    programmes = list(book.knowledge.programmes)
    if workers > 1 and len(programmes) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")  # never fork a process holding a durable Host
        args = [(book.rules.root, book.knowledge.root, p, bounds) for p in programmes]
        report = Report(bounds=(cadence_bound, gap_bound, durable_bound))
        with ProcessPoolExecutor(min(workers, len(programmes)), mp_context=context) as pool:
            for part in pool.map(_programme_in_worker, args):
                report.merge(part)
        _doses(book, progression_for(book), report)
        return report
    report = Report(bounds=(cadence_bound, gap_bound, durable_bound))
    for programme in programmes:
        _programme(book, programme, bounds, report)
    _doses(book, progression_for(book), report)
    return report


def _programme_in_worker(args: tuple[str, str, str, tuple[int, int, int, int]]) -> Report:
    from pathlib import Path

    from ..planner import load_rulebook

    rules_dir, knowledge_dir, programme, bounds = args
    report = Report(bounds=bounds[:3])
    _programme(load_rulebook(Path(rules_dir), Path(knowledge_dir)), programme, bounds, report)
    return report


def _programme(book: RuleBook, programme: str, bounds: tuple[int, int, int, int], report: Report) -> None:
    cadence_bound, gap_bound, durable_bound, top = bounds
    progression = progression_for(book)
    day0 = datetime.date(2024, 1, 1).toordinal()
    classes = event_classes(progression, programme)
    report.programmes[programme] = len(classes)
    cadence = max(1, 7 // progression.rules.sessions_per_week[programme])
    for letters, bound in (
        ([(cadence, c) for c in classes], cadence_bound),
        ([(gap, c) for gap in (1, 7) for c in classes], gap_bound),
    ):
        walk = _Walk(progression, programme, report, top)
        for n, path in enumerate(_walk(walk, letters, bound, day0)):
            if n % DURABLE_EVERY == 0:
                _durable(progression, programme, top, letters, path, report)
    short = [(cadence, c) for c in classes] + [(7, c) for c in classes]
    for length in range(1, durable_bound + 1):
        for combination in itertools.product(range(len(short)), repeat=length):
            _durable(progression, programme, top, short, combination, report)
    # Every class the contract tells apart too, at every place of a clean run and of a run ending in a flare,
    # and every two of them as the last two check-ins of a clean run (``report.contract_classes``).
    every = event_classes(progression, programme, contract=True)
    report.contract_classes[programme] = len(every)
    clean = {"pain_during": 0, "pain_next_day": 0, "next_day_over_usual": -USUAL, "done": "all"}
    clean.update(symptom=False, red_flag=False)
    run = [clean] * (2 * progression.rules.sessions_per_week[programme] + 2)
    walk = _Walk(progression, programme, report, top)
    for base in (run, [*run[:-1], {**clean, "pain_during": 6}]):
        for place in range(len(base)):
            for event in every:
                _sequence(walk, [*base[:place], event, *base[place + 1 :]], cadence, day0)
    for first, second in itertools.product(every, repeat=2):
        _sequence(walk, [*run, first, second], cadence, day0)


def _sequence(walk: _Walk, events: Sequence[Mapping[str, Any]], gap: int, day0: int) -> None:
    """Check one sequence (every prefix) at a fixed gap between check-ins."""
    for n, event in enumerate(events):
        walk.push({**event, "day": day0 + n * gap})
    for _ in events:
        walk.pop()


__all__ = ["INVARIANTS", "Report", "event_classes", "expected", "verify_journal"]
