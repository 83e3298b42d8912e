"""``backplan verify``: the safety invariants, for every intake.

Two parts (docs/verify.md gives the full argument):

* **Proved for every intake** (``engine.symbolic``, an SMT solver over the compiled conditions): every
  meaning declared in ``knowledge/`` (each screening question's stop, consult and exclusions, the
  findings, each condition's consult and exclusions, each programme's excluded tags), no stop without a
  declaration, a programme whenever the screen does not stop, a consult for every listed condition in
  every plan, no urgent warning beside a plan. Nothing is sampled: a violation comes with a minimal
  answers file.
* **Evaluated on the real pipeline**: plan assembly depends on which route and select rules fired, on
  experience and on equipment, nothing else. The solver lists every combination of fired select rules that
  some intake produces (its *signatures*), per experience and programme; one intake per signature is
  planned by durable_rules with no equipment, with every item and with one of the catalogue's equipment
  options owned alone (in turn), and each plan is checked (equipment owned, nothing excluded planned,
  every exercise and warning cites a rule that fired, determinism, and the rules fired are exactly the
  signature). Stopping intakes are planned once per declared stop and per stop rule. The red-flag list is
  the declared stops of ``knowledge/screening.toml``, never a copy.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import z3

from .errors import EngineError, InputError
from .facts import intake_fact
from .intake import Intake, baseline_answers, intake_to_toml, parse_intake
from .knowledge import Knowledge
from .obligations import obligations, programme_obligations, stop_obligations, unmet
from .output import check_folder
from .plan import Plan
from .planner import RuleBook, evaluate, load_rulebook, recommend
from .ruleset import Limit, Prescribe, Stop, Warn
from .space import Case, Cell, equipment_options, equipment_sets, plan_cases, plan_cells, stop_cases
from .symbolic import Logic, describe

INVARIANTS: dict[str, str] = {
    "declared_meanings": "every meaning declared in knowledge/ holds: each stop, consult and excluded tag "
    "(screening.toml, conditions.toml, programmes.toml) -- proved for every intake",
    "no_undeclared_stop": "no rule stops a plan where no declaration says to -- proved for every intake",
    "red_flag_stops": "(a) a declared stop's answers => outcome stop -- checked on every plan evaluated",
    "stop_is_empty": "(b) stop => no exercises, programme null, at least one urgent or consult warning",
    "programme_iff_not_stop": "(c) not stop <=> a programme is set -- proved, and checked on every plan",
    "condition_consult": "(d) each listed condition => a consult warning from a rule that reads it, in every plan "
    "-- proved",
    "equipment_owned": "(e) every planned exercise's equipment is owned and is one of its catalogue options",
    "nothing_excluded_planned": "(f) no excluded and no never-recommend exercise is planned",
    "programme_exclusions": "(g) no planned exercise carries a tag its programme excludes (gentle: no heavy load)",
    "cites_fired_rules": "(h) every planned exercise and every warning cites a rule that fired",
    "deterministic": "(i) the same answers give byte-identical plan JSON (every 97th plan re-evaluated)",
    "urgent_means_stop": "an urgent warning (A&E / same day) never comes with an exercise plan -- proved",
    "plan_produced": "every valid intake gets a plan or a stop, never an internal error",
    "signature_matches": "the select rules that fired are the signature the solver predicted",
    # --- dose order (issue 12): begin ---
    "dose_order": "gentle dose <= catalogue dose <= strength dose at the same level: for every exercise, level, "
    "goal and pain of the dosing table, and on every plan evaluated",
    # --- dose order: end ---
}
DETERMINISM_EVERY = 97
CHUNK_SIZE = 400
DEFAULT_OUT = "verify-failures"  # where reproducing answers files go without --out
DOSE_VERDICTS_LIMIT = 100_000  # dose-order verdicts a checker keeps (about 50 MB; the shipped rules need 43,170)
FILES_PER_INVARIANT = 3  # minimal reproducing files written per invariant; the counts say how many intakes


# --- the space of intakes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProofFailure:
    invariant: str
    message: str
    answers: dict[str, Any]


@dataclass(frozen=True)
class Space:
    obligations: int  # declared meanings proved
    proofs: tuple[str, ...]  # what was proved, as text
    failures: tuple[ProofFailure, ...]
    red_flags: tuple[str, ...]  # the declared stops, as text
    cells: int
    signatures: int
    equipment_sets: tuple[tuple[str, ...], ...]  # every signature is planned with each of these
    equipment_options: tuple[tuple[str, ...], ...]  # ... and with one of these, in turn
    stop_cases: int
    cases: tuple[Case, ...]


# --- dose order (issue 12): begin ---
def dose_out_of_order(programme: str, planned: Any, entry: Any, knowledge: Knowledge) -> str | None:
    """Why a planned dose breaks the order its programme declares (knowledge/dosing.toml), or None."""
    from .dosing import Dose

    dose = Dose(planned.sets, planned.reps, planned.hold_seconds, planned.rest_seconds)
    return _out_of_order(programme, planned.id, dose, entry, knowledge)


def _out_of_order(programme: str, ex_id: str, dose: Any, entry: Any, knowledge: Knowledge) -> str | None:
    from .dosing import at_most, at_most_each, catalogue_dose

    order = knowledge.dosing.order_of(programme)
    default = catalogue_dose(entry)
    if order == "at_most_catalogue" and not at_most_each(dose, default):
        return f"{ex_id}: {programme} dose {dose.text()} above the catalogue's {default.text()}"
    if order == "at_least_catalogue" and not at_most(default, dose):
        return f"{ex_id}: {programme} dose {dose.text()} below the catalogue's {default.text()}"
    return None


def doses_out_of_order_for_any_goal(
    intake: Intake,
    evaluation: Any,
    knowledge: Knowledge,
    goals: Sequence[str] | None = None,
    seen: dict[tuple[Any, ...], str | None] | None = None,
) -> list[str]:
    """The plan's exercises dosed for every goal (``goals``; None: the intake's) with the same fired rules.
    The dosing table reads the goal; when no rule that changes a dose reads it, one plan per signature
    covers every goal's dose. ``seen`` keeps each verdict by everything a dose is made from (exercise,
    programme, experience, activity, goal, pain, the derived facts' names and the rules that prescribed or
    limited), for the many plans of one run that share them."""
    from .assemble import dose_with_rules
    from .dosing import Dose

    plan = evaluation.plan
    d = evaluation.decisions
    programme = plan.programme or ""
    made_from = (
        programme,
        intake.experience,
        intake.active,
        intake.pain.intensity,
        frozenset(d.derived),
        tuple(item.id for item, _ in d.prescriptions),
        tuple(item.id for item, _ in d.limits),
    )
    out: list[str] = []
    for ex_id in dict.fromkeys(plan.exercise_ids()):
        entry = knowledge.exercises[ex_id]
        for goal in goals or (intake.goal,):
            key = (ex_id, goal, made_from)
            if seen is not None and key in seen:
                broken = seen[key]
            else:
                sets, reps, hold, rest, _ = dose_with_rules(
                    entry, programme, intake.experience, intake.active, goal, intake.pain.intensity, d, knowledge
                )
                broken = _out_of_order(programme, ex_id, Dose(sets, reps, hold, rest), entry, knowledge)
                if seen is not None:
                    if len(seen) >= DOSE_VERDICTS_LIMIT:
                        seen.clear()
                    seen[key] = broken
            if broken:
                out.append(f"{broken} (goal {goal})")
    return out


def dose_table_failures(knowledge: Knowledge) -> list[ProofFailure]:
    """The dosing table's order over every exercise, level, goal and pain, with answers that reproduce it."""
    from .dosing import order_violations

    out = []
    for v in order_violations(knowledge)[:FILES_PER_INVARIANT]:
        answers = baseline_answers(knowledge)
        answers.update(experience=v.level, goal=v.goal)
        if v.pain:
            answers["pain"] = {"status": "chronic", "intensity": v.pain, "radiates_to_leg": False}
        out.append(ProofFailure("dose_order", f"{v.exercise} ({v.level}, goal {v.goal}): {v.message}", answers))
    return out


