"""What the rules and the catalogue say independently of any answers, computed once per rule book: each
rule's effects, the exercises each include/exclude selects, each exercise's eligibility facts, and the
reference check of every stage."""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

from .compiler import Predicate, StageCheck, compile_predicate, compile_stage_check
from .dosing import DOSING_PREFIX, Dose, dose_for, level_of
from .facts import STAGES, reader
from .knowledge import LEVELS, Exercise, Knowledge
from .plan import (
    Exclusion,
    PlanWarning,
    Reason,
)
from .ruleset import (
    AddCaution,
    ChooseProgramme,
    Derive,
    Exclude,
    Include,
    Limit,
    LoadedRule,
    Prescribe,
    RuleSet,
    Stop,
    Warn,
)

# --- precomputed: what the rules and the catalogue say independently of the answers ---------------


class RuleFacts(NamedTuple):
    """One rule, prepared: what it reads, and its effects sorted by kind (each kind in action order)
    with exclusions and inclusions resolved to exercise ids in catalogue order."""

    item: LoadedRule
    order: tuple[int, int, str]
    reads: tuple[tuple[str, Callable[[Mapping[str, Any]], Any]], ...]
    stops: tuple[Stop, ...]
    warnings: tuple[Stop | Warn, ...]  # stops and warnings, interleaved as written
    excludes: tuple[tuple[tuple[str, ...], Reason], ...]
    # The exercises its includes select, each once (in include then catalogue order), and those it prefers.
    include_ids: tuple[str, ...]
    preferred_ids: frozenset[str]
    # Exercise id -> the reasons of the includes selecting it, in action order, each with whether the
    # include names the exercise (rather than selecting it by tag or category).
    include_reasons: Mapping[str, tuple[tuple[str, bool], ...]]
    programmes: tuple[str, ...]
    derives: tuple[str, ...]
    prescriptions: tuple[Prescribe, ...]
    limits: tuple[Limit, ...]
    cautions: tuple[tuple[tuple[str, ...], str], ...]  # (exercise ids, the words a person reads)
    effect_text: tuple[str, ...]
    # Its trace entry's fields before ``matched``, in the model's order (TraceEntry.trusted).
    trace_head: Mapping[str, Any]


class ExerciseFacts(NamedTuple):
    ex: Exercise
    level: int
    options: tuple[tuple[tuple[str, ...], frozenset[str]], ...]
    never: Reason | None
    needs: Reason | None  # "needs X, which the answers do not list"
    prerequisite: Reason | None
    prerequisite_level: int  # the lowest level among its prerequisites (planned only above it)
    too_hard: Mapping[str, Reason]  # experience -> "an advanced exercise; experience is ..."
    # The catalogue's cautions in order, each with its condition compiled (None: every person's).
    cautions: tuple[tuple[str, Predicate | None], ...]
    cautions_distinct: bool  # no text twice (those concerning a person need no de-duplication)


# What the dosing table reads of one plan: programme, level, goal, usual pain and the derived facts that
# a step's ``unless_derived`` names (the table reads no other derived fact).
DosingCase = tuple[str, str, str, int, frozenset[str]]
# A planned exercise's sets, reps, hold, rest and ``dosed_by``.
PlannedDose = tuple[int, str | None, int | None, int, tuple[str, ...]]


# Entries of a memo keyed by sets of rules: bench/cohort.py's 3,000 people need under 200; at the limit the
# exclusions take some 15 MB.
MEMO_LIMIT = 2048
# Keys of the cautions memo, each with at most one small entry per exercise (the cohort's 3,000 people
# fill some 1,200 entries; every exercise with every value of today's fields would be 41,000, some 8 MB).
CAUTION_KEYS_LIMIT = 1024
# Cases of the dosing table (programme, level, goal, pain 0-10, the facts its steps name), each holding at
# most one dose per exercise: today's knowledge has 660 (2 x 3 x 5 x 11 x 2 for its one fact), and each fact
# a step names doubles them.
DOSE_CASES_LIMIT = 4096

STOPPED = Reason.trusted(rule="screen", message="the safety screen stopped the plan: no exercises")


