"""Deciding the next step from the person's check-ins: durable_rules over the stream, guarded by a replay.

The check-ins are events. In date order, each is asserted into one durable_rules session (its fields:
pain during and next day, the next-day pain over the usual intensity, done, symptom, red flag, whether the
dose is already at its ceiling); the rules fired by its arrival are the *decide* phase. Of those, the rule
with the lowest priority decides (ties: the more cautious decision). The decision is asserted back into
the session as a ``step`` fact, which fires the *advise* phase (rules that read ``decided``) and lets later
check-ins correlate with it ("the decision before", "no change in the window"). A journal fact (the first
check-in's day) is asserted first. durable_rules does the matching; what is decided from its firings is
plain Python here, as for plans (``planner``).

Every firing is checked against ``Replay``: the same rules evaluated in plain Python over the same history
(``rules.compile_reference``). Any disagreement is an ``EngineError``: no decision and no plan (exit 1).

The dose: level 0 is the plan as ``backplan plan`` makes it; each ``progress`` is one step up, each
``regress`` one step down, never below 0 (the starting dose) nor past the level where every dose has
reached its ceiling (``DoseLadder``).
"""

from __future__ import annotations

import contextlib
import datetime
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..dosing import DOSING_PREFIX, dose_for, level_of, top_reps
from ..durable_host import DurableEvaluator
from ..errors import EngineError, InputError, closest
from ..facts import intake_fact
from ..intake import Intake, parse_intake
from ..knowledge import Knowledge
from ..obligations import Obligation, stop_obligations
from ..plan import Plan, PlannedExercise, PlanWarning, Session
from ..planner import RuleBook, recommend
from ..ruleset import Limit
from .rules import (
    CHANGES,
    CHECKIN,
    DECISIONS,
    JOURNAL,
    STEP,
    CompiledRule,
    ProgressionRules,
    compile_reference,
    compile_stage,
    load_progression,
    stage_name,
)


@dataclass(frozen=True)
class CheckIn:
    """One recorded training session."""

    date: datetime.date
    pain_during: int
    pain_next_day: int
    done: str  # all | some | none
    symptoms: tuple[str, ...] = ()  # screening questions that have become "yes" since the intake

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "pain_during": self.pain_during,
            "pain_next_day": self.pain_next_day,
            "done": self.done,
            "symptoms": list(self.symptoms),
        }


DONE = ("all", "some", "none")


def check_symptoms(symptoms: Iterable[str], knowledge: Knowledge) -> tuple[str, ...]:
    """The symptom keys, each a screening question (``InputError`` with the closest one otherwise)."""
    out: list[str] = []
    for key in symptoms:
        if key not in knowledge.screening:
            raise InputError(
                f"unknown symptom '{key}': name a screening question",
                location="--symptom",
                suggestion=closest(key, knowledge.screening),
            )
        out.append(key)
    return tuple(sorted(set(out)))


@dataclass(frozen=True)
class Step:
    """What was decided at one check-in."""

    seq: int
    checkin: CheckIn
    fact: Mapping[str, Any]  # the event as the rules saw it
    decision: str
    because: tuple[str, ...]  # the decision rules that chose it, then the advice rules that fired
    fired: tuple[str, ...]  # every rule that fired, decide phase then advise phase
    level: int  # the dose level after this check-in
    red_flags: tuple[Obligation, ...] = ()  # the declared stops that hold with the symptoms reported so far


def resolve(fired: Sequence[str], rules: Mapping[str, CompiledRule]) -> tuple[str, tuple[str, ...]]:
    """The decision of the fired decision rules: lowest priority first, then the more cautious; its rules."""
    deciders = [rules[r].item.rule for r in fired if rules[r].item.rule.decision is not None]
    if not deciders:
        raise EngineError("no progression rule decided for this check-in (the rule set needs a rule for every case)")
    best = min(deciders, key=lambda r: (r.priority, DECISIONS.index(r.decision or "hold")))
    chosen = [r for r in deciders if r.decision == best.decision]
    ordered = sorted(chosen, key=lambda r: (r.priority, r.id))
    return str(best.decision), tuple(r.id for r in ordered)


