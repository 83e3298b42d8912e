"""The rule pipeline as logic: questions about *every possible intake*, answered by an SMT solver (z3).

Every intake field becomes a solver variable over exactly the values the answers file allows
(``pain.status = none`` forces intensity 0, STarT Back distress never exceeds its total, ...), and
every rule condition becomes a formula over them -- the same meaning as ``Condition.holds``. What the
pipeline decides is expressed the way the pipeline decides it:

* the screen stops when any stop rule holds; later stages run only when it does not;
* a derived fact is visible from the stage after the one whose rule derived it;
* the route stage's most conservative chosen programme is the one the select stage sees.

So "can this rule ever fire?", "can these two fire for the same person?" and "does every yes to this
question stop the plan?" are satisfiability questions, decided exactly (no sampling, no enumeration
of the 2^28 screening answers), and a "yes" comes with a concrete intake that shows it.

Cost: every formula is built once (a leaf shared by many rules once too), and the formulas many
questions share (the screen stops, the plan is made, an exercise is left out, ...) are *named*: a
Boolean constant ``g`` with ``g -> formula`` asserted once in the solver, so a question mentioning ``g``
costs the solver only the rest of the question (``guard``). ``rules check`` on 5,000 rules asks about
5,000 questions of a few leaves each (docs/performance.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import z3

from .conditions import Condition
from .errors import KnowledgeError
from .facts import NO_PROGRAMME, STAGES, FieldSpec
from .intake import baseline_answers
from .knowledge import Knowledge
from .pipeline import PIPELINE, programme_order
from .ruleset import ChooseProgramme, Derive, Exclude, LoadedRule, RuleSet, Stop

_GATES = {spec.name: spec.runs for spec in PIPELINE}  # when a rule of each stage can fire at all


def intake_fields(specs: Mapping[str, FieldSpec]) -> dict[str, FieldSpec]:
    """The fields that come from the answers (not from earlier stages)."""
    return {
        name: spec
        for name, spec in specs.items()
        if spec.first_stage == "screen" and not name.startswith("derived.") and name != "programme"
    }


class Logic:
    """One rule set and knowledge base as solver formulas (built once; queries are cheap)."""

    def __init__(self, rules: RuleSet, knowledge: Knowledge) -> None:
        self.rules = rules
        self.knowledge = knowledge
        self.specs = rules.fields
        self.inputs = intake_fields(self.specs)
        self.vars: dict[str, Any] = {}
        self._base = _flatten(baseline_answers(knowledge), knowledge)
        domain: list[Any] = []
        for name, spec in self.inputs.items():
            if spec.kind == "bool":
                self.vars[name] = z3.Bool(name)
            else:
                var = z3.Int(name)
                self.vars[name] = var
                top = spec.maximum if spec.kind == "int" else len(spec.values) - 1
                low = spec.minimum if spec.kind == "int" else 0
                domain.append(z3.And(var >= low, var <= top))
        # What the answers file itself rules out (intake.py's validators).
        if "pain.status" in self.vars and "pain.intensity" in self.vars:
            domain.append(z3.Implies(self._is("pain.status", "none"), self.vars["pain.intensity"] == 0))
        if {"startback.given", "startback.total", "startback.distress"} <= set(self.vars):
            given, total, distress = (self.vars[f"startback.{k}"] for k in ("given", "total", "distress"))
            domain.append(distress <= total)
            domain.append(z3.Implies(z3.Not(given), z3.And(total == 0, distress == 0)))
        self.domain = z3.And(*domain) if domain else z3.BoolVal(True)
        self._solver = z3.Solver()
        self._solver.add(self.domain)
        self._guards: dict[Any, Any] = {}  # key -> Boolean constant g, with g -> formula in the solver
        self._guard_rules: list[Any] = []  # those implications, for the solvers ``example`` makes
        self._leaves: dict[tuple[Any, ...], Any] = {}  # a leaf's formula, by what it reads and compares
        self._packing: tuple[Any, dict[str, tuple[int, int]]] | None = None  # ``_packed``, once built
        self._fires: dict[str, Any] = {}
        self._excluders: dict[str, list[LoadedRule]] | None = None

        self._derivers: dict[str, list[LoadedRule]] = {}
        self._choosers: dict[str, list[LoadedRule]] = {}
        for item in rules.rules:
            for action in item.rule.then:
                if isinstance(action, Derive):
                    self._derivers.setdefault(action.fact, []).append(item)
                elif isinstance(action, ChooseProgramme):
                    self._choosers.setdefault(action.programme, []).append(item)
        self._when: dict[str, Any] = {}
        self._derived: dict[tuple[str, str], Any] = {}
        self._stop_rules = [r for r in rules.rules if any(isinstance(a, Stop) for a in r.rule.then)]
        self.stop = any_of([self.when(r) for r in self._stop_rules])
        self._programme = self._programme_formulas()
        self.planned = z3.And(z3.Not(self.stop), z3.Not(self._programme[NO_PROGRAMME]))

    # --- encoding -------------------------------------------------------------------------------

    def _index(self, name: str, value: Any) -> int:
        return self.specs[name].values.index(value)

    def is_value(self, name: str, value: Any) -> Any:
        """The intake field ``name`` has ``value``."""
        return self._is(name, value)

    def _is(self, name: str, value: Any) -> Any:
        spec = self.inputs[name]
        if spec.kind == "bool":
            return self.vars[name] if value else z3.Not(self.vars[name])
        if spec.kind == "int":
            return self.vars[name] == value
        return self.vars[name] == self._index(name, value)

    def encode(self, cond: Condition, stage: str = "screen") -> Any:
        """``cond`` as a formula over the intake, as seen by a rule in ``stage``."""
        if cond.always:
            return z3.BoolVal(True)
        if cond.all is not None:
            return all_of([self.encode(c, stage) for c in cond.all])
        if cond.any is not None:
            return any_of([self.encode(c, stage) for c in cond.any])
        if cond.none is not None:
            return z3.Not(any_of([self.encode(c, stage) for c in cond.none]))
        if cond.not_ is not None:
            return z3.Not(self.encode(cond.not_, stage))
        return self._leaf(cond, stage)

    def _leaf(self, leaf: Condition, stage: str) -> Any:
        op, path, operand = leaf.op, leaf.target(), leaf.operand
        # Rule sets repeat leaves ("age >= 60", "no fever"): each distinct one is built once. Only a
        # derived fact reads differently in different stages.
        # (repr: True and 1 are equal keys, but not equal leaves.)
        key = (op, path, repr(operand), stage if path.startswith("derived.") else "")
        formula = self._leaves.get(key)
        if formula is None:
            formula = self._leaves[key] = self._leaf_formula(op, path, operand, stage)
        return formula

    def _leaf_formula(self, op: str, path: str, operand: Any, stage: str) -> Any:
        if op == "contains":
            return self.vars[path]
        if path.startswith("derived."):
            value = self.derived(path.split(".", 1)[1], stage)
            truth = value if operand is True else z3.Not(value)
            return truth if op == "eq" else z3.Not(truth)
        if path == "programme":
            values = operand if isinstance(operand, tuple) else (operand,)
            hit = z3.Or(*[self._programme[v] for v in values])
            return z3.Not(hit) if op in ("ne", "not_in") else hit
        spec = self.inputs[path]
        var = self.vars[path]
        if op in ("in", "not_in"):
            hit = z3.Or(*[self._is(path, v) for v in operand])
            return hit if op == "in" else z3.Not(hit)
        if op in ("eq", "ne"):
            hit = self._is(path, operand)
            return hit if op == "eq" else z3.Not(hit)
        assert spec.kind == "int"
        result: Any = {"lt": var < operand, "lte": var <= operand, "gt": var > operand, "gte": var >= operand}[op]
        return result

    def derived(self, name: str, stage: str) -> Any:
        """``derived.<name>`` as a rule in ``stage`` sees it: some rule of an earlier stage derived it."""
        key = (name, stage)
        if key not in self._derived:
            before = STAGES.index(stage)
            makers = [r for r in self._derivers.get(name, []) if STAGES.index(r.rule.stage) < before]
            self._derived[key] = any_of([self.when(r) for r in makers])
        return self._derived[key]

    def _programme_formulas(self) -> dict[str, Any]:
        """programme id -> "the select stage sees this programme" (the most conservative chosen)."""
        programmes = self.knowledge.programmes
        ranked = [programmes[p] for p in programme_order({p.id: p.caution_rank for p in programmes.values()})]
        chosen = {
            p.id: any_of([self.when(r) for r in self._choosers[p.id]]) if p.id in self._choosers else None
            for p in ranked
        }
        out: dict[str, Any] = {}
        earlier: list[Any] = []
        for p in ranked:
            c = chosen[p.id]
            out[p.id] = z3.And(c, *[z3.Not(e) for e in earlier]) if c is not None else z3.BoolVal(False)
            if c is not None:
                earlier.append(c)
        out[NO_PROGRAMME] = z3.Not(z3.Or(*earlier)) if earlier else z3.BoolVal(True)
        return out

    def programme_is(self, programme: str) -> Any:
        """The select stage sees ``programme`` (``NO_PROGRAMME``: the route stage chose none)."""
        return self._programme[programme]

    def when(self, item: LoadedRule) -> Any:
        """The rule's condition in its own stage (whether or not its stage runs)."""
        if item.id not in self._when:
            self._when[item.id] = self.encode(item.rule.when, item.rule.stage)
        return self._when[item.id]

    def fires(self, item: LoadedRule) -> Any:
        """The rule fires: its stage runs (no stop before route; a programme before select) and it holds."""
        formula = self._fires.get(item.id)
        if formula is None:
            runs = _GATES[item.rule.stage]
            gate = {"always": None, "not_stopped": lambda: z3.Not(self.stop), "planned": lambda: self.planned}[runs]
            formula = self.when(item) if gate is None else all_of([gate(), self.when(item)])
            self._fires[item.id] = formula
        return formula

    def stop_rules(self) -> list[LoadedRule]:
        return list(self._stop_rules)

    def excluders(self, exercise: str) -> list[LoadedRule]:
        """The rules with an exclusion that selects ``exercise`` (by id, tag or category), in rule order."""
        if self._excluders is None:
            exercises = list(self.knowledge.exercises.values())
            index: dict[str, list[LoadedRule]] = {ex.id: [] for ex in exercises}
            for item in self.rules.rules:
                excludes = [a for a in item.rule.then if isinstance(a, Exclude)]
                for ex_id in dict.fromkeys(ex_id for a in excludes for ex_id in a.selected(exercises)):
                    index[ex_id].append(item)
            self._excluders = index
        return list(self._excluders.get(exercise, ()))

    def allowed_named(self, exercise: str) -> Any:
        """No rule excluding ``exercise`` fires (named once; see ``guard``)."""
        excluders = self.excluders(exercise)
        if not excluders:
            return z3.BoolVal(True)
        return self.guard(("allowed", exercise), lambda: z3.Not(any_of([self.fires(r) for r in excluders])))

    # --- named formulas (for ``possible`` and ``example`` of this Logic only) ---------------------

    def guard(self, key: Any, formula: Any | Callable[[], Any]) -> Any:
        """A Boolean constant that implies ``formula``, asserted once in this Logic's solver.

        In a question to ``possible`` or ``example``, ``guard(k, f)`` means the same as ``f`` *where it
        occurs positively* (not under a ``Not``; name the negation instead): whatever satisfies the
        question with ``f`` satisfies it with the guard true, and back. The solver reads ``f`` once, not
        once per question. ``formula`` may be a function making it (called only the first time).

        Every formula the solver holds costs every later question a little, asked about or not: name
        only the few large formulas many questions share (never one per rule), and those of one family
        of questions inside a ``scope``. Guards mean nothing to other solvers: pass them only to this
        Logic.
        """
        const = self._guards.get(key)
        if const is None:
            const = z3.Bool(f"!guard{len(self._guards)}")  # "!" is in no field name
            rule = z3.Implies(const, formula() if callable(formula) else formula)
            self._solver.add(rule)
            self._guard_rules.append(rule)
            self._guards[key] = const
        return const

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Guards made inside are dropped at the end: each formula the solver holds slows every question
        a little, so a family of questions naming its own formulas runs in a scope of its own."""
        saved = (dict(self._guards), list(self._guard_rules))
        self._solver.push()
        try:
            yield
        finally:
            self._solver.pop()
            self._guards, self._guard_rules = saved

    def fires_named(self, item: LoadedRule) -> Any:
        """``fires(item)`` for ``possible``/``example``, with "its stage runs" named once for all rules."""
        runs = _GATES[item.rule.stage]
        if runs == "always":
            return self.when(item)
        if runs == "not_stopped":
            return all_of([self.guard("not stop", lambda: z3.Not(self.stop)), self.when(item)])
        return all_of([self.guard("planned", self.planned), self.when(item)])

    # --- questions --------------------------------------------------------------------------------

    def possible(self, *formulas: Any) -> bool:
        """Some intake satisfies all ``formulas``."""
        solver = self._solver
        solver.push()
        try:
            solver.add(*formulas)
            return bool(solver.check() == z3.sat)
        finally:
            solver.pop()

    def example(self, *formulas: Any) -> dict[str, Any] | None:
        """An intake (as flat field -> value, only what differs from the baseline) satisfying all
        ``formulas``, or None when no intake does. The example changes as few answers as it can."""
        if not self.possible(*formulas):
            return None
        optimizer = z3.Optimize()
        optimizer.add(self.domain, *self._guard_rules, *formulas)
        for name in self.inputs:
            optimizer.add_soft(self._is(name, self._baseline(name)))
        fewest = len(self.inputs)
        if optimizer.check() == z3.sat:
            values = self.values(optimizer.model())
            fewest = sum(1 for k, v in values.items() if v != self._baseline(k))
        # Among the examples changing that few answers, the first in field order, so that the same
        # question always gets the same example (the optimiser alone may pick any of them).
        solver = z3.Solver()
        differs = [z3.Not(self._is(name, self._baseline(name))) for name in self.inputs]
        solver.add(self.domain, *self._guard_rules, *formulas, z3.AtMost(*differs, fewest))
        for name, spec in self.inputs.items():
            solver.add(self._first_possible(solver, name, spec))
        solver.check()
        values = self.values(solver.model())
        return {k: v for k, v in values.items() if v != self._baseline(k)}

    def _first_possible(self, solver: Any, name: str, spec: FieldSpec) -> Any:
        """The baseline value of ``name`` if possible, else its first possible value."""
        var = self.vars[name]
        base = self._is(name, self._baseline(name))
        if solver.check(base) == z3.sat:
            return base
        if spec.kind == "bool":
            return var if solver.check(var) == z3.sat else z3.Not(var)
        low, high = (spec.minimum, spec.maximum) if spec.kind == "int" else (0, len(spec.values) - 1)
        while low < high:  # the smallest possible value: "var <= v" is monotone in v
            middle = (low + high) // 2
            if solver.check(var <= middle) == z3.sat:
                high = middle
            else:
                low = middle + 1
        return var == low

    def holds_in(self, model_values: Mapping[str, Any], formula: Any) -> bool:
        """Evaluate ``formula`` at a full assignment of the intake fields."""
        subs = [(self.vars[k], self._literal(k, v)) for k, v in model_values.items()]
        return bool(z3.is_true(z3.simplify(z3.substitute(formula, *subs))))

    def full(self, changed: Mapping[str, Any]) -> dict[str, Any]:
        """The baseline with ``changed`` applied: a full assignment of the intake fields."""
        return {name: changed.get(name, self._baseline(name)) for name in self.inputs}

    def _literal(self, name: str, value: Any) -> Any:
        spec = self.inputs[name]
        if spec.kind == "bool":
            return z3.BoolVal(bool(value))
        if spec.kind == "int":
            return z3.IntVal(int(value))
        return z3.IntVal(self._index(name, value))

    def _baseline(self, name: str) -> Any:
        if name in self._base:
            return self._base[name]
        spec = self.inputs[name]
        if spec.kind == "bool":
            return False
        if spec.kind == "int":
            return spec.minimum
        return spec.values[0]

    def answers(self, changed: Mapping[str, Any]) -> dict[str, Any]:
        """An answers mapping (the answers-file layout) for the baseline with ``changed`` applied."""
        full = self.full(changed)
        out = baseline_answers(self.knowledge)
        out["equipment"] = [e for e in self.knowledge.equipment if full.get(f"equipment.{e}")]
        out["conditions"] = [c for c in self.knowledge.conditions if full.get(f"conditions.{c}")]
        for name, value in full.items():
            head, _, tail = name.partition(".")
            if head in ("equipment", "conditions", "startback"):
                continue
            if tail:
                out[head][tail] = value
            else:
                out[head] = value
        if full.get("startback.given"):
            out["startback"] = {"total": full["startback.total"], "distress": full["startback.distress"]}
        return out

    def values(self, model: Any) -> dict[str, Any]:
        """Every answer's value in ``model`` (one not in it: false, 0, an enum's first value). The yes/no and
        enum answers are read in one evaluation of a bit-vector that packs them (``_packed``), the numbers one
        by one: a ``model.eval`` per answer was most of the time spent listing signatures."""
        packed, layout = self._packed()
        word = model.eval(packed, model_completion=True).as_long() if packed is not None else 0
        out: dict[str, Any] = {}
        for name, spec in self.inputs.items():
            if spec.kind == "int":
                out[name] = model.eval(self.vars[name], model_completion=True).as_long()
                continue
            shift, mask = layout[name]
            raw = word >> shift & mask
            out[name] = bool(raw) if spec.kind == "bool" else spec.values[raw]
        return out

    def _packed(self) -> tuple[Any, dict[str, tuple[int, int]]]:
        """The yes/no and enum answers as one bit-vector expression (an enum: its index, in as few bits as its
        values need), and where each one's bits are in it: name -> (shift, mask). Built once."""
        if self._packing is None:
            names: list[str] = []
            parts: list[tuple[Any, int]] = []
            for name, spec in self.inputs.items():
                if spec.kind == "bool":
                    names.append(name)
                    parts.append((bit(self.vars[name]), 1))
                elif spec.kind != "int":
                    width = max(1, (len(spec.values) - 1).bit_length())
                    names.append(name)
                    parts.append((z3.Int2BV(self.vars[name], width), width))
            packed, places = pack(parts)
            self._packing = (packed, dict(zip(names, places, strict=True)))
        return self._packing


