"""What the answers mean, as declared in ``knowledge/``, and the proof that the rules implement it.

``knowledge/screening.toml`` says for each screening question what a "yes" means (stop, consult,
caution, exercises left out), ``[[finding]]`` entries say the same for other answers, and
``knowledge/conditions.toml`` for each diagnosed condition. Each such meaning is an *obligation*;
``unmet`` proves every obligation for every possible intake with the solver in ``symbolic`` and
reports each one the rules miss with an intake that shows it. It also proves the converse for stops:
no rule stops a plan where no declaration says it should.

The obligations are also the single list of red flags that ``verify`` and the tests use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import z3

from .conditions import Condition
from .knowledge import SCREENING_FILE, Knowledge, Meaning
from .ruleset import LEVEL_ORDER, Exclude, LoadedRule, RuleSet, Stop, Warn
from .symbolic import Logic, check_declaration_fields, describe


@dataclass(frozen=True)
class Obligation:
    """One declared meaning: when ``premise`` holds, the plan must do what ``meaning`` says."""

    kind: Literal["question", "finding", "condition", "programme"]
    subject: str  # the question, finding or condition id
    premise: Condition  # the answer itself, and the declaration's ``when``
    meaning: Meaning
    file: str

    @property
    def label(self) -> str:
        qualifier = f" (when {self.meaning.when.describe()})" if self.meaning.when is not None else ""
        if self.kind == "question":
            return f"screening question '{self.subject}': a yes{qualifier}"
        if self.kind == "condition":
            return f"condition '{self.subject}'"
        if self.kind == "programme":
            return f"programme '{self.subject}'"
        return f"finding '{self.subject}'{qualifier}"

    @property
    def is_stop(self) -> bool:
        return self.meaning.decision == "stop"


def _premise(answer: Condition, when: Condition | None) -> Condition:
    return Condition(all=(answer, when)) if when is not None else answer


def obligations(knowledge: Knowledge) -> list[Obligation]:
    """Every declared meaning of an answer, in questionnaire order, then findings, then conditions."""
    root = Path(knowledge.root)
    out: list[Obligation] = []
    for q in knowledge.screening.values():
        answer = Condition(field=f"screening.{q.id}", eq=True)
        for m in q.yes:
            out.append(Obligation("question", q.id, _premise(answer, m.when), m, str(root / SCREENING_FILE)))
    for f in knowledge.findings.values():
        for m in f.yes:
            out.append(Obligation("finding", f.id, _premise(f.when, m.when), m, str(root / SCREENING_FILE)))
    for c in knowledge.conditions.values():
        has = Condition(field="conditions", contains=c.id)
        meaning = Meaning(decision="consult", exclude_tags=c.exclude_tags)
        out.append(Obligation("condition", c.id, has, meaning, str(root / "conditions.toml")))
    return out


def programme_obligations(knowledge: Knowledge) -> list[Obligation]:
    """Each programme's declarations (knowledge/programmes.toml): its excluded tags, when it is required."""
    root = Path(knowledge.root)
    out: list[Obligation] = []
    for p in knowledge.programmes.values():
        if p.exclude_tags or p.required_when is not None:
            # No warning is asked of a programme: "caution" here only carries the exclusions (see ``unmet``).
            meaning = Meaning(decision="caution", exclude_tags=p.exclude_tags)
            on = Condition(field="programme", eq=p.id)
            out.append(Obligation("programme", p.id, on, meaning, str(root / "programmes.toml")))
    return out


def stop_obligations(knowledge: Knowledge) -> list[Obligation]:
    """The declared stops: the red flags."""
    return [o for o in obligations(knowledge) if o.is_stop]


@dataclass(frozen=True)
class Unmet:
    file: str
    rule: str | None
    message: str
    example: dict[str, object]


def _levels_at_least(level: str) -> tuple[str, ...]:
    return LEVEL_ORDER[: LEVEL_ORDER.index(level) + 1]


def unmet(logic: Logic) -> list[Unmet]:
    """Every obligation the rules miss, and every stop no declaration asks for, each with an example."""
    with logic.scope():  # the formulas named here serve only these questions
        return _unmet(logic)


def _unmet(logic: Logic) -> list[Unmet]:
    knowledge = logic.knowledge
    found: list[Unmet] = []
    todo = obligations(knowledge) + programme_obligations(knowledge)
    inputs = list(logic.inputs)
    for ob in todo:
        if ob.kind != "programme":
            check_declaration_fields(ob.premise, inputs, ob.file, ob.label)
    order = list(logic.inputs)
    for ob in todo:
        m = ob.meaning
        if ob.kind == "programme":
            found.extend(_programme_unmet(logic, ob, order))
            continue
        premise = logic.encode(ob.premise)
        if m.decision == "stop":
            assert m.level is not None
            silent = _not_said(logic, (Stop,), _levels_at_least(m.level))
            needs = f"stop the plan with an {m.level}{' or more urgent' if m.level != 'urgent' else ''} warning"
        else:
            silent = _not_said(logic, (Stop, Warn), _levels_at_least(m.decision))
            needs = f"give a {m.decision} warning"
        example = logic.example(premise, silent)
        if example is not None:
            message = f"{ob.label} must {needs}, but no rule does for: {describe(example, order)}"
            found.append(Unmet(ob.file, None, message, example))
            continue
        if m.exclude_tags:
            found.extend(_unexcluded(logic, ob, premise, order))
    found.extend(_undeclared_stops(logic, todo, order))
    return found


