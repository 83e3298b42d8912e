"""Scenario files: a reviewer's answers plus what the plan must (and must not) contain.

A scenario is a TOML file (docs/scenarios.md): ``name``, ``description``, optional ``source``, an
``[answers]`` table and an ``[expect]`` table. ``[answers]`` states only what differs from the documented
baseline person (``baseline_answers``: 35, beginner, active, no equipment, no condition, no pain, every
screening question in ``knowledge/`` answered no), so a question added to the knowledge touches no
scenario file. ``run_scenarios`` evaluates every file in a folder and reports, per file, exactly what
differed, plus the rules no scenario makes fire and the declared meanings (``obligations``) no scenario
exercises. A malformed file is an input error naming the file and the key; it never counts as a failed
scenario.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from ._tomlio import load_toml_file, pydantic_to_error
from .errors import EngineError, InputError, IntakeError, closest
from .facts import NO_PROGRAMME, intake_fact
from .intake import Intake, baseline_answers, parse_intake
from .knowledge import Knowledge
from .obligations import Obligation, obligations
from .planner import Evaluation, RuleBook, evaluate
from .ruleset import LEVEL_ORDER, ChooseProgramme, Derive, LoadedRule, Stop, Warn


def merge_answers(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied: tables merge key by key (recursively), anything else replaces."""
    out = dict(base)
    for key, value in changes.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = merge_answers(old, value)
        else:
            out[key] = value
    return out


def scenario_answers(changes: Mapping[str, Any], knowledge: Knowledge) -> dict[str, Any]:
    """The complete answers a scenario's ``[answers]`` table stands for (not yet validated)."""
    return merge_answers(baseline_answers(knowledge), changes)


class Expect(BaseModel):
    """What the plan must show; every key is optional, but at least one must be given."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    outcome: Literal["clear", "consult", "stop"] | None = None
    programme: StrictStr | None = None  # a programme id, or "none" when the screen stops
    exercises_include: tuple[StrictStr, ...] = ()
    exercises_exclude: tuple[StrictStr, ...] = ()
    warnings_include: tuple[StrictStr, ...] = ()  # rule ids that must give a warning
    warnings_exclude: tuple[StrictStr, ...] = ()
    rules_fired: tuple[StrictStr, ...] = ()
    rules_not_fired: tuple[StrictStr, ...] = ()
    excluded_tags: tuple[StrictStr, ...] = ()  # no planned exercise carries any of these tags
    highest_warning: Literal["urgent", "consult", "caution", "info"] | None = None  # the most serious level
    # The training journal (with the scenario's [[checkin]] entries): the decision and rules it must cite.
    decision: Literal["progress", "hold", "regress", "stop"] | None = None
    decision_because: tuple[StrictStr, ...] = ()

    def given(self) -> list[str]:
        return [name for name in type(self).model_fields if getattr(self, name) not in (None, ())]


class CheckinEntry(BaseModel):
    """One check-in of a scenario's journal (``backplan checkin``'s options)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    date: datetime.date
    pain_during: StrictInt = Field(ge=0, le=10)
    pain_next_day: StrictInt = Field(ge=0, le=10)
    done: Literal["all", "some", "none"] = "all"
    symptoms: tuple[StrictStr, ...] = ()