def bit(formula: Any) -> Any:
    """A yes/no formula as a one-bit bit-vector (1: true), a part for ``pack``."""
    return z3.If(formula, z3.BitVecVal(1, 1), z3.BitVecVal(0, 1))


def pack(parts: Sequence[tuple[Any, int]]) -> tuple[Any, list[tuple[int, int]]]:
    """Bit-vector expressions, each with its width, as one (None for none), and where each one's bits are in
    its value: (shift, mask), in the order given. One ``model.eval`` of it reads them all:
    ``value >> shift & mask``."""
    places: list[tuple[int, int]] = []
    shift = sum(width for _, width in parts)
    for _, width in parts:  # z3.Concat puts its first part in the highest bits
        shift -= width
        places.append((shift, (1 << width) - 1))
    exprs = [expr for expr, _ in parts]
    return (None if not exprs else exprs[0] if len(exprs) == 1 else z3.Concat(*exprs)), places


def any_of(parts: Sequence[Any]) -> Any:
    """``z3.Or(*parts)`` (false for none), built in one call: z3's Python ``Or`` checks every argument
    through several layers, which made building the formulas of a large rule set most of its cost."""
    return _join(z3.Z3_mk_or, parts, False)


def all_of(parts: Sequence[Any]) -> Any:
    """``z3.And(*parts)`` (true for none), built in one call (see ``any_of``)."""
    return _join(z3.Z3_mk_and, parts, True)