# --- dose order: end ---


def prove(logic: Logic) -> tuple[list[str], list[ProofFailure]]:
    """The invariants the solver decides for every intake, and each one that fails with its example."""
    rules, knowledge = logic.rules, logic.knowledge
    failures: list[ProofFailure] = []
    order = list(logic.inputs)

    def fail(invariant: str, message: str, example: Mapping[str, Any]) -> None:
        failures.append(ProofFailure(invariant, message, logic.answers(example)))

    for miss in unmet(logic):
        fail("no_undeclared_stop" if miss.rule else "declared_meanings", miss.message, miss.example)
    lost = logic.example(z3.Not(logic.stop), logic.programme_is("none"))
    if lost is not None:
        fail("programme_iff_not_stop", f"no programme chosen for: {describe(lost, order)}", lost)
    for item in rules.rules:
        if any(isinstance(a, Warn) and a.level == "urgent" for a in item.rule.then):
            beside = logic.example(logic.fires(item), z3.Not(logic.stop))
            if beside is not None:
                fail(
                    "urgent_means_stop",
                    f"{item.id} warns urgently beside a plan for: {describe(beside, order)}",
                    beside,
                )
    for condition in knowledge.conditions:
        target = f"conditions.{condition}"
        readers = [
            r
            for r in rules.stage("screen")
            if target in r.rule.when.fields()
            and any(isinstance(a, (Stop, Warn)) and a.level in ("consult", "urgent") for a in r.rule.then)
        ]
        said = z3.Or(*[logic.when(r) for r in readers]) if readers else z3.BoolVal(False)
        silent = logic.example(logic.vars[target], z3.Not(logic.stop), z3.Not(said))
        if silent is not None:
            fail(
                "condition_consult",
                f"'{condition}' listed, no consult from its rules for: {describe(silent, order)}",
                silent,
            )
    proved = [
        f"{len(obligations(knowledge)) + len(programme_obligations(knowledge))} declared meanings "
        "(stops, consults, excluded tags)",
        "no stop without a declaration",
        "a programme whenever the screen does not stop",
        "a consult from its own rules for every listed condition",
        "no urgent warning beside a plan",
    ]
    return proved, failures


