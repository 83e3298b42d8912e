"""Safety properties of the real engine on generated intakes (hypothesis), taken from the declarations.

What an answer must do to a plan is declared once, in ``knowledge/screening.toml`` and
``knowledge/conditions.toml`` (``engine.obligations``), and each programme's excluded tags in
``knowledge/programmes.toml``. Here every declaration whose premise holds for a generated intake is
checked on the plan the engine actually makes (durable_rules, not the solver that ``rules check``
uses): a stop stops with a warning of at least its level, a consult or caution gives such a warning,
excluded tags are never planned; and, converse, nothing stops where no declaration says to. Plus the
rest of SPEC.md "What the screen decides": the shape of a stopped plan, pain -> gentle, no urgent
warning beside a plan, the coherence of pain limits, and byte-identical JSON for the same answers.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import engine
from engine.facts import intake_fact
from engine.obligations import Obligation, obligations, programme_obligations
from engine.ruleset import LEVEL_ORDER, Stop
from tests.conftest import RED_FLAG_QUESTIONS
from tests.conftest import answers as base_answers
from tests.strategies import NO_PAIN, answers, answers_where

# Module-level, not the ``book`` fixture: hypothesis would print the whole rule book with a failing example.
BOOK = engine.load_rulebook()
_K = BOOK.knowledge
OBLIGATIONS: list[Obligation] = obligations(_K)
STOPS: list[Obligation] = [o for o in OBLIGATIONS if o.is_stop]
PROGRAMME_EXCLUSIONS: dict[str, set[str]] = {o.subject: set(o.meaning.exclude_tags) for o in programme_obligations(_K)}
GENTLE, STRENGTH = "gentle", "strength"  # SPEC.md: any pain -> gentle, no pain -> strength

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def at_least(level: str, wanted: str) -> bool:
    """``level`` is ``wanted`` or more urgent (urgent > consult > caution > info)."""
    return LEVEL_ORDER.index(level) <= LEVEL_ORDER.index(wanted)


# --- pain limits in the plan's words ----------------------------------------------------------------------

# A phrase that sets the highest pain a person may train at, and that limit from the number it names:
# "above 5/10 stop" -> 5, "at 3/10 or less" -> 3, "below 4/10" -> 3.
_N = r"(\d{1,2})\s*/\s*10"
PAIN_LIMITS: list[tuple[re.Pattern[str], int]] = [
    (re.compile(rf"\b(?:above|over|more than|higher than|beyond|exceeds?)\s+{_N}", re.I), 0),
    (re.compile(rf"{_N}\s+or\s+(?:less|lower|below|under)\b", re.I), 0),
    (re.compile(rf"\b(?:at most|no more than|up to|not above|not over|max(?:imum)?(?: of)?)\s+{_N}", re.I), 0),
    (re.compile(rf"\b(?:below|under|less than|lower than)\s+{_N}", re.I), -1),
]


def pain_limits(text: str) -> list[int]:
    """Every pain limit ``text`` sets, as the highest pain it allows (one per number, whatever words match)."""
    found: dict[int, int] = {}
    for pattern, shift in PAIN_LIMITS:
        for m in pattern.finditer(text):
            found.setdefault(m.start(1), int(m.group(1)) + shift)
    return [found[at] for at in sorted(found)]


@pytest.mark.parametrize(
    ("text", "limits"),
    [
        ("Keep pain during exercise at 3/10 or less; at 4-5/10 ease off, above 5/10 stop.", [5, 3]),
        ("Stop if the pain goes over 6/10.", [6]),
        ("Keep the pain below 4/10 and no more than 2 / 10 the next day.", [2, 3]),
        ("Your back pain is strong (6/10 or more): see a doctor.", []),
        ("Stop if it rises 2 points or more above usual.", []),
    ],
)
def test_pain_limits_are_read_from_messages(text: str, limits: list[int]) -> None:
    assert sorted(pain_limits(text)) == sorted(limits)


def _instructions(plan: engine.Plan) -> list[str]:
    """What the plan tells the person: warnings, the screen's reasons and each exercise's steps."""
    texts = [w.message for w in plan.warnings] + [r.message for r in plan.screen.reasons]
    return texts + [step for session in plan.sessions for ex in session.exercises for step in ex.steps]


# --- the checks -------------------------------------------------------------------------------------------


def _plan(book: engine.RuleBook, data: dict[str, Any]) -> tuple[engine.Intake, engine.Plan, dict[str, Any]]:
    intake = engine.parse_intake(data, book.knowledge)
    return intake, engine.recommend(intake, book), intake_fact(intake, book.knowledge)


def _planned_tags(book: engine.RuleBook, plan: engine.Plan) -> dict[str, set[str]]:
    return {ex_id: set(book.knowledge.exercises[ex_id].tags) for ex_id in plan.exercise_ids()}


def check_obligation(book: engine.RuleBook, ob: Obligation, plan: engine.Plan) -> None:
    """The plan does what the declaration ``ob`` says (its premise holds)."""
    m = ob.meaning
    levels = [w.level for w in plan.warnings]
    if m.decision == "stop":
        assert m.level is not None
        assert plan.screen.outcome == "stop", f"{ob.label} must stop the plan"
        assert any(at_least(level, m.level) for level in levels), f"{ob.label}: no {m.level} warning: {levels}"
    else:
        # A stopped plan carries an urgent or consult warning anyway (checked in check_plan).
        assert any(at_least(level, m.decision) for level in levels), f"{ob.label}: no {m.decision} warning: {levels}"
        if m.decision == "consult":
            assert plan.screen.outcome in ("consult", "stop"), f"{ob.label}: outcome {plan.screen.outcome}"
    banned = set(m.exclude_tags)
    for ex_id, tags in _planned_tags(book, plan).items():
        assert not banned & tags, f"{ob.label} leaves out {sorted(banned & tags)}, but {ex_id} is planned"


def check_plan(book: engine.RuleBook, intake: engine.Intake, plan: engine.Plan, fact: dict[str, Any]) -> None:
    """Every declaration whose premise holds, and the plan-wide invariants of SPEC.md."""
    knowledge = book.knowledge
    rules = book.rules.by_id()
    fired = {entry.rule for entry in plan.trace}
    stop = plan.screen.outcome == "stop"
    pain = intake.pain.status != NO_PAIN

    holding = [ob for ob in OBLIGATIONS if ob.premise.holds(fact)]
    for ob in holding:
        check_obligation(book, ob, plan)
    # Converse: only a declared stop stops (e.g. a cancer history without back pain is a consult).
    assert stop == any(ob.is_stop for ob in holding), [ob.label for ob in holding if ob.is_stop]
    if any(intake.screening[q] for q in RED_FLAG_QUESTIONS):  # a red flag on its own stops
        assert stop

    for warning in plan.warnings:
        assert warning.rule in fired
    # Coherence: no plan tells a person to stop at a pain level their own answers already exceed.
    for text in _instructions(plan):
        for limit in pain_limits(text):
            assert intake.pain.intensity <= limit, (
                f"usual pain {intake.pain.intensity}/10, but the plan limits training pain to {limit}/10: {text}"
            )
    if stop:
        # No exercises and no advice about how to exercise: only the stop warnings, urgent or consult.
        assert plan.programme is None and plan.sessions == () and plan.exercise_ids() == []
        assert plan.sessions_per_week is None and plan.excluded == ()
        assert plan.warnings, "a stopped plan must say what to do instead"
        for warning in plan.warnings:
            assert warning.level in ("urgent", "consult"), warning
            stops = [a for a in rules[warning.rule].rule.then if isinstance(a, Stop)]
            assert any(a.message == warning.message and a.level == warning.level for a in stops), (
                f"a stopped plan carries a warning that is not a stop: {warning.rule}: {warning.message}"
            )
        assert plan.screen.reasons and {r.rule for r in plan.screen.reasons} <= {w.rule for w in plan.warnings}
        return

    # A plan: the programme the pain decides, never beside an urgent warning, with exercises.
    assert plan.programme is not None
    if pain:
        assert plan.programme == GENTLE, (intake.pain, plan.programme)
    elif not (intake.pain.radiates_to_leg or intake.screening.get("night_pain")):
        # The rules also read leg pain and constant night pain as pain (rules/route/programme.toml).
        assert plan.programme == STRENGTH, (intake.pain, plan.programme)
    assert plan.sessions_per_week == knowledge.programmes[plan.programme].sessions_per_week
    assert plan.exercise_ids(), "a plan without exercises"
    assert not [w for w in plan.warnings if w.level == "urgent"], "an urgent warning beside a plan"
    serious = [w for w in plan.warnings if w.level == "consult"]
    assert plan.screen.outcome == ("consult" if serious else "clear")
    assert [r.rule for r in plan.screen.reasons] == [w.rule for w in serious]

    excluded = {item.id for item in plan.excluded}
    banned = PROGRAMME_EXCLUSIONS.get(plan.programme, set())
    for session in plan.sessions:
        for ex in session.exercises:
            catalogue = knowledge.exercises[ex.id]
            assert set(ex.equipment) <= set(intake.equipment)  # equipment owned
            assert catalogue.equipment_for(intake.equipment) is not None
            assert ex.id not in excluded  # exclusion beats inclusion
            assert not catalogue.never_recommend
            assert ex.because and set(ex.because) <= fired  # cites the rules that fired
            assert not banned & set(catalogue.tags), f"{ex.id} in the {plan.programme} programme"


# --- the properties ---------------------------------------------------------------------------------------


@SETTINGS
@given(data=answers(red_flag_rate=0.15))
def test_safety_invariants(data: dict[str, Any]) -> None:
    check_plan(BOOK, *_plan(BOOK, data))


@SETTINGS
@given(data=answers(red_flag_rate=0.02))
def test_safety_invariants_few_flags(data: dict[str, Any]) -> None:
    """Mostly plans, not stops: the exclusions, doses and pain limits are checked on real plans."""
    check_plan(BOOK, *_plan(BOOK, data))


def _most_reps(reps: str) -> int:
    """The top of a reps range: "8-12" -> 12, "10 each side" -> 10."""
    return int(re.findall(r"\d+", reps)[:2][-1])


def _over_catalogue(plan: engine.Plan) -> list[str]:
    """Each planned dose above the catalogue's default for that exercise (sets, top of the reps, hold)."""
    out = []
    for session in plan.sessions:
        for ex in session.exercises:
            default = _K.exercises[ex.id].prescription
            if ex.sets > default.sets:
                out.append(f"{ex.id}: {ex.sets} sets, catalogue {default.sets}")
            if ex.reps and default.reps and _most_reps(ex.reps) > _most_reps(default.reps):
                out.append(f"{ex.id}: {ex.reps} reps, catalogue {default.reps}")
            if ex.hold_seconds and default.hold_seconds and ex.hold_seconds > default.hold_seconds:
                out.append(f"{ex.id}: {ex.hold_seconds} s hold, catalogue {default.hold_seconds} s")
    return out


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(data=answers(red_flag_rate=0.0))
def test_gentle_dose_never_exceeds_the_catalogue(data: dict[str, Any]) -> None:
    """SPEC.md coherence: a gentle dose never exceeds the catalogue's default dose for that exercise."""
    _, plan, _ = _plan(BOOK, data)
    if plan.programme == GENTLE:
        assert _over_catalogue(plan) == []


