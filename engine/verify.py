"""``backplan verify``: the safety invariants, checked on every class of intake the rules distinguish.

The intake space is made finite, and small enough for about a minute on two cores, without losing
what matters (docs/verify.md gives the full argument):

* Classes: every intake field a rule reads is split by ``check.classes`` at each threshold and value a
  rule mentions; no rule can tell two values of one class apart, so one representative per class does.
* Stop is final: once the screen stops, later stages never run and the plan depends only on which screen
  rules fired. The stop region is enumerated as screen *signatures*: screen rules are grouped into
  components that share fields, each component is enumerated on its own fields, and the components'
  distinct outcomes are combined (a rule's firing depends on its own fields only): the whole product
  while it is affordable, else every combination with up to ``STOP_DEPTH`` components off baseline (in
  a stop each invariant's verdict is fixed by at most two components).
* No stop: every class combination of the fields the pipeline reads (fields that only stop rules read are
  set so that no stop fires), simulated with the reference semantics, then one intake per distinct
  signature: the rules fired in every stage plus the answers the planner and the invariants read
  (experience, conditions). Each signature is crossed with a cover of equipment sets: no rule reads
  equipment, only the planner's per-exercise filter does.
* The reduction is checked, not assumed: every evaluated intake's trace must equal its predicted signature.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .check import classes, nest
from .conditions import Condition
from .errors import EngineError, InputError
from .facts import STAGES, FieldSpec, Scalar, stage_fact
from .intake import Intake, intake_to_toml, parse_intake
from .knowledge import Knowledge
from .plan import Plan
from .planner import RuleBook, load_rulebook, recommend
from .ruleset import ChooseProgramme, Derive, LoadedRule, RuleSet, Stop

INVARIANTS: dict[str, str] = {
    "red_flag_stops": "(a) a red-flag answer that a stop rule reads on its own => outcome stop",
    "stop_is_empty": "(b) stop => no exercises, programme null, at least one urgent or consult warning",
    "programme_iff_not_stop": "(c) not stop <=> a programme is set",
    "condition_consult": "(d) each listed condition => a consult warning from a rule that reads it",
    "equipment_owned": "(e) every planned exercise's equipment is owned and is one of its catalogue options",
    "nothing_excluded_planned": "(f) no excluded and no never-recommend exercise is planned",
    "gentle_no_heavy": "(g) gentle => no planned exercise tagged "
    + ", ".join(("heavy_load", "axial_loading", "loaded_spinal_flexion", "barbell", "ballistic")),
    "cites_fired_rules": "(h) every planned exercise and every warning cites a rule that fired",
    "deterministic": "(i) the same answers give byte-identical plan JSON (every 97th intake re-evaluated)",
    "urgent_means_stop": "an urgent warning (go to A&E / same day) never comes with an exercise plan",
    "plan_produced": "every valid intake gets a plan or a stop, never an internal error",
    "signature_matches": "the rules that fired are the ones the class predicted (the reduction is sound)",
}
GENTLE = "gentle"
GENTLE_FORBIDDEN_TAGS: frozenset[str] = frozenset(
    ("heavy_load", "axial_loading", "loaded_spinal_flexion", "barbell", "ballistic")
)
DETERMINISM_EVERY = 97
# The stop region is enumerated in full while it has at most this many screen signatures (about a minute
# on two cores). Beyond it, combinations with at most STOP_DEPTH components off baseline are taken: in a
# stop every invariant's verdict depends on at most two components (docs/verify.md), so four leaves a margin.
EXHAUSTIVE_LIMIT = 200_000
STOP_DEPTH = 4
CHUNK_SIZE = 500
FILES_PER_INVARIANT = 3  # minimal reproducing files written per invariant; the counts say how many intakes
_BASELINE: dict[str, Scalar] = {
    "age": 35,
    "experience": "beginner",
    "goal": "general",
    "pain.status": "none",
    "pain.intensity": 0,
    "pain.radiates_to_leg": False,
}

Flat = dict[str, Scalar]


# --- the space of intakes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One intake to evaluate, with the rule ids its class predicts will fire (in firing order)."""

    answers: dict[str, Any]
    fired: tuple[str, ...]
    recheck: bool = False


@dataclass(frozen=True)
class Space:
    classes: Mapping[str, tuple[str, ...]]  # field -> its classes, as text for the report
    red_flags: Mapping[str, str]  # stop rule id -> the screening field it reads on its own
    equipment_cover: tuple[tuple[str, ...], ...]
    stop_cases: int
    stop_product: int  # screen signatures in the full product (stopping or not)
    stop_depth: int | None  # None: the full product was enumerated
    plan_signatures: int
    cases: tuple[Case, ...]