def build_space(book: RuleBook, cells: Sequence[Cell] | None = None) -> Space:
    """The proofs, and every intake to plan (``cells`` narrows the plan region, for tests)."""
    logic = Logic(book.rules, book.knowledge)
    proved, failures = prove(logic)
    todo = obligations(book.knowledge)
    stops = stop_cases(logic, todo)
    chosen = list(cells) if cells is not None else plan_cells(book.knowledge)
    sets, options = equipment_sets(book.knowledge), equipment_options(book.knowledge)
    planned = plan_cases(logic, chosen, sets, options)
    cases = [
        Case(c.answers, c.fired, recheck=c.recheck or i % DETERMINISM_EVERY == 0)
        for i, c in enumerate([*stops, *planned])
    ]
    return Space(
        obligations=len(todo),
        proofs=tuple(proved),
        failures=tuple(failures),
        red_flags=tuple(
            o.subject + (f" when {o.meaning.when.describe()}" if o.meaning.when else "")
            for o in stop_obligations(book.knowledge)
        ),
        cells=len(chosen),
        signatures=len(planned) // (len(sets) + (1 if options else 0)),
        equipment_sets=sets,
        equipment_options=options,
        stop_cases=len(stops),
        cases=tuple(cases),
    )


# --- checking one plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    invariant: str
    message: str