def _doses(plan: engine.Plan) -> dict[str, tuple[Any, ...]]:
    return {
        ex.id: (ex.sets, ex.reps, ex.hold_seconds, ex.rest_seconds)
        for session in plan.sessions
        for ex in session.exercises
    }


@settings(max_examples=40, deadline=None, derandomize=True)
@given(data=answers(red_flag_rate=0.02))
def test_inactive_people_get_the_beginner_volume(data: dict[str, Any]) -> None:
    """SPEC.md: active = false -> the beginner level of volume whatever the stated experience."""
    data = {**data, "active": False}
    _, stated, _ = _plan(BOOK, data)
    _, beginner, _ = _plan(BOOK, {**data, "experience": "beginner"})
    ours, theirs = _doses(stated), _doses(beginner)
    assert {ex: ours[ex] for ex in ours if ex in theirs} == {ex: theirs[ex] for ex in ours if ex in theirs}


@pytest.mark.parametrize("ob", OBLIGATIONS, ids=lambda o: f"{o.kind}-{o.subject}-{o.meaning.decision}")
def test_each_declared_meaning(ob: Obligation) -> None:
    """Each declaration on intakes made to satisfy its premise (the rare ones included)."""

    @FEW
    @given(data=answers_where(ob.premise, red_flag_rate=0.02))
    def holds(data: dict[str, Any]) -> None:
        intake, plan, fact = _plan(BOOK, data)
        assume(ob.premise.holds(fact))
        check_obligation(BOOK, ob, plan)
        check_plan(BOOK, intake, plan, fact)

    holds()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=answers(), seed=st.integers(0, 2**16))