def _programme_unmet(logic: Logic, ob: Obligation, order: Sequence[str]) -> list[Unmet]:
    """A programme's declarations: the tags it never plans, and the answers that always choose it."""
    found = _unexcluded(logic, ob, logic.programme_is(ob.subject), order) if ob.meaning.exclude_tags else []
    required = logic.knowledge.programmes[ob.subject].required_when
    if required is not None:
        check_declaration_fields(required, list(logic.inputs), ob.file, ob.label + ".required_when")
        example = logic.example(logic.planned, logic.encode(required), z3.Not(logic.programme_is(ob.subject)))
        if example is not None:
            message = (
                f"{ob.label} must be chosen when {required.describe()}, but is not for: {describe(example, order)}"
            )
            found.append(Unmet(ob.file, None, message, example))
    return found


def _said(logic: Logic, kinds: tuple[type, ...], levels: Sequence[str]) -> object:
    """Some screen rule fires with an action of ``kinds`` at one of ``levels``."""
    rules = [
        r
        for r in logic.rules.stage("screen")
        if any(isinstance(a, kinds) and getattr(a, "level", None) in levels for a in r.rule.then)
    ]
    return z3.Or(*[logic.when(r) for r in rules]) if rules else z3.BoolVal(False)


def _not_said(logic: Logic, kinds: tuple[type, ...], levels: Sequence[str]) -> object:
    """``Not(_said(...))``, named once per (kinds, levels) for the solver (see ``Logic.guard``)."""
    key = ("not said", tuple(k.__name__ for k in kinds), tuple(levels))
    return logic.guard(key, z3.Not(_said(logic, kinds, levels)))


def excluders_of(rules: RuleSet, knowledge: Knowledge, exercise: str) -> list[LoadedRule]:
    """The rules with an exclusion that selects ``exercise`` (by id, tag or category).

    One question costs a pass over the rules; ``Logic.excluders`` answers from an index built once."""
    ex = knowledge.exercises[exercise]
    out = []
    for item in rules.rules:
        for a in item.rule.then:
            if isinstance(a, Exclude) and a.selected((ex,)):
                out.append(item)
                break
    return out


def _unexcluded(logic: Logic, ob: Obligation, premise: object, order: Sequence[str]) -> list[Unmet]:
    """Exercises with a tag the declaration leaves out that some planned intake would still allow."""
    knowledge = logic.knowledge
    banned = set(ob.meaning.exclude_tags)
    exercises = [ex.id for ex in knowledge.exercises.values() if banned & set(ex.tags) and not ex.never_recommend]
    if not exercises:
        return []
    allowed = {ex: logic.allowed_named(ex) for ex in exercises}
    example = logic.example(premise, logic.guard("planned", logic.planned), z3.Or(*allowed.values()))
    if example is None:
        return []
    full = logic.full(example)
    missed = [ex for ex in exercises if not any(logic.holds_in(full, logic.fires(r)) for r in logic.excluders(ex))]
    tags = sorted(banned & set(knowledge.exercises[missed[0]].tags)) if missed else sorted(banned)
    return [
        Unmet(
            ob.file,
            None,
            f"{ob.label} must leave out exercises tagged {', '.join(tags)}, but no rule excludes "
            f"'{missed[0] if missed else '?'}'{f' (and {len(missed) - 1} more)' if len(missed) > 1 else ''} "
            f"for: {describe(example, order)}",
            example,
        )
    ]


def _undeclared_stops(logic: Logic, todo: Sequence[Obligation], order: Sequence[str]) -> list[Unmet]:
    """A stop rule that can fire where no declaration says to stop (e.g. a cancer survivor without pain)."""
    declared = [logic.encode(o.premise) for o in todo if o.is_stop]
    uncovered = logic.guard("no declared stop", z3.Not(z3.Or(*declared))) if declared else z3.BoolVal(True)
    out: list[Unmet] = []
    for item in logic.stop_rules():
        example = logic.example(logic.when(item), uncovered)
        if example is not None:
            out.append(
                Unmet(
                    item.file,
                    item.id,
                    f"stops the plan where no declaration in {SCREENING_FILE} says to stop: {describe(example, order)} "
                    "(declare the stop there, or narrow the rule)",
                    example,
                )
            )
    return out