class Checker:
    """The invariants for one rule book; ``check`` evaluates one intake and lists what it violates."""

    def __init__(self, book: RuleBook) -> None:
        self.book = book
        self.stops = stop_obligations(book.knowledge)
        self.readers: dict[str, set[str]] = {}  # condition id -> rules whose condition reads it
        for item in book.rules.rules:
            for f in item.rule.when.fields():
                if f.startswith("conditions."):
                    self.readers.setdefault(f.split(".", 1)[1], set()).add(item.id)
        self.select = {r.id for r in book.rules.stage("select")}
        # --- dose order (issue 12): begin ---
        # Every goal's dose is checked on each plan, unless a rule that changes a dose reads the goal.
        dosing_rules = [r for r in book.rules.rules if any(isinstance(a, (Limit, Prescribe)) for a in r.rule.then)]
        self.dose_goals = (
            None if any("goal" in r.rule.when.fields() for r in dosing_rules) else tuple(book.knowledge.goals)
        )
        self._dose_verdicts: dict[tuple[Any, ...], str | None] = {}  # doses_out_of_order_for_any_goal's
        # --- dose order: end ---

    def check(self, intake: Intake, expected: frozenset[str] | None = None, recheck: bool = False) -> list[Finding]:
        try:
            evaluation = evaluate(intake, self.book)  # the decisions too: they dose every goal (dose_order)
            plan = evaluation.plan
        except Exception as exc:  # any failure on a valid intake is a defect to report, not a crash
            return [Finding("plan_produced", f"{type(exc).__name__}: {exc}")]
        found = self._screen(intake, plan)
        found += self._exercises(intake, plan)
        # --- dose order (issue 12): begin ---
        broken = doses_out_of_order_for_any_goal(
            intake, evaluation, self.book.knowledge, self.dose_goals, self._dose_verdicts
        )
        found += [Finding("dose_order", broken[0])] if broken else []
        # --- dose order: end ---
        fired = frozenset(e.rule for e in plan.trace if e.rule in self.select)
        if expected is not None and fired != expected:
            missing, extra = sorted(expected - fired), sorted(fired - expected)
            found.append(Finding("signature_matches", f"not fired {missing}, unexpectedly fired {extra}"))
        if recheck and recommend(intake, self.book).to_json() != plan.to_json():
            found.append(Finding("deterministic", "re-evaluating the same answers gave different plan JSON"))
        return found

    def _screen(self, intake: Intake, plan: Plan) -> list[Finding]:
        out: list[Finding] = []
        stop = plan.screen.outcome == "stop"
        fired = {e.rule for e in plan.trace}
        fact = intake_fact(intake, self.book.knowledge)
        raised = [o.label for o in self.stops if o.premise.holds(fact)]
        if raised and not stop:
            out.append(Finding("red_flag_stops", f"{raised[0]}: outcome {plan.screen.outcome}"))
        if stop and (plan.programme is not None or plan.exercise_ids()):
            out.append(Finding("stop_is_empty", f"stop with programme {plan.programme} and exercises"))
        if stop and not any(w.level in ("urgent", "consult") for w in plan.warnings):
            out.append(Finding("stop_is_empty", "stop without an urgent or consult warning saying what to do"))
        if stop == (plan.programme is not None):
            out.append(Finding("programme_iff_not_stop", f"outcome {plan.screen.outcome}, programme {plan.programme}"))
        if not stop:
            for condition in intake.conditions:
                readers = self.readers.get(condition, set())
                if not any(w.level in ("consult", "urgent") and w.rule in readers for w in plan.warnings):
                    out.append(Finding("condition_consult", f"'{condition}' listed, no consult warning from its rules"))
        urgent = [w.rule for w in plan.warnings if w.level == "urgent"]
        if urgent and not stop:
            out.append(Finding("urgent_means_stop", f"urgent warning from {urgent[0]} with a {plan.programme} plan"))
        cited = [w.rule for w in plan.warnings] + [r.rule for r in plan.screen.reasons]
        stray = sorted({r for r in cited if r not in fired})
        if stray:
            out.append(Finding("cites_fired_rules", f"warning or reason cites {stray[0]}, which did not fire"))
        return out

    def _exercises(self, intake: Intake, plan: Plan) -> list[Finding]:
        out: list[Finding] = []
        knowledge = self.book.knowledge
        catalogue = knowledge.exercises
        fired = {e.rule for e in plan.trace}
        excluded = {x.id for x in plan.excluded}
        owned = set(intake.equipment)
        banned = set(knowledge.programmes[plan.programme].exclude_tags) if plan.programme else set()
        for session in plan.sessions:
            for ex in session.exercises:
                entry = catalogue[ex.id]
                options = set(entry.equipment) or {()}
                if not set(ex.equipment) <= owned or tuple(ex.equipment) not in options:
                    out.append(Finding("equipment_owned", f"{ex.id} planned with {list(ex.equipment)}"))
                if ex.id in excluded or entry.never_recommend:
                    why = "excluded" if ex.id in excluded else "never-recommend"
                    out.append(Finding("nothing_excluded_planned", f"{ex.id} is {why} but planned"))
                bad = sorted(banned & set(entry.tags))
                if bad:
                    out.append(
                        Finding("programme_exclusions", f"{ex.id} ({', '.join(bad)}) in the {plan.programme} programme")
                    )
                if not ex.because or not set(ex.because) <= fired:
                    out.append(Finding("cites_fired_rules", f"{ex.id} cites {list(ex.because)}, fired {sorted(fired)}"))
        return out

    def invariants_broken(self, answers: Mapping[str, Any]) -> set[str]:
        """The invariants one answers mapping violates (determinism always re-checked)."""
        intake = parse_intake(answers, self.book.knowledge)
        return {f.invariant for f in self.check(intake, recheck=True)}


# --- running: chunks over worker processes ------------------------------------------------------------


@dataclass
class ChunkResult:
    checked: int = 0
    rechecked: int = 0
    # invariant -> number of intakes violating it, and the first few (message, answers)
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)

    def merge(self, other: ChunkResult) -> None:
        self.checked += other.checked
        self.rechecked += other.rechecked
        for name, n in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + n
        for name, items in other.examples.items():
            mine = self.examples.setdefault(name, [])
            mine.extend(items[: max(0, FILES_PER_INVARIANT * 4 - len(mine))])