class ScenarioFile(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    name: StrictStr = Field(min_length=3)
    description: StrictStr = Field(min_length=10)
    source: StrictStr | None = None
    answers: dict[str, Any] = Field(default_factory=dict)  # only what differs from the baseline
    checkin: tuple[CheckinEntry, ...] = ()  # a training journal, in any order (one a date)
    expect: Expect


@dataclass(frozen=True)
class Scenario:
    file: str
    name: str
    description: str
    source: str | None
    answers: Mapping[str, Any]  # as written: what differs from the baseline
    intake: Intake  # the baseline with those changes, validated
    expect: Expect
    checkins: tuple[Any, ...] = ()  # engine.journal.progression.CheckIn, validated


# --- loading and validation ----------------------------------------------------------------------------


def load_scenario(path: Path, book: RuleBook) -> Scenario:
    """Read and validate one scenario file against the rule book's knowledge and rule ids."""
    file = str(path)
    try:
        data = ScenarioFile.model_validate(load_toml_file(Path(path), InputError))
    except ValidationError as exc:
        raise pydantic_to_error(exc, model=ScenarioFile, file=file, error=InputError) from None
    knowledge = book.knowledge
    if data.source is not None and data.source not in knowledge.sources:
        raise InputError(
            f"unknown source '{data.source}'",
            file=file,
            location="source",
            suggestion=closest(data.source, knowledge.sources),
        )
    _check_expect(data.expect, book, file)
    intake = _intake(data.answers, book, file)
    checkins = _checkins(data, book, file)
    return Scenario(file, data.name, data.description, data.source, data.answers, intake, data.expect, checkins)


def _checkins(data: ScenarioFile, book: RuleBook, file: str) -> tuple[Any, ...]:
    """The scenario's journal, and the journal expectations checked against the progression rules."""
    if not data.checkin and data.expect.decision is None and not data.expect.decision_because:
        return ()
    from .journal.progression import CheckIn, check_symptoms, progression_for

    rules = list(progression_for(book).rules.by_id())
    for index, rule in enumerate(data.expect.decision_because):
        _known(rule, rules, "progression rule id", f"expect.decision_because[{index}]", file)
    out = []
    seen: set[datetime.date] = set()
    for index, entry in enumerate(data.checkin):
        if entry.date in seen:
            raise InputError(f"a second check-in on {entry.date}", file=file, location=f"checkin[{index}].date")
        seen.add(entry.date)
        try:
            symptoms = check_symptoms(entry.symptoms, book.knowledge)
        except InputError as exc:
            raise InputError(
                exc.message, file=file, location=f"checkin[{index}].symptoms", suggestion=exc.suggestion
            ) from None
        out.append(CheckIn(entry.date, entry.pain_during, entry.pain_next_day, entry.done, symptoms))
    return tuple(out)


def _intake(answers: Mapping[str, Any], book: RuleBook, file: str) -> Intake:
    """The baseline with the scenario's changes, validated like any answers file (unknown keys refused)."""
    try:
        return parse_intake(scenario_answers(answers, book.knowledge), book.knowledge, file=file, resumable=False)
    except IntakeError as exc:  # say where in the scenario file: under [answers]
        location = f"answers.{exc.location}" if exc.location else "answers"
        raise IntakeError(exc.message, file=file, location=location, suggestion=exc.suggestion) from None


def _check_expect(expect: Expect, book: RuleBook, file: str) -> None:
    if not expect.given():
        raise InputError("give at least one expectation", file=file, location="expect")
    programmes = [NO_PROGRAMME, *book.knowledge.programmes]
    if expect.programme is not None and expect.programme not in programmes:
        raise InputError(
            f"unknown programme '{expect.programme}' (one of: {', '.join(programmes)})",
            file=file,
            location="expect.programme",
            suggestion=closest(expect.programme, programmes),
        )
    _check_ids(expect, book, file)
    tags = list(book.knowledge.tags)
    for index, tag in enumerate(expect.excluded_tags):
        _known(tag, tags, "tag", f"expect.excluded_tags[{index}]", file)
    for a, b in (
        ("exercises_include", "exercises_exclude"),
        ("warnings_include", "warnings_exclude"),
        ("rules_fired", "rules_not_fired"),
    ):
        both = sorted(set(getattr(expect, a)) & set(getattr(expect, b)))
        if both:
            raise InputError(f"'{both[0]}' is in both {a} and {b}", file=file, location=f"expect.{b}")


def _check_ids(expect: Expect, book: RuleBook, file: str) -> None:
    """Every exercise and rule id an expectation names exists (warnings: only rules that can warn)."""
    rules = book.rules.by_id()
    warners = {i for i, r in rules.items() if any(isinstance(a, (Warn, Stop)) for a in r.rule.then)}
    for key in (
        "exercises_include",
        "exercises_exclude",
        "warnings_include",
        "warnings_exclude",
        "rules_fired",
        "rules_not_fired",
    ):
        what, valid = (
            ("exercise", list(book.knowledge.exercises)) if key.startswith("exercises") else ("rule", list(rules))
        )
        for index, ident in enumerate(getattr(expect, key)):
            where = f"expect.{key}[{index}]"
            _known(ident, valid, f"{what} id", where, file)
            if key.startswith("warnings") and ident not in warners:
                raise InputError(
                    f"rule '{ident}' never gives a warning (no warn or stop action)", file=file, location=where
                )


def _known(name: str, valid: list[str], what: str, where: str, file: str) -> None:
    """``InputError`` "unknown WHAT 'NAME'" at ``where``, with the closest valid name, unless ``name`` is valid."""
    if name not in valid:
        raise InputError(f"unknown {what} '{name}'", file=file, location=where, suggestion=closest(name, valid))


def load_scenarios(folder: Path, book: RuleBook) -> list[Scenario]:
    """Every ``*.toml`` under ``folder`` (sorted by path); raises on the first malformed file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("scenarios folder not found", file=str(folder))
    paths = sorted(p for p in folder.rglob("*.toml") if p.is_file())
    if not paths:
        raise InputError("no scenario files (*.toml) found", file=str(folder))
    scenarios: list[Scenario] = []
    names: dict[str, str] = {}
    for path in paths:
        scenario = load_scenario(path, book)
        if scenario.name in names:
            raise InputError(
                f"duplicate scenario name (also in {names[scenario.name]})", file=str(path), location="name"
            )
        names[scenario.name] = str(path)
        scenarios.append(scenario)
    return scenarios


# --- running ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    file: str
    passed: bool
    failures: list[str]  # one line per difference, saying what was expected and what came out
    fired: frozenset[str]


def run_scenario(scenario: Scenario, book: RuleBook) -> ScenarioResult:
    try:
        evaluation = evaluate(scenario.intake, book)
    except EngineError as exc:  # the engine refused this intake: the scenario fails, the run goes on
        failures = [f"no plan: internal error: {exc.line()}"]
        return ScenarioResult(scenario.name, scenario.file, False, failures, frozenset())
    failures = differences(scenario.expect, evaluation, book.knowledge)
    if scenario.checkins or scenario.expect.decision is not None or scenario.expect.decision_because:
        failures += _journal_differences(scenario, book)
    fired = frozenset(e.rule for e in evaluation.plan.trace)
    return ScenarioResult(scenario.name, scenario.file, not failures, failures, fired)


def differences(expect: Expect, evaluation: Evaluation, knowledge: Knowledge) -> list[str]:
    """Every way the evaluated plan differs from the expectation, each as one readable line."""
    plan = evaluation.plan
    out: list[str] = []
    if expect.outcome is not None and plan.screen.outcome != expect.outcome:
        reasons = ", ".join(r.rule for r in plan.screen.reasons)
        out.append(
            f"outcome: expected {expect.outcome}, got {plan.screen.outcome}" + (f" (from {reasons})" if reasons else "")
        )
    programme = plan.programme or NO_PROGRAMME
    if expect.programme is not None and programme != expect.programme:
        out.append(f"programme: expected {expect.programme}, got {programme}")
    planned = {ex.id: ex for session in plan.sessions for ex in session.exercises}
    for ex_id in expect.exercises_include:
        if ex_id not in planned:
            out.append(f"exercises_include: '{ex_id}' is not in the plan ({_why_not(evaluation, ex_id)})")
    for ex_id in expect.exercises_exclude:
        if ex_id in planned:
            out.append(f"exercises_exclude: '{ex_id}' is in the plan (because {', '.join(planned[ex_id].because)})")
    fired = [e.rule for e in plan.trace]
    warned = {w.rule: w for w in plan.warnings}
    for rule in expect.warnings_include:
        if rule not in warned:
            state = "it fired" if rule in fired else "it did not fire"
            out.append(f"warnings_include: rule '{rule}' gave no warning ({state})")
    for rule in expect.warnings_exclude:
        if rule in warned:
            out.append(f"warnings_exclude: rule '{rule}' warned ({warned[rule].level}): {warned[rule].message}")
    out += [f"rules_fired: rule '{r}' did not fire" for r in expect.rules_fired if r not in fired]
    out += [f"rules_not_fired: rule '{r}' fired" for r in expect.rules_not_fired if r in fired]
    if expect.excluded_tags:
        banned = set(expect.excluded_tags)
        exercises = knowledge.exercises
        for ex_id in planned:
            carried = [t for t in exercises[ex_id].tags if t in banned]
            if carried:
                out.append(
                    f"excluded_tags: '{ex_id}' is in the plan and carries {', '.join(carried)}"
                    f" (because {', '.join(planned[ex_id].because)})"
                )
    if expect.highest_warning is not None:
        levels = [w.level for w in plan.warnings]
        top = min(levels, key=LEVEL_ORDER.index) if levels else "none"
        if top != expect.highest_warning:
            out.append(f"highest_warning: expected {expect.highest_warning}, got {top}")
    return out


def _journal_differences(scenario: Scenario, book: RuleBook) -> list[str]:
    from .journal.progression import progress

    expect = scenario.expect
    try:
        outcome = progress(scenario.intake, scenario.checkins, book)
    except EngineError as exc:
        return [f"no journal decision: internal error: {exc.line()}"]
    out = []
    if expect.decision is not None and outcome.decision != expect.decision:
        out.append(
            f"decision: expected {expect.decision}, got {outcome.decision} "
            f"(because {', '.join(outcome.because) or '-'})"
        )
    out += [
        f"decision_because: rule '{r}' is not among {', '.join(outcome.because) or 'no rules'}"
        for r in expect.decision_because
        if r not in outcome.because
    ]
    return out


def _why_not(evaluation: Evaluation, ex_id: str) -> str:
    status = evaluation.statuses[ex_id]
    if status.status == "stopped":
        return "the safety screen stopped the plan"
    reasons = "; ".join(f"{r.rule}: {r.message}" for r in status.reasons)
    if status.status == "eligible":
        return "eligible, but another exercise took its place"
    return f"{status.status}: {reasons}" if reasons else status.status


# --- which declared meanings the scenarios exercise ------------------------------------------------------


def exercised(scenario: Scenario, knowledge: Knowledge, todo: Iterable[Obligation] | None = None) -> list[Obligation]:
    """The declared meanings (``obligations``) whose premise holds for the scenario's intake."""
    fact = intake_fact(scenario.intake, knowledge)
    return [ob for ob in (obligations(knowledge) if todo is None else todo) if ob.premise.holds(fact)]


def unexercised(scenarios: Iterable[Scenario], knowledge: Knowledge) -> list[Obligation]:
    """Every declared meaning (question, finding, condition) no scenario's intake exercises, in order."""
    todo = obligations(knowledge)
    hit: set[int] = set()
    for scenario in scenarios:
        hit.update(id(ob) for ob in exercised(scenario, knowledge, todo))
    return [ob for ob in todo if id(ob) not in hit]


def _flat(fact: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fact.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _inputs_read(book: RuleBook) -> dict[str, frozenset[str]]:
    """Rule id -> the answers fields its firing depends on: those its condition reads, and for a derived
    fact or the programme it reads, the answers fields read by the rules that make them."""
    makers: dict[str, list[LoadedRule]] = {}
    for item in book.rules.rules:
        for action in item.rule.then:
            if isinstance(action, Derive):
                makers.setdefault(f"derived.{action.fact}", []).append(item)
            elif isinstance(action, ChooseProgramme):
                makers.setdefault("programme", []).append(item)
    memo: dict[str, frozenset[str]] = {}

    def reads(item: LoadedRule, seen: frozenset[str]) -> frozenset[str]:
        if item.id in memo:
            return memo[item.id]
        out: set[str] = set()
        for name in item.rule.when.fields():
            if name in makers:
                for maker in makers[name]:
                    if maker.id not in seen:
                        out |= reads(maker, seen | {maker.id})
            else:
                out.add(name)
        memo[item.id] = frozenset(out)
        return memo[item.id]

    return {item.id: reads(item, frozenset({item.id})) for item in book.rules.rules}


def unshown(scenarios: Sequence[Scenario], fired: Sequence[frozenset[str]], book: RuleBook) -> list[str]:
    """The rules with a condition for which no pair of scenarios shows that the condition matters: a pair
    whose answers differ only in fields the rule depends on, with the rule firing in one and not the other."""
    flats = [_flat(intake_fact(s.intake, book.knowledge)) for s in scenarios]
    reads = _inputs_read(book)
    out: list[str] = []
    for item in book.rules.rules:
        allowed = reads[item.id]
        if not allowed:  # `always`: there is no condition to show
            continue
        hits = [i for i, f in enumerate(fired) if item.id in f]
        misses = [i for i, f in enumerate(fired) if item.id not in f]
        shown = any(all(flats[a][k] == flats[b][k] for k in flats[a] if k not in allowed) for a in hits for b in misses)
        if not shown:
            out.append(item.id)
    return out


@dataclass(frozen=True)
class ScenarioReport:
    folder: str
    results: list[ScenarioResult]
    uncovered: list[str]  # rule ids no scenario makes fire, in evaluation order
    rules: int
    unexercised: list[str]  # labels of the declared meanings no scenario exercises, in knowledge order
    meanings: int  # how many meanings knowledge/ declares
    unshown: list[str] = field(default_factory=list)  # rules no scenario pair shows the condition of to matter
    conditional: int = 0  # rules with a condition (not `always`)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def render(self) -> str:
        root = Path(self.folder)
        files = [_relative(r.file, root) for r in self.results]
        width = max([len("file"), *(len(f) for f in files)])
        count = f"{len(self.results)} file{'s' if len(self.results) != 1 else ''}"
        lines = [f"Scenarios in {self.folder} ({count})", "", f"  result  {'file':<{width}}  name"]
        for result, file in zip(self.results, files, strict=True):
            lines.append(f"  {'PASS' if result.passed else 'FAIL':<6}  {file:<{width}}  {result.name}")
            lines += [f"          - {failure}" for failure in result.failures]
        failed = sum(not r.passed for r in self.results)
        lines += ["", f"{len(self.results) - failed} passed, {failed} failed", ""]
        if self.uncovered:
            lines.append(f"Coverage: {len(self.uncovered)} of {self.rules} rules fire in no scenario:")
            lines += [f"  {rule}" for rule in self.uncovered]
        else:
            lines.append(f"Coverage: every rule fires in at least one scenario ({self.rules} rules)")
        if self.unexercised:
            lines.append(
                f"Meanings: {len(self.unexercised)} of {self.meanings} declared meanings are exercised by no scenario:"
            )
            lines += [f"  {label}" for label in self.unexercised]
        else:
            lines.append(
                f"Meanings: every declared meaning is exercised by at least one scenario ({self.meanings} meanings)"
            )
        shown = self.conditional - len(self.unshown)
        lines.append(
            f"Pairs: {shown} of {self.conditional} rule conditions are shown to matter by a pair of scenarios "
            "(answers differing only in what the rule depends on; the rule fires in one only)"
            + (":" if self.unshown else "")
        )
        if self.unshown:
            lines.append("  not shown: " + ", ".join(self.unshown))
        return "\n".join(lines) + "\n"


def _relative(file: str, root: Path) -> str:
    try:
        return Path(file).relative_to(root).as_posix()
    except ValueError:
        return file


def run_scenarios(folder: Path, book: RuleBook) -> ScenarioReport:
    """Run every scenario file in ``folder`` against ``book``; raises ``InputError`` on a malformed file."""
    scenarios = load_scenarios(folder, book)
    results = [run_scenario(s, book) for s in scenarios]
    fired = frozenset().union(*(r.fired for r in results))
    uncovered = [item.id for item in book.rules.rules if item.id not in fired]
    missed = [ob.label for ob in unexercised(scenarios, book.knowledge)]
    meanings = len(obligations(book.knowledge))
    conditional = sum(bool(item.rule.when.fields()) for item in book.rules.rules)
    pairs = unshown(scenarios, [r.fired for r in results], book)
    return ScenarioReport(str(folder), results, uncovered, len(book.rules.rules), missed, meanings, pairs, conditional)