class Replay:
    """The reference semantics: every rule evaluated in plain Python over the history so far.

    ``push`` adds the next check-in and returns what each phase fires; ``record`` adds the decision taken;
    ``pop`` takes the last check-in back (``verify`` walks every sequence depth-first with it)."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self.rules = tuple(rules)
        self.events: list[Mapping[str, Any]] = []
        self.decisions: list[str] = []

    def push(self, event: Mapping[str, Any]) -> list[str]:
        self.events.append(event)
        return [cr.item.id for cr in self.rules if cr.item.rule.phase == "decide" and self._holds(cr, None)]

    def record(self, decision: str) -> list[str]:
        """The decision at the latest check-in; the advice rules it fires."""
        fired = [cr.item.id for cr in self.rules if cr.item.rule.phase == "advise" and self._holds(cr, decision)]
        self.decisions.append(decision)
        return fired

    def pop(self) -> None:
        self.events.pop()
        if len(self.decisions) > len(self.events):
            self.decisions.pop()

    def _holds(self, cr: CompiledRule, current: str | None) -> bool:
        events, decisions = self.events, self.decisions
        k = len(events) - 1
        latest = events[k]
        rule = cr.item.rule
        if cr.latest is not None and not cr.latest(latest):
            return False
        if rule.previous and (k == 0 or decisions[k - 1] not in rule.previous):
            return False
        if rule.decided and current not in rule.decided:
            return False
        window = rule.window
        if window is not None:
            assert cr.every is not None
            start = latest["day"] - (window.days - 1)
            if events[0]["day"] > start:  # the journal does not cover the window
                return False
            if k + 1 < cr.count or events[k + 1 - cr.count]["day"] < start:  # too few check-ins in it
                return False
            for j in range(k, -1, -1):
                if events[j]["day"] < start:
                    break
                if not cr.every(events[j]):
                    return False
                if window.unchanged and j < k and decisions[j] in CHANGES:
                    return False
        return True


def event_fact(seq: int, checkin: CheckIn, usual: int, red_flag: bool, at_ceiling: bool) -> dict[str, Any]:
    return {
        "t": CHECKIN,
        "seq": seq,
        "day": checkin.date.toordinal(),
        "pain_during": checkin.pain_during,
        "pain_next_day": checkin.pain_next_day,
        "next_day_over_usual": checkin.pain_next_day - usual,
        "done": checkin.done,
        "symptom": bool(checkin.symptoms),
        "red_flag": red_flag,
        "at_ceiling": at_ceiling,
    }


class Progression:
    """The progression rules of one rule book, compiled for durable_rules (one ruleset per programme)."""

    def __init__(self, book: RuleBook) -> None:
        self.book = book
        self.rules: ProgressionRules = book.progression or load_progression(book.rules, book.knowledge)
        programmes = list(book.knowledge.programmes)
        self.reference = {p: compile_reference(self.rules, p) for p in programmes}
        self.by_id = {p: {cr.item.id: cr for cr in self.reference[p]} for p in programmes}
        self.evaluator = DurableEvaluator(
            {stage_name(p): compile_stage(self.rules, p) for p in programmes},
            namespace="backplan_journal",
            seen_field="t",
        )
        self.stops = stop_obligations(book.knowledge)

    def red_flags(self, intake: Intake, symptoms: Iterable[str]) -> tuple[Obligation, ...]:
        """The declared stops (knowledge/screening.toml) that hold once these symptoms are answered yes."""
        fact = intake_fact(with_symptoms(intake, symptoms, self.book.knowledge), self.book.knowledge)
        return tuple(o for o in self.stops if o.premise.holds(fact))

    def run(self, programme: str, checkins: Sequence[CheckIn], intake: Intake, ladder: DoseLadder) -> list[Step]:
        """Decide at every check-in, in date order (``checkins`` must be sorted, one a day)."""
        usual = intake.pain.intensity
        flags: list[tuple[Obligation, ...]] = []
        reported: set[str] = set()
        current = self.red_flags(intake, ())
        for checkin in checkins:
            if not reported.issuperset(checkin.symptoms):  # the answers changed: ask the declarations again
                reported.update(checkin.symptoms)
                current = self.red_flags(intake, reported)
            flags.append(current)
        return self.replay(programme, checkins, usual, [bool(f) for f in flags], ladder.top, flags)

    def replay(
        self,
        programme: str,
        checkins: Sequence[CheckIn],
        usual: int,
        red_flags: Sequence[bool],
        top: int,
        flags: Sequence[tuple[Obligation, ...]] | None = None,
        durable: bool = True,
    ) -> list[Step]:
        """The steps for events already classified (``verify`` calls this with ``durable`` on or off)."""
        rules = self.by_id[programme]
        reference = Replay(self.reference[programme])
        steps: list[Step] = []
        level = 0
        if not checkins:
            return steps
        with self.evaluator.stream(stage_name(programme)) if durable else contextlib.nullcontext() as stream:
            if stream is not None:
                _agree(stream.assert_fact({"t": JOURNAL, "first_day": checkins[0].date.toordinal()}), [], "journal")
            for index, checkin in enumerate(checkins):
                seq = index + 1
                fact = event_fact(seq, checkin, usual, red_flags[index], level >= top)
                expected = reference.push(fact)
                if stream is not None:
                    _agree(stream.assert_fact(fact), expected, f"check-in {checkin.date}")
                decision, because = resolve(expected, rules)
                advice = reference.record(decision)
                if stream is not None:
                    step_fact = {
                        "t": STEP,
                        "seq": seq,
                        "day": fact["day"],
                        "decision": decision,
                        "changed": decision in CHANGES,
                    }
                    _agree(stream.assert_fact(step_fact), advice, f"decision at {checkin.date}")
                level = min(top, max(0, level + {"progress": 1, "regress": -1}.get(decision, 0)))
                steps.append(
                    Step(
                        seq=seq,
                        checkin=checkin,
                        fact=fact,
                        decision=decision,
                        because=because + tuple(advice),
                        fired=tuple(expected + advice),
                        level=level,
                        red_flags=flags[index] if flags is not None else (),
                    )
                )
        return steps


def _agree(fired: Sequence[str], expected: Sequence[str], where: str) -> None:
    if set(fired) != set(expected):
        missing, extra = sorted(set(expected) - set(fired)), sorted(set(fired) - set(expected))
        raise EngineError(
            f"rule engine disagreement in the progression rules at {where}: not fired {missing}, "
            f"unexpectedly fired {extra}"
        )


def with_symptoms(intake: Intake, symptoms: Iterable[str], knowledge: Knowledge) -> Intake:
    """The intake with these screening questions answered yes (the person's answers now)."""
    symptoms = set(symptoms)
    if not symptoms:
        return intake
    answers = intake.to_answers()
    answers["screening"] = {**answers["screening"], **{s: True for s in symptoms}}
    return parse_intake(answers, knowledge)


_CACHE: dict[int, Progression] = {}
_CACHE_LOCK = threading.Lock()


def progression_for(book: RuleBook) -> Progression:
    """The compiled progression rules of a rule book (one durable Host per book: built once)."""
    with _CACHE_LOCK:
        found = _CACHE.get(id(book))
        if found is None or found.book is not book:
            found = _CACHE[id(book)] = Progression(book)
        return found


# --- doses -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dose:
    sets: int
    reps: str | None


@dataclass
class DoseLadder:
    """Each progressable exercise's dose at every level: level 0 the starting dose, one step per level,
    each part capped at its ceiling (never lowered below the start by a ceiling under it)."""

    start: dict[str, Dose] = field(default_factory=dict)
    cap_sets: dict[str, int] = field(default_factory=dict)
    cap_reps: dict[str, int | None] = field(default_factory=dict)
    sets_step: int = 0
    reps_step: int = 0
    top: int = 0  # the first level at which no dose grows any more
    ceiling_steps: dict[str, tuple[str, ...]] = field(default_factory=dict)  # the dosing steps of each ceiling

    def dose(self, exercise: str, level: int) -> Dose:
        start = self.start[exercise]
        sets = max(start.sets, min(start.sets + level * self.sets_step, self.cap_sets[exercise]))
        return Dose(sets, _reps(start.reps, level * self.reps_step, self.cap_reps[exercise]))


def _reps(reps: str | None, add: int, cap: int | None) -> str | None:
    if reps is None or cap is None or not add:
        return reps
    text, side = (reps[: -len(" each side")], " each side") if reps.endswith(" each side") else (reps, "")
    bounds = [int(n) for n in text.split("-")]
    grown = [max(n, min(n + add, cap)) for n in bounds]
    shown = str(grown[0]) if len(grown) == 1 or grown[0] == grown[1] else f"{grown[0]}-{grown[1]}"
    return shown + side


def dose_ladder(plan: Plan, intake: Intake, progression: Progression) -> DoseLadder:
    """The ladder for this plan: which exercises step, by how much, up to which ceiling."""
    book, rules = progression.book, progression.rules
    dosing = rules.dosing
    knowledge = book.knowledge
    table = knowledge.dosing
    level = level_of(intake.experience, intake.active, table)  # someone not yet active: the beginner volume
    plan_rules = book.rules.by_id()
    fired = {e.rule for e in plan.trace}
    derived = frozenset(plan.derived)
    ladder = DoseLadder(sets_step=dosing.sets_step, reps_step=dosing.reps_step)
    top = 0
    for session in plan.sessions:
        for ex in session.exercises:
            entry = knowledge.exercises[ex.id]
            if entry.category not in dosing.categories or ex.id in ladder.start:
                continue
            # The ceiling: the strength programme's own dose of this exercise for this person.
            ceiling = dose_for(entry, "strength", level, intake.goal, 0, table, derived)
            cap = ceiling.sets
            for rule_id in fired:  # the plan rules' caps (moderate intensity, severe pain) stay caps
                for action in plan_rules[rule_id].rule.then:
                    if isinstance(action, Limit) and entry.category in action.categories and action.max_sets:
                        cap = min(cap, action.max_sets)
            cap_reps = top_reps(ceiling.reps) if ceiling.reps else None
            ladder.start[ex.id] = Dose(ex.sets, ex.reps)
            ladder.cap_sets[ex.id] = cap
            ladder.cap_reps[ex.id] = cap_reps
            ladder.ceiling_steps[ex.id] = tuple(f"{DOSING_PREFIX}{step}" for step in ceiling.steps)
            top = max(top, _steps(ex.sets, cap, dosing.sets_step), _rep_steps(ex.reps, cap_reps, dosing.reps_step))
    ladder.top = top
    return ladder


def _steps(start: int, cap: int, step: int) -> int:
    return -(-(cap - start) // step) if step and cap > start else 0


def _rep_steps(reps: str | None, cap: int | None, step: int) -> int:
    if reps is None or cap is None or not step:
        return 0
    top = int(reps.removesuffix(" each side").split("-")[-1])
    return _steps(top, cap, step)


def adjust(plan: Plan, ladder: DoseLadder, level: int, dosed_by: Sequence[str]) -> Plan:
    """The plan with every progressable dose at ``level``; changed exercises cite ``dosed_by``."""
    if level == 0 or not ladder.start:
        return plan
    sessions = []
    for session in plan.sessions:
        exercises: list[PlannedExercise] = []
        for ex in session.exercises:
            if ex.id in ladder.start:
                dose = ladder.dose(ex.id, level)
                if (dose.sets, dose.reps) != (ex.sets, ex.reps):
                    ex = ex.model_copy(
                        update={
                            "sets": dose.sets,
                            "reps": dose.reps,
                            "dosed_by": tuple(dict.fromkeys([*ex.dosed_by, *ladder.ceiling_steps[ex.id], *dosed_by])),
                        }
                    )
            exercises.append(ex)
        sessions.append(Session(name=session.name, exercises=tuple(exercises), stretch_minutes=session.stretch_minutes))
    return plan.model_copy(update={"sessions": tuple(sessions)})


# --- the whole answer ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What ``backplan progress`` shows: the decision, its rules, the check-ins and the adjusted plan."""

    decision: str
    because: tuple[str, ...]
    steps: tuple[Step, ...]
    plan: Plan
    start_plan: Plan
    ladder: DoseLadder

    def to_dict(self) -> dict[str, Any]:
        import json

        return {
            "decision": self.decision,
            "because": list(self.because),
            "checkins": len(self.steps),
            "plan": json.loads(self.plan.to_json()),
        }

    def to_json(self) -> str:
        import json

        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"


def progress(intake: Intake, checkins: Sequence[CheckIn], book: RuleBook) -> Outcome:
    """The decision after these check-ins (any order; one per date) and the plan with the adjusted doses."""
    progression = progression_for(book)
    ordered = sorted(checkins, key=lambda c: c.date)
    if len({c.date for c in ordered}) != len(ordered):
        raise InputError("two check-ins on the same date: the journal keeps one a day")
    symptoms = sorted({s for c in ordered for s in c.symptoms})
    start_plan = recommend(intake, book)
    plan = recommend(with_symptoms(intake, symptoms, book.knowledge), book) if symptoms else start_plan
    if plan.programme is None:  # stopped (by the intake, or by a symptom): nothing to dose
        ladder = DoseLadder()
        programme = start_plan.programme or next(iter(book.knowledge.programmes))
    else:
        ladder = dose_ladder(plan, intake, progression)
        programme = plan.programme
    steps = progression.run(programme, ordered, intake, ladder)
    if not steps:
        stopped = plan.screen.outcome == "stop"
        because = tuple(r.rule for r in plan.screen.reasons) if stopped else ()
        return Outcome("stop" if stopped else "hold", because, (), plan, start_plan, ladder)
    last = steps[-1]
    if (last.decision == "stop") != (plan.screen.outcome == "stop"):
        raise EngineError(
            f"the progression rules decided {last.decision} but the screen of the answers with the reported "
            f"symptoms says {plan.screen.outcome}: refusing to answer"
        )
    warnings = list(_advice(last, progression))
    changes = [r for s in steps if s.decision in CHANGES for r in s.because if r in progression.by_id[programme]]
    adjusted = adjust(plan, ladder, last.level, list(dict.fromkeys(changes)))
    if warnings:
        adjusted = adjusted.model_copy(update={"warnings": tuple(warnings) + adjusted.warnings})
    return Outcome(last.decision, last.because, tuple(steps), adjusted, start_plan, ladder)


def _advice(step: Step, progression: Progression) -> Iterable[PlanWarning]:
    """Warnings for the latest step: the screen's own advice for a red flag, and the advice rules' warnings."""
    knowledge = progression.book.knowledge
    rules = progression.rules.by_id()
    if step.decision == "stop":
        rule = step.because[0] if step.because else "progression"
        for ob in step.red_flags:
            if ob.kind == "question":
                q = knowledge.screening[ob.subject]
                text = (
                    f"New since your intake: {q.short}. "
                    + (f"{ob.meaning.note[0].upper()}{ob.meaning.note[1:]}. " if ob.meaning.note else "")
                    + q.help
                )
                source = q.source
            else:
                f = knowledge.findings[ob.subject]
                text, source = f.description, f.source
            assert ob.meaning.level is not None
            yield PlanWarning(rule=rule, level=ob.meaning.level, message=text, source=source)
        return
    for rule_id in step.because:
        item = rules.get(rule_id)
        if item is not None and item.rule.warn is not None:
            yield PlanWarning(
                rule=rule_id, level=item.rule.warn.level, message=item.rule.warn.message, source=item.rule.source
            )


def parse_date(text: str) -> datetime.date:
    """A calendar date written YYYY-MM-DD (``InputError`` otherwise)."""
    import re

    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text or ""):
        raise InputError(f"'{text}' is not a date: write YYYY-MM-DD", location="--date")
    try:
        return datetime.date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"'{text}' is not a date: {exc}", location="--date") from None


def parse_pain(text: str, option: str) -> int:
    """A pain score 0..10, written as a whole number."""
    value = text.strip() if isinstance(text, str) else str(text)
    if not value.isdigit() or not 0 <= int(value) <= 10:
        raise InputError(f"pain is a whole number from 0 to 10, got '{text}'", location=option)
    return int(value)


def make_checkin(
    date: str, pain_during: str, pain_next_day: str, done: str, symptoms: Iterable[str], knowledge: Knowledge
) -> CheckIn:
    """A check-in from what was typed, every part validated (``InputError`` naming the option)."""
    day = parse_date(date)
    during = parse_pain(pain_during, "--pain-during")
    next_day = parse_pain(pain_next_day, "--pain-next-day")
    if done not in DONE:
        raise InputError(
            f"'{done}' is not one of: {', '.join(DONE)}", location="--done", suggestion=closest(done, DONE)
        )
    return CheckIn(day, during, next_day, done, check_symptoms(symptoms, knowledge))