def is_intake_field(name: str) -> bool:
    return name != "programme" and not name.startswith("derived.")


def red_flags(rules: RuleSet) -> dict[str, str]:
    """Stop rules whose condition is a single screening field: rule id -> that field."""
    out: dict[str, str] = {}
    for item in rules.rules:
        when = item.rule.when
        if _stops(item) and when.field is not None and when.target().startswith("screening."):
            out[item.id] = when.target()
    return out


def _stops(item: LoadedRule) -> bool:
    return any(isinstance(a, Stop) for a in item.rule.then)


def _baseline(spec: FieldSpec) -> Scalar:
    if spec.kind == "bool":
        return False
    wanted = _BASELINE.get(spec.name)
    return wanted if wanted in spec.values else spec.values[0]


def _intervals(spec: FieldSpec, conditions: Sequence[Condition]) -> list[tuple[int, int]]:
    starts = [int(v) for v in classes(spec, conditions)]
    ends = [s - 1 for s in starts[1:]] + [spec.maximum]
    return list(zip(starts, ends, strict=True))


def representatives(spec: FieldSpec, conditions: Sequence[Condition]) -> tuple[Scalar, ...]:
    """One value per class; a number class holding the baseline (age 35) is represented by it, for readability."""
    if spec.kind != "int":
        return classes(spec, conditions)
    base = _baseline(spec)
    return tuple(base if isinstance(base, int) and lo <= base <= hi else lo for lo, hi in _intervals(spec, conditions))


def _class_text(spec: FieldSpec, conditions: Sequence[Condition]) -> tuple[str, ...]:
    if spec.kind != "int":
        return tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in spec.values)
    return tuple(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in _intervals(spec, conditions))


def flat_to_answers(flat: Mapping[str, Scalar], knowledge: Knowledge) -> dict[str, Any]:
    """A full answers mapping (SPEC layout) from one value per intake field."""
    return {
        "age": flat["age"],
        "experience": flat["experience"],
        "goal": flat["goal"],
        "equipment": [e for e in knowledge.equipment if flat[f"equipment.{e}"]],
        "conditions": [c for c in knowledge.conditions if flat[f"conditions.{c}"]],
        "pain": {k: flat[f"pain.{k}"] for k in ("status", "intensity", "radiates_to_leg")},
        "screening": {q: flat[f"screening.{q}"] for q in knowledge.screening},
    }


class _Simulator:
    """The planner's stage logic in the reference semantics (``Condition.holds``), memoised per stage.

    Each stage's result depends only on the intake fields its rules read, the programme and the derived
    facts, so it is cached on exactly those: the whole no-stop region simulates in about a second.
    """

    def __init__(self, rules: RuleSet, knowledge: Knowledge) -> None:
        self.rules = rules
        self.rank = {p: knowledge.programmes[p].caution_rank for p in knowledge.programmes}
        self.reads = {
            stage: sorted({f for r in rules.stage(stage) for f in r.rule.when.fields() if is_intake_field(f)})
            for stage in STAGES
        }
        self.cache: dict[tuple[Any, ...], tuple[LoadedRule, ...]] = {}

    def stage(self, stage: str, flat: Flat, programme: str | None, derived: tuple[str, ...]) -> tuple[LoadedRule, ...]:
        key = (stage, programme, derived, *(flat[f] for f in self.reads[stage]))
        hit = self.cache.get(key)
        if hit is None:
            fact = stage_fact(nest({f: flat[f] for f in self.reads[stage]}), programme, derived, self.rules.derived)
            hit = tuple(r for r in self.rules.stage(stage) if r.rule.when.holds(fact))
            self.cache[key] = hit
        return hit

    def run(self, flat: Flat) -> tuple[tuple[str, ...], bool]:
        """(rule ids fired in order, stopped) for one intake, exactly as ``planner.decide`` would."""
        screen = self.stage("screen", flat, None, ())
        if any(_stops(r) for r in screen):
            return tuple(r.id for r in screen), True
        derived = _derives(screen)
        route = self.stage("route", flat, None, derived)
        derived = tuple(sorted({*derived, *_derives(route)}))
        chosen = [a.programme for r in route for a in r.rule.then if isinstance(a, ChooseProgramme)]
        if not chosen:  # the planner refuses: evaluating it records a plan_produced violation
            return tuple(r.id for r in (*screen, *route)), False
        programme = min(chosen, key=lambda p: (self.rank[p], p))
        select = self.stage("select", flat, programme, derived)
        return tuple(r.id for r in (*screen, *route, *select)), False