def test_deterministic(data: dict[str, Any], seed: int) -> None:
    """The same answers give byte-identical JSON: evaluated twice, and with keys and lists reordered."""
    _, first, _ = _plan(BOOK, data)
    _, second, _ = _plan(BOOK, data)
    assert first.to_json() == second.to_json()
    rng = random.Random(seed)
    _, third, _ = _plan(BOOK, _reordered(data, rng))
    assert third.to_json() == first.to_json()


def _reordered(value: Any, rng: random.Random) -> Any:
    """The same answers with every table's keys and every list's items in another order."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {k: _reordered(value[k], rng) for k in keys}
    if isinstance(value, list):
        items = list(value)
        rng.shuffle(items)
        return items
    return value


@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=answers())
def test_answers_round_trip_through_toml(data: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    intake = engine.parse_intake(data, _K)
    path = tmp_path_factory.mktemp("rt") / "a.toml"
    path.write_text(engine.intake_to_toml(intake, _K), encoding="utf-8")
    assert engine.load_intake(path, _K) == intake
    assert engine.parse_intake(json.loads(json.dumps(intake.to_answers())), _K) == intake


def test_no_state_leaks_between_evaluations(book: engine.RuleBook) -> None:
    clean = engine.parse_intake(base_answers(), book.knowledge)
    flagged = engine.parse_intake(base_answers(screening__fever=True), book.knowledge)
    first = engine.recommend(clean, book).to_json()
    assert engine.recommend(flagged, book).screen.outcome == "stop"
    assert engine.recommend(clean, book).to_json() == first