class PlanIndex:
    """Built once per ``RuleBook`` and safe to share between threads: read-only afterwards, but for the
    memos (doses, exclusions, cautions, the reasons an exercise is planned), each entry a pure function of
    its key (two threads filling the same entry store equal values; a dict item assignment is atomic).
    The table's doses stop growing at ``DOSE_CASES_LIMIT`` cases, the memos keyed by sequences of rules at
    ``MEMO_LIMIT`` entries, the cautions at ``CAUTION_KEYS_LIMIT`` keys (what is not remembered is made
    again). None is keyed by whole answers:
    each holds a part of a plan that depends on a few inputs only."""

    def __init__(self, knowledge: Knowledge, rules: RuleSet) -> None:
        exercises = list(knowledge.exercises.values())
        self.rules: dict[str, RuleFacts] = {}
        for item in rules.rules:
            then = item.rule.then
            includes = [(a, a.selected(exercises)) for a in then if isinstance(a, Include)]
            self.rules[item.id] = RuleFacts(
                item=item,
                order=item.order_key,
                reads=tuple((f, reader(f)) for f in item.rule.when.fields()),
                stops=tuple(a for a in then if isinstance(a, Stop)),
                warnings=tuple(a for a in then if isinstance(a, (Stop, Warn))),
                excludes=tuple(
                    (a.selected(exercises), Reason.trusted(rule=item.id, message=a.reason))
                    for a in then
                    if isinstance(a, Exclude)
                ),
                include_ids=tuple(dict.fromkeys(ex_id for _, ids in includes for ex_id in ids)),
                preferred_ids=frozenset(ex_id for a, ids in includes if a.prefer for ex_id in ids),
                include_reasons=_include_reasons(includes),
                programmes=tuple(a.programme for a in then if isinstance(a, ChooseProgramme)),
                derives=tuple(a.fact for a in then if isinstance(a, Derive)),
                prescriptions=tuple(a for a in then if isinstance(a, Prescribe)),
                limits=tuple(a for a in then if isinstance(a, Limit)),
                cautions=tuple((a.selected(exercises), a.text) for a in then if isinstance(a, AddCaution)),
                effect_text=_effects(item),
                trace_head={
                    "rule": item.id,
                    "stage": item.rule.stage,
                    "priority": item.rule.priority,
                    "title": item.rule.title,
                    "source": item.rule.source,
                    "file": os.path.basename(item.file),
                },
            )
        # The reference semantics of every rule of a stage, as one generated function (see compiler).
        self.checks: dict[str, StageCheck] = {
            stage: compile_stage_check([(r.id, r.rule.when) for r in rules.stage(stage)]) for stage in STAGES
        }
        # Per target level, each exercise's rank before "preferred" and "times used": closest to the target
        # level, then catalogue order, as one number.
        self.closeness = {
            target: {ex.id: abs(LEVELS.index(ex.level) - target) * len(exercises) + i for i, ex in enumerate(exercises)}
            for target in range(len(LEVELS))
        }
        # Which exercises each block of a programme takes: its kind of block and categories.
        self.block_members = {
            (block.block, block.categories): frozenset(
                ex.id for ex in exercises if block.block in ex.blocks and ex.category in block.categories
            )
            for programme in knowledge.programmes.values()
            for session in programme.sessions
            for block in session.blocks
        }
        self.exercises: dict[str, ExerciseFacts] = {}
        checks = knowledge.eligibility  # knowledge/eligibility.toml: each check's id, words and source

        def reason(kind: str, **values: str) -> Reason:
            return Reason.trusted(rule=checks[kind].id, message=checks[kind].say(**values))

        for ex in exercises:
            level = LEVELS.index(ex.level)
            options = " or ".join(" + ".join(option) for option in ex.equipment)
            prerequisite = None
            prerequisite_level = -1
            if ex.prerequisites:
                names = " or ".join(knowledge.exercises[p].name for p in ex.prerequisites)
                prerequisite = reason("prerequisite", names=names)
                prerequisite_level = min(LEVELS.index(knowledge.exercises[p].level) for p in ex.prerequisites)
            self.exercises[ex.id] = ExerciseFacts(
                ex=ex,
                level=level,
                options=tuple((option, frozenset(option)) for option in ex.equipment),
                never=reason("never_recommend", reason=ex.never_recommend_reason or "never recommended")
                if ex.never_recommend
                else None,
                needs=reason("equipment", options=options) if ex.equipment else None,
                prerequisite=prerequisite,
                prerequisite_level=prerequisite_level,
                too_hard={person: reason("level", level=ex.level, experience=person) for person in LEVELS[:level]},
                cautions=tuple(
                    (c, None) if isinstance(c, str) else (c.text, compile_predicate(c.when))
                    for c in ex.contraindications
                ),
                cautions_distinct=len(set(ex.notes())) == len(ex.contraindications),
            )
        # Per experience, each exercise's eligibility reasons that do not depend on the rest of the answers:
        # never recommended (listed before the equipment's), then too hard, then prerequisites (after it).
        self.eligibility: dict[str, tuple[tuple[str, ExerciseFacts, tuple[Reason, ...], tuple[Reason, ...]], ...]] = {}
        for person, experience in enumerate(LEVELS):
            rows = []
            for ex_id, facts in self.exercises.items():
                after = []
                if facts.level > person:
                    after.append(facts.too_hard[experience])
                if facts.prerequisite is not None and facts.prerequisite_level >= person:
                    after.append(facts.prerequisite)
                before = (facts.never,) if facts.never is not None else ()
                rows.append((ex_id, facts, before, tuple(after)))
            self.eligibility[experience] = tuple(rows)
        # Per experience, the exercises those reasons keep out (the rest may be planned if the equipment allows).
        self.kept_out = {
            experience: frozenset(ex_id for ex_id, _, before, after in rows if before or after)
            for experience, rows in self.eligibility.items()
        }
        self.not_included = {
            p: Reason.trusted(rule="selection", message=f"no rule includes it in the {p} programme for these answers")
            for p in knowledge.programmes
        }
        self.warnings: dict[int, PlanWarning] = {}  # id(action) -> its PlanWarning (actions live as long as the rules)
        for item in rules.rules:
            for action in item.rule.then:
                if isinstance(action, (Stop, Warn)):
                    self.warnings[id(action)] = PlanWarning.trusted(
                        rule=item.id, level=action.level, message=action.message, source=item.rule.source
                    )
        # The derived facts' names as the stages' facts list them, and the programmes' caution ranks.
        self.derived_names = tuple(sorted(rules.derived))
        self.caution_ranks = {p.id: p.caution_rank for p in knowledge.programmes.values()}
        self._dosing = knowledge.dosing
        self._dosing_facts = frozenset(f for step in knowledge.dosing.step for f in step.unless_derived)
        self._doses: dict[DosingCase, dict[str, tuple[Dose, tuple[str, ...]]]] = {}
        self._exclusions: dict[tuple[str, ...], tuple[Exclusion, ...]] = {}
        self._why: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
        # Which of an exercise's cautions concern a person is a function of the fields their conditions
        # read (a handful: pain status, some conditions and screening answers), so it is memoised per
        # exercise and values of those fields.
        read = sorted(
            {f for ex in exercises for c in ex.contraindications if not isinstance(c, str) for f in c.when.fields()}
        )
        self._caution_reads = tuple(reader(path) for path in read)
        self._cautions: dict[tuple[Any, ...], dict[str, tuple[str, ...]]] = {}
        self._planned_doses: dict[tuple[DosingCase, tuple[str, ...]], dict[str, PlannedDose]] = {}

    def dosing_case(
        self, programme: str, experience: str, active: bool, goal: str, pain: int, derived: Iterable[str]
    ) -> DosingCase:
        return (
            programme,
            level_of(experience, active, self._dosing),
            goal,
            pain,
            self._dosing_facts.intersection(derived),
        )

    def table_doses(self, case: DosingCase) -> Callable[[Exercise], tuple[Dose, tuple[str, ...]]]:
        """``dosing.dose_for`` in ``case`` and the names of the steps as ``dosed_by`` gives them, computed
        once per exercise and case."""
        doses = _remember(self._doses, case, dict, DOSE_CASES_LIMIT)
        programme, level, goal, pain, derived = case

        def dose(ex: Exercise) -> tuple[Dose, tuple[str, ...]]:
            found = doses.get(ex.id)
            if found is None:
                made = dose_for(ex, programme, level, goal, pain, self._dosing, derived)
                found = doses[ex.id] = (made, tuple(f"{DOSING_PREFIX}{step}" for step in made.steps))
            return found

        return dose

    def cautions_in(self, fact: Mapping[str, Any]) -> Callable[[ExerciseFacts], tuple[str, ...]]:
        """``Exercise.cautions_for(fact)`` with the conditions compiled (``compile_predicate``: the same
        semantics), for one plan. Which cautions concern a person depends only on the values in ``fact`` of the
        fields the catalogue's caution conditions read, so each exercise's are worked out once per such values
        (keyed once per plan, then looked up by exercise id)."""
        key = tuple([read(fact) for read in self._caution_reads])
        found: dict[str, tuple[str, ...]] = _remember(self._cautions, key, dict, CAUTION_KEYS_LIMIT)

        def cautions(facts: ExerciseFacts) -> tuple[str, ...]:
            chosen = found.get(facts.ex.id)
            if chosen is None:
                chosen = found[facts.ex.id] = tuple(
                    [text for text, holds in facts.cautions if holds is None or holds(fact)]
                )
            return chosen

        return cautions

    def why(self, ex_id: str, because: Sequence[str]) -> tuple[str, ...]:
        """Why the exercise is in the plan, in words: the reasons of the rules that included it (``because``),
        those that name the exercise first (the most specific), then those that include it by category or
        tag. Made once per exercise and set of including rules."""
        return _remember(self._why, (ex_id, tuple(because)), lambda: self._reasons(ex_id, because), MEMO_LIMIT)

    def _reasons(self, ex_id: str, because: Sequence[str]) -> tuple[str, ...]:
        named: list[str] = []
        broad: list[str] = []
        for rule_id in because:
            for reason, names in self.rules[rule_id].include_reasons.get(ex_id, ()):
                (named if names else broad).append(reason)
        return tuple(dict.fromkeys([*named, *broad]))

    def planned_doses(self, case: DosingCase, dosing_rules: Sequence[str]) -> dict[str, PlannedDose]:
        """Exercise id -> its dose in a plan: the table's in ``case`` with the prescriptions and caps of the
        rules ``dosing_rules`` (in the order applied), a function of those alone. The caller fills it
        (``assemble``); shared by every plan of the same case and rules."""
        return _remember(self._planned_doses, (case, tuple(dosing_rules)), dict, MEMO_LIMIT)

    def exclusions(self, excluding: Sequence[str], excluded: Mapping[str, Sequence[Reason]]) -> tuple[Exclusion, ...]:
        """The plan's excluded exercises, by id, each with its reasons: ``excluded``, which the rules
        ``excluding`` (in the order applied) made, and so made once per sequence of those rules."""
        return _remember(
            self._exclusions,
            tuple(excluding),
            lambda: tuple(Exclusion(id=ex_id, because=tuple(excluded[ex_id])) for ex_id in sorted(excluded)),
            MEMO_LIMIT,
        )