def _derives(items: Sequence[LoadedRule]) -> tuple[str, ...]:
    return tuple(sorted({a.fact for r in items for a in r.rule.then if isinstance(a, Derive)}))


def _components(rules: Sequence[LoadedRule], extra: Sequence[str]) -> list[tuple[list[str], list[LoadedRule]]]:
    """Group rules that share an intake field (transitively); ``extra`` fields no rule reads stand alone."""
    groups: list[tuple[set[str], list[LoadedRule]]] = []
    for item in rules:
        fields = {f for f in item.rule.when.fields() if is_intake_field(f)}
        merged = [g for g in groups if g[0] & fields]
        groups = [g for g in groups if not g[0] & fields]
        groups.append((fields.union(*(g[0] for g in merged)), [r for g in merged for r in g[1]] + [item]))
    for name in extra:
        if not any(name in g[0] for g in groups):
            groups.append(({name}, []))
    return [(sorted(fields), items) for fields, items in groups]


def _component_outcomes(
    fields: Sequence[str],
    items: Sequence[LoadedRule],
    reps: Mapping[str, tuple[Scalar, ...]],
    base: Flat,
    keep: set[str],
) -> list[tuple[frozenset[str], Flat]]:
    """One assignment of ``fields`` per distinct (rules fired, values of the ``keep`` fields), baseline first."""
    seen: dict[tuple[Any, ...], tuple[frozenset[str], Flat]] = {}
    for combo in itertools.product(*(_baseline_first(reps[f], base[f]) for f in fields)):
        flat = dict(zip(fields, combo, strict=True))
        fact = nest(flat)
        fired = frozenset(r.id for r in items if r.rule.when.holds(fact))
        key = (tuple(sorted(fired)), tuple(flat[f] for f in fields if f in keep))
        seen.setdefault(key, (fired, flat))
    return list(seen.values())


def equipment_cover(knowledge: Knowledge, fixed: set[str] | None = None) -> tuple[tuple[str, ...], ...]:
    """Nothing, everything, each item alone, everything but each item, and each catalogue option.

    Items in ``fixed`` (read by some rule, so enumerated as fields) are left out of every set.
    """
    items = [e for e in knowledge.equipment if e not in (fixed or set())]
    candidates: list[Sequence[str]] = [(), items, *([e] for e in items), *([x for x in items if x != e] for e in items)]
    candidates += [option for ex in knowledge.exercises.values() for option in ex.equipment]
    order = {e: i for i, e in enumerate(items)}
    unique = {tuple(sorted(set(c) & set(items), key=order.__getitem__)): None for c in candidates}
    return tuple(unique)


def build_space(book: RuleBook, exhaustive: bool | None = None) -> Space:
    """Every intake to evaluate (see the module docstring for why this set is enough).

    ``exhaustive``: True enumerates every stopping screen signature, False at most ``STOP_DEPTH``
    components off baseline, None (the default) the full product while it is within ``EXHAUSTIVE_LIMIT``.
    """
    rules, knowledge = book.rules, book.knowledge
    specs = {n: s for n, s in rules.fields.items() if is_intake_field(n)}
    conditions = [r.rule.when for r in rules.rules]
    reps = {n: representatives(s, conditions) for n, s in specs.items()}
    base: Flat = {n: _baseline(s) for n, s in specs.items()}
    flags = red_flags(rules)
    condition_fields = [n for n in specs if n.startswith("conditions.")]
    keep = {*condition_fields, *flags.values(), "experience"}
    parts = _screen_parts(rules, reps, base, keep, condition_fields)
    product = math.prod(len(p) for p in parts)
    full = exhaustive if exhaustive is not None else product <= EXHAUSTIVE_LIMIT
    stop_depth = None if full else STOP_DEPTH
    stop_cases = _stop_cases(rules, parts, base, stop_depth, knowledge)
    signatures, read = _plan_signatures(rules, knowledge, reps, base, condition_fields)
    # Equipment a rule reads is enumerated like any other field; the cover varies only the rest.
    fixed = {f.split(".", 1)[1] for f in read if f.startswith("equipment.")}
    cover = equipment_cover(knowledge, fixed)
    plan_cases = [
        Case(flat_to_answers({**flat, **_equipment_flat(owned, fixed)}, knowledge), fired)
        for flat, fired in signatures
        for owned in cover
    ]
    every = [*stop_cases, *plan_cases]
    cases = tuple(replace(c, recheck=True) if i % DETERMINISM_EVERY == 0 else c for i, c in enumerate(every))
    return Space(
        classes={n: _class_text(s, conditions) for n, s in specs.items() if not n.startswith("equipment.")},
        red_flags=flags,
        equipment_cover=cover,
        stop_cases=len(stop_cases),
        stop_product=product,
        stop_depth=stop_depth,
        plan_signatures=len(signatures),
        cases=cases,
    )