def _join(make: Any, parts: Sequence[Any], empty: bool) -> Any:
    if not parts:
        return z3.BoolVal(empty)
    if len(parts) == 1:
        return parts[0]
    ctx = parts[0].ctx
    array = (z3.Ast * len(parts))(*[part.as_ast() for part in parts])
    return z3.BoolRef(make(ctx.ref(), len(parts), array), ctx)


def _flatten(answers: Mapping[str, Any], knowledge: Knowledge) -> dict[str, Any]:
    """Answers as the flat fields rules read (``pain.status``, ``equipment.barbell``, ``startback.given``)."""
    out: dict[str, Any] = {}
    for key, value in answers.items():
        if key in ("equipment", "conditions"):
            vocab = knowledge.equipment if key == "equipment" else knowledge.conditions
            out.update({f"{key}.{item}": item in value for item in vocab})
        elif isinstance(value, Mapping):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    out.setdefault("startback.given", False)
    out.setdefault("startback.total", 0)
    out.setdefault("startback.distress", 0)
    return out


def check_declaration_fields(cond: Condition, inputs: Iterable[str], file: str, location: str) -> None:
    """A declaration (screening.toml) may read only answers, never rule-made facts."""
    names = set(inputs)
    for leaf in cond.leaves():
        target = leaf.target()
        if target not in names:
            from .errors import closest

            raise KnowledgeError(
                f"unknown answer field '{target}' in a declaration",
                file=file,
                location=location,
                suggestion=closest(target, names),
            )


def describe(changed: Mapping[str, Any], order: Sequence[str] | None = None) -> str:
    """``{"screening.fever": True, "age": 60}`` -> ``screening.fever=true, age=60`` (baseline otherwise)."""
    keys = [k for k in order if k in changed] if order is not None else list(changed)
    parts = [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in ((k, changed[k]) for k in keys)]
    return ", ".join(parts) if parts else "the baseline answers (all no, no pain, age 35)"