def check_chunk(checker: Checker, cases: Sequence[Case]) -> ChunkResult:
    result = ChunkResult()
    knowledge = checker.book.knowledge
    for case in cases:
        intake = parse_intake(case.answers, knowledge, file="<verify>")
        findings = checker.check(intake, case.fired, case.recheck)
        result.checked += 1
        result.rechecked += int(case.recheck)
        for name in dict.fromkeys(f.invariant for f in findings):
            result.counts[name] = result.counts.get(name, 0) + 1
            examples = result.examples.setdefault(name, [])
            if len(examples) < FILES_PER_INVARIANT * 4:
                message = next(f.message for f in findings if f.invariant == name)
                examples.append((message, case.answers))
    return result


_WORKER: Checker | None = None


def _init_worker(rules_dir: str, knowledge_dir: str, digests: tuple[str, str]) -> None:
    """Each process compiles its own rule book: durable_rules Hosts must never cross processes."""
    global _WORKER
    book = load_rulebook(Path(rules_dir), Path(knowledge_dir))
    if (book.rules.digest, book.knowledge.digest) != digests:
        raise EngineError("the rule or knowledge files changed while verify was running", file=rules_dir)
    _WORKER = Checker(book)


def _run_chunk(cases: Sequence[Case]) -> ChunkResult:
    if _WORKER is None:  # pragma: no cover - the initializer always runs first
        raise EngineError("verify worker used before it was initialised")
    return check_chunk(_WORKER, cases)


def _chunks(cases: Sequence[Case], size: int) -> Iterator[Sequence[Case]]:
    for start in range(0, len(cases), size):
        yield cases[start : start + size]


def _run(book: RuleBook, cases: Sequence[Case], workers: int) -> ChunkResult:
    total = ChunkResult()
    if workers <= 1:
        checker = Checker(book)
        for chunk in _chunks(cases, CHUNK_SIZE):
            total.merge(check_chunk(checker, chunk))
        return total
    # spawn, not fork: a forked child would inherit the parent's durable Host (C state, locks).
    context = multiprocessing.get_context("spawn")
    args = (book.rules.root, book.knowledge.root, (book.rules.digest, book.knowledge.digest))
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=args) as pool:
        for result in pool.map(_run_chunk, _chunks(cases, CHUNK_SIZE)):
            total.merge(result)
    return total


# --- violations: minimal reproducing answers files -----------------------------------------------------


@dataclass(frozen=True)
class Violation:
    invariant: str
    message: str
    path: Path  # a minimal answers file that reproduces it


def shrink(checker: Checker, answers: Mapping[str, Any], invariant: str) -> dict[str, Any]:
    """Reset answers towards the baseline one at a time while the invariant stays violated."""
    current = _copy(answers)
    changed = True
    while changed:
        changed = False
        for candidate in _simpler(current, checker.book.knowledge):
            if invariant in checker.invariants_broken(candidate):
                current, changed = candidate, True
                break
    return current