def _equipment_flat(owned: Sequence[str], fixed: set[str]) -> Flat:
    return {f"equipment.{e}": True for e in owned if e not in fixed}


def _baseline_first(values: Sequence[Scalar], base: Scalar) -> list[Scalar]:
    return sorted(values, key=lambda v: v != base)


def _picks(sizes: Sequence[int], depth: int | None) -> Iterator[tuple[int, ...]]:
    """Indexes into each component's outcomes: all of them, or at most ``depth`` components off baseline (0)."""
    if depth is None:
        yield from itertools.product(*(range(n) for n in sizes))
        return
    for k in range(min(depth, len(sizes)) + 1):
        for chosen in itertools.combinations(range(len(sizes)), k):
            for values in itertools.product(*(range(1, sizes[i]) for i in chosen)):
                picked = [0] * len(sizes)
                for i, v in zip(chosen, values, strict=True):
                    picked[i] = v
                yield tuple(picked)


def _screen_parts(
    rules: RuleSet,
    reps: Mapping[str, tuple[Scalar, ...]],
    base: Flat,
    keep: set[str],
    condition_fields: Sequence[str],
) -> list[list[tuple[frozenset[str], Flat]]]:
    """Each screen component's distinct outcomes, baseline first."""
    components = _components(rules.stage("screen"), condition_fields)
    return [_component_outcomes(fields, items, reps, base, keep) for fields, items in components]


def _stop_cases(
    rules: RuleSet,
    parts: Sequence[Sequence[tuple[frozenset[str], Flat]]],
    base: Flat,
    depth: int | None,
    knowledge: Knowledge,
) -> list[Case]:
    """One intake per screen signature that stops (later fields cannot matter then); see STOP_DEPTH."""
    order = {r.id: i for i, r in enumerate(rules.rules)}
    stop_ids = {r.id for r in rules.stage("screen") if _stops(r)}
    out: list[Case] = []
    for picked in _picks([len(p) for p in parts], depth):
        combo = [parts[i][j] for i, j in enumerate(picked)]
        fired = frozenset().union(*(f for f, _ in combo))
        if not fired & stop_ids:
            continue  # no stop: the plan region below covers it, with the later fields too
        flat = dict(base)
        for _, assignment in combo:
            flat.update(assignment)
        out.append(Case(flat_to_answers(flat, knowledge), tuple(sorted(fired, key=order.__getitem__))))
    return out


def _plan_signatures(
    rules: RuleSet,
    knowledge: Knowledge,
    reps: Mapping[str, tuple[Scalar, ...]],
    base: Flat,
    condition_fields: Sequence[str],
) -> tuple[list[tuple[Flat, tuple[str, ...]]], list[str]]:
    """One intake per distinct no-stop signature (rules fired, experience, conditions), and the fields enumerated."""
    read: dict[str, list[LoadedRule]] = {}
    for item in rules.rules:
        for f in item.rule.when.fields():
            if is_intake_field(f):
                read.setdefault(f, []).append(item)
    always = {*condition_fields, "experience"}  # read by the invariants or by the planner itself
    stop_only = sorted(f for f, items in read.items() if all(_stops(r) for r in items) and f not in always)
    enumerated = sorted({*(f for f in read if f not in stop_only), *always})
    sim = _Simulator(rules, knowledge)
    stop_rules = [r for r in rules.stage("screen") if _stops(r)]
    completions: dict[tuple[Any, ...], Flat | None] = {}
    stop_reads = sorted({f for r in stop_rules for f in r.rule.when.fields() if f in enumerated})
    seen: dict[tuple[Any, ...], tuple[Flat, tuple[str, ...]]] = {}
    for combo in itertools.product(*(reps[f] for f in enumerated)):
        flat = {**base, **dict(zip(enumerated, combo, strict=True))}
        key = tuple(flat[f] for f in stop_reads)
        if key not in completions:
            completions[key] = _no_stop_completion(flat, stop_only, stop_rules, reps, base)
        completion = completions[key]
        if completion is None:
            continue  # every completion stops: the stop region covers it
        flat.update(completion)
        fired, stopped = sim.run(flat)
        if stopped:
            continue
        signature = (fired, *(flat[f] for f in enumerated if f in always or f.startswith("equipment.")))
        seen.setdefault(signature, (flat, fired))
    return list(seen.values()), enumerated