_Key = TypeVar("_Key", bound=Hashable)
_Value = TypeVar("_Value")


def _remember(memo: dict[_Key, _Value], key: _Key, make: Callable[[], _Value], limit: int) -> _Value:
    """``memo[key]``, made by ``make()`` and kept if the memo has fewer than ``limit`` entries (a value made
    and not kept is made again next time: the same value, as every memo here holds a function of its key).
    A table that callers fill (``make=dict``) is shared once kept."""
    found = memo.get(key)
    if found is None:
        found = make()
        if len(memo) < limit:
            found = memo.setdefault(key, found)
    return found


def _include_reasons(includes: Iterable[tuple[Include, tuple[str, ...]]]) -> dict[str, tuple[tuple[str, bool], ...]]:
    """Exercise id -> (reason, whether the include names it) of each include selecting it, in action order."""
    out: dict[str, list[tuple[str, bool]]] = {}
    for a, ids in includes:
        for ex_id in ids:
            out.setdefault(ex_id, []).append((a.reason, bool(a.exercises)))
    return {ex_id: tuple(reasons) for ex_id, reasons in out.items()}


def equipment_choice(facts: ExerciseFacts, owned: frozenset[str]) -> tuple[str, ...] | None:
    """``Exercise.equipment_for``: the first option fully owned, () when none is needed, None when none is owned."""
    if not facts.options:
        return ()
    for option, needed in facts.options:
        if needed <= owned:
            return option
    return None