def _copy(answers: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(answers)
    out["pain"], out["screening"] = dict(answers["pain"]), dict(answers["screening"])
    out["equipment"], out["conditions"] = list(answers["equipment"]), list(answers["conditions"])
    return out


def _simpler(answers: dict[str, Any], knowledge: Knowledge) -> Iterator[dict[str, Any]]:
    """Every answers mapping one step closer to the baseline person (no flags, no pain, nothing owned)."""
    base = baseline_answers(knowledge)
    for q, value in answers["screening"].items():
        if value:
            yield {**answers, "screening": {**answers["screening"], q: False}}
    for key in ("conditions", "equipment"):
        for item in answers[key]:
            yield {**answers, key: [x for x in answers[key] if x != item]}
    if "startback" in answers:
        yield {k: v for k, v in answers.items() if k != "startback"}
    if answers["pain"] != base["pain"]:
        yield {**answers, "pain": dict(base["pain"])}
    for k, value in base["pain"].items():
        if answers["pain"][k] != value and (k != "status" or answers["pain"]["intensity"] == 0):
            yield {**answers, "pain": {**answers["pain"], k: value}}
    for k in ("age", "experience", "active", "goal"):
        if answers.get(k) != base[k]:
            yield {**answers, k: base[k]}


def _write_violations(
    checker: Checker, result: ChunkResult, failures: Sequence[ProofFailure], out_dir: Path
) -> list[Violation]:
    out: list[Violation] = []
    knowledge = checker.book.knowledge
    for number, failure in enumerate(failures, 1):
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{failure.invariant}-proof-{number}.toml"
        text = intake_to_toml(parse_intake(failure.answers, knowledge), knowledge)
        header = (
            f"# backplan verify: violates {failure.invariant}: {INVARIANTS[failure.invariant]}\n# {failure.message}\n"
        )
        path.write_text(header + text, encoding="utf-8")
        out.append(Violation(failure.invariant, failure.message, path))
    for name in INVARIANTS:
        written: set[str] = set()
        for message, answers in result.examples.get(name, []):
            if len(written) >= FILES_PER_INVARIANT:
                break
            minimal = shrink(checker, answers, name)
            text = intake_to_toml(parse_intake(minimal, knowledge), knowledge)
            if text in written:
                continue
            written.add(text)
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / f"{name}-{len(written)}.toml"
            header = f"# backplan verify: violates {name}: {INVARIANTS[name]}\n# first seen: {message}\n"
            path.write_text(header + text, encoding="utf-8")
            out.append(Violation(name, message, path))
    return out


# --- the report -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyReport:
    checked: int
    rechecked: int
    counts: Mapping[str, int]  # invariant -> intakes violating it
    violations: tuple[Violation, ...]
    space: Space
    workers: int
    seconds: float

    @property
    def passed(self) -> bool:
        return not self.counts

    def render(self) -> str:
        s = self.space
        sets = " and ".join(
            ("none" if not c else "+".join(c) if len(c) < 3 else f"all {len(c)} items") for c in s.equipment_sets
        )
        lines = [
            f"backplan verify: {'PASSED' if self.passed else 'FAILED'}",
            "Proved for every intake (SMT solver over the compiled rules):",
            *(f"  - {p}" for p in s.proofs),
            f"Planned by the real pipeline: {self.checked} intakes in {self.seconds:.1f} s with {self.workers} "
            f"worker process(es), {self.rechecked} re-evaluated for determinism",
            f"  stop region: {s.stop_cases} intakes, one per declared stop and per stop rule",
            f"  plan region: {s.signatures} signatures (every combination of fired select rules some intake "
            f"produces, per experience and programme: {s.cells} cells) x equipment {sets or 'none'}",
            *(
                [
                    f"  and each signature with one of the catalogue's {len(s.equipment_options)} equipment options "
                    "owned alone, in turn"
                ]
                if s.equipment_options
                else []
            ),
            "",
            "Red flags (the declared stops in knowledge/screening.toml):",
            *(f"  - {flag}" for flag in s.red_flags),
            "",
            "Invariants (violations):",
        ]
        width = max(len(n) for n in INVARIANTS)
        lines += [f"  {n:<{width}}  {self.counts.get(n, 0):>6}  {d}" for n, d in INVARIANTS.items()]
        if self.violations:
            lines += ["", "Minimal answers files reproducing the violations:"]
            lines += [f"  {v.path}  {v.invariant}: {v.message}" for v in self.violations]
        elif self.passed:
            lines += ["", "Every invariant holds: proved for every intake, and on every plan evaluated."]
        return "\n".join(lines) + "\n"


def verify_rulebook(
    book: RuleBook,
    *,
    workers: int,
    out_dir: Path | None = None,
    cells: Sequence[Cell] | None = None,
) -> VerifyReport:
    """Prove what the solver decides, plan every signature, write minimal reproducing answers on violations.

    ``workers=1`` runs in this process; ``cells`` narrows the plan region (tests).
    """
    if workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}", location="--workers")
    check_folder(out_dir or Path(DEFAULT_OUT), "--out")
    start = time.perf_counter()
    space = build_space(book, cells)
    result = _run(book, space.cases, workers)
    counts = dict(result.counts)
    space = replace(space, failures=(*space.failures, *dose_table_failures(book.knowledge)))  # issue 12
    for failure in space.failures:
        counts[failure.invariant] = counts.get(failure.invariant, 0) + 1
    violations: list[Violation] = []
    if counts:
        violations = _write_violations(Checker(book), result, space.failures, out_dir or Path(DEFAULT_OUT))
    return VerifyReport(
        checked=result.checked,
        rechecked=result.rechecked,
        counts=dict(sorted(counts.items(), key=lambda kv: list(INVARIANTS).index(kv[0]))),
        violations=tuple(violations),
        space=space,
        workers=workers,
        seconds=time.perf_counter() - start,
    )