def _no_stop_completion(
    flat: Flat,
    stop_only: Sequence[str],
    stop_rules: Sequence[LoadedRule],
    reps: Mapping[str, tuple[Scalar, ...]],
    base: Flat,
) -> Flat | None:
    """Values for the fields only stop rules read such that no stop fires (baseline tried first)."""
    options = [_baseline_first(reps[f], base[f]) for f in stop_only]
    for combo in itertools.product(*options):
        candidate = {**flat, **dict(zip(stop_only, combo, strict=True))}
        fact = nest(candidate)
        if not any(r.rule.when.holds(fact) for r in stop_rules):
            return dict(zip(stop_only, combo, strict=True))
    return None


# --- the invariants ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    invariant: str
    message: str


class Checker:
    """The invariants for one rule book; ``check`` evaluates one intake and lists what it violates."""

    def __init__(self, book: RuleBook) -> None:
        self.book = book
        self.flags = red_flags(book.rules)
        self.readers: dict[str, set[str]] = {}  # condition id -> rules whose condition reads it
        for item in book.rules.rules:
            for f in item.rule.when.fields():
                if f.startswith("conditions."):
                    self.readers.setdefault(f.split(".", 1)[1], set()).add(item.id)

    def check(self, intake: Intake, expected: tuple[str, ...] | None = None, recheck: bool = False) -> list[Finding]:
        try:
            plan = recommend(intake, self.book)
        except Exception as exc:  # any failure on a valid intake is a defect to report, not a crash
            return [Finding("plan_produced", f"{type(exc).__name__}: {exc}")]
        found = self._plan_findings(intake, plan)
        fired = tuple(e.rule for e in plan.trace)
        if expected is not None and fired != expected:
            found.append(Finding("signature_matches", f"fired {list(fired)}, the class predicted {list(expected)}"))
        if recheck and recommend(intake, self.book).to_json() != plan.to_json():
            found.append(Finding("deterministic", "re-evaluating the same answers gave different plan JSON"))
        return found

    def _plan_findings(self, intake: Intake, plan: Plan) -> list[Finding]:
        out: list[Finding] = []
        stop = plan.screen.outcome == "stop"
        out += self._screen(intake, plan, stop)
        out += self._exercises(intake, plan)
        return out

    def _screen(self, intake: Intake, plan: Plan, stop: bool) -> list[Finding]:
        out: list[Finding] = []
        fired = {e.rule for e in plan.trace}
        answers = {f"screening.{q}": v for q, v in intake.screening.items()}
        raised = sorted(f for f in self.flags.values() if answers.get(f) is True)
        if raised and not stop:
            out.append(Finding("red_flag_stops", f"{', '.join(raised)} answered yes, outcome {plan.screen.outcome}"))
        if stop and (plan.programme is not None or plan.exercise_ids()):
            out.append(Finding("stop_is_empty", f"stop with programme {plan.programme} and exercises"))
        if stop and not any(w.level in ("urgent", "consult") for w in plan.warnings):
            out.append(Finding("stop_is_empty", "stop without an urgent or consult warning saying what to do"))
        if stop == (plan.programme is not None):
            out.append(Finding("programme_iff_not_stop", f"outcome {plan.screen.outcome}, programme {plan.programme}"))
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
        catalogue = self.book.knowledge.exercises
        fired = {e.rule for e in plan.trace}
        excluded = {x.id for x in plan.excluded}
        owned = set(intake.equipment)
        for session in plan.sessions:
            for ex in session.exercises:
                entry = catalogue[ex.id]
                options = set(entry.equipment) or {()}
                if not set(ex.equipment) <= owned or tuple(ex.equipment) not in options:
                    out.append(Finding("equipment_owned", f"{ex.id} planned with {list(ex.equipment)}"))
                if ex.id in excluded or entry.never_recommend:
                    why = "excluded" if ex.id in excluded else "never-recommend"
                    out.append(Finding("nothing_excluded_planned", f"{ex.id} is {why} but planned"))
                heavy = sorted(GENTLE_FORBIDDEN_TAGS & set(entry.tags))
                if plan.programme == GENTLE and heavy:
                    out.append(Finding("gentle_no_heavy", f"{ex.id} ({', '.join(heavy)}) in the gentle programme"))
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
    """Every answers mapping one step closer to the baseline (no flags, no pain, nothing owned)."""
    for q, value in answers["screening"].items():
        if value:
            yield {**answers, "screening": {**answers["screening"], q: False}}
    for key in ("conditions", "equipment"):
        for item in answers[key]:
            yield {**answers, key: [x for x in answers[key] if x != item]}
    pain = {"status": "none", "intensity": 0, "radiates_to_leg": False}
    for k, value in pain.items():
        if answers["pain"][k] != value:
            yield {**answers, "pain": {**answers["pain"], k: value}}
    for k in ("age", "experience", "goal"):
        default = _BASELINE[k] if k != "goal" or _BASELINE[k] in knowledge.goals else next(iter(knowledge.goals))
        if answers[k] != default:
            yield {**answers, k: default}