def _effects(item: LoadedRule) -> tuple[str, ...]:
    out = []
    for a in item.rule.then:
        if isinstance(a, (Stop, Warn)):
            out.append(f"{a.action} ({a.level})")
        elif isinstance(a, (Exclude, Include)):
            parts = [
                f"{name}: {', '.join(getattr(a, name))}"
                for name in ("exercises", "tags", "categories")
                if getattr(a, name)
            ]
            extra = " (prefer)" if isinstance(a, Include) and a.prefer else ""
            out.append(f"{a.action}{extra} " + "; ".join(parts))
        elif isinstance(a, AddCaution):
            chosen = "; ".join(
                f"{name}: {', '.join(getattr(a, name))}"
                for name in ("exercises", "tags", "categories")
                if getattr(a, name)
            )
            out.append(f"caution {chosen}: {a.text}")
        elif isinstance(a, ChooseProgramme):
            out.append(f"programme {a.programme}")
        elif isinstance(a, Derive):
            out.append(f"derive {a.fact}")
        elif isinstance(a, Prescribe):
            dose = ", ".join(
                f"{n} {getattr(a, n)}" for n in ("sets", "reps", "rest_seconds") if getattr(a, n) is not None
            )
            out.append(f"prescribe {'/'.join(a.categories)}: {dose}")
        elif isinstance(a, Limit):
            caps = ", ".join(
                f"{n} {getattr(a, n)}" for n in ("max_sets", "min_rest_seconds") if getattr(a, n) is not None
            )
            out.append(f"limit {caps}")
    return tuple(out)