def _write_violations(checker: Checker, result: ChunkResult, out_dir: Path) -> list[Violation]:
    out: list[Violation] = []
    knowledge = checker.book.knowledge
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
        lines = [
            f"backplan verify: {'PASSED' if self.passed else 'FAILED'}",
            f"{self.checked} intakes checked in {self.seconds:.1f} s with {self.workers} worker process(es); "
            f"{self.rechecked} of them re-evaluated for determinism",
            f"  stop region: {s.stop_cases} stopping screen signatures, "
            + (
                f"all of the {s.stop_product} combinations of screen components"
                if s.stop_depth is None
                else f"up to {s.stop_depth} components off baseline (the full product of {s.stop_product} "
                f"is over {EXHAUSTIVE_LIMIT}; docs/verify.md)"
            ),
            f"  plan region: {s.plan_signatures} signatures x {len(s.equipment_cover)} equipment sets",
            "",
            "Equivalence classes per field (from the rules' own conditions):",
        ]
        width = max(len(n) for n in s.classes)
        lines += [f"  {n:<{width}}  {' | '.join(c)}" for n, c in s.classes.items()]
        lines += [
            f"  {'equipment':<{width}}  {_cover_text(s.equipment_cover)}",
            "",
            "Red flags (screening answers a stop rule reads on its own): "
            + (", ".join(f"{f} ({r})" for r, f in s.red_flags.items()) or "none"),
            "",
            "Invariants (violating intakes):",
        ]
        width = max(len(n) for n in INVARIANTS)
        lines += [f"  {n:<{width}}  {self.counts.get(n, 0):>6}  {d}" for n, d in INVARIANTS.items()]
        if self.violations:
            lines += ["", "Minimal answers files reproducing the violations:"]
            lines += [f"  {v.path}  {v.invariant}: {v.message}" for v in self.violations]
        return "\n".join(lines) + "\n"


def _cover_text(cover: Sequence[tuple[str, ...]]) -> str:
    items = max(cover, key=len, default=())
    standard = {(), items, *((e,) for e in items), *(tuple(x for x in items if x != e) for e in items)}
    if len(items) < 2 or not standard <= set(cover):
        return f"{len(cover)} set(s): " + "; ".join("+".join(c) or "none" for c in cover)
    extra = ["+".join(c) for c in cover if c not in standard]
    text = f"{len(cover)} sets: none, all {len(items)} items, each item alone, all but each item"
    return text + (f", and the catalogue's combined options {', '.join(extra)}" if extra else "")


def verify_rulebook(
    book: RuleBook, *, workers: int, out_dir: Path | None = None, exhaustive: bool | None = None
) -> VerifyReport:
    """Check every invariant on every class of intake; write minimal reproducing answers on violations.

    ``workers=1`` runs in this process; ``exhaustive`` is passed to ``build_space``.
    """
    if workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}", location="--workers")
    start = time.perf_counter()
    space = build_space(book, exhaustive)
    result = _run(book, space.cases, workers)
    violations: list[Violation] = []
    if result.counts:
        violations = _write_violations(Checker(book), result, out_dir or Path("verify-failures"))
    return VerifyReport(
        checked=result.checked,
        rechecked=result.rechecked,
        counts=dict(sorted(result.counts.items(), key=lambda kv: list(INVARIANTS).index(kv[0]))),
        violations=tuple(violations),
        space=space,
        workers=workers,
        seconds=time.perf_counter() - start,
    )
