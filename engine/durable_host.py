"""The only module that imports durable_rules.

One ``DurableEvaluator`` per rule set: one Host (no background dispatcher), one lock, every
evaluation in a fresh session that is deleted afterwards. durable_rules does the matching (its C
rete network decides which rules fire, and in which order); this module only drains the agenda of
fired rules and records their ids. The planner applies their effects in plain Python. Any failure
inside durable_rules surfaces as ``EngineError``: never a silently partial result.

Two facts about durable_rules 2.0.28 shape the code (both measured; see docs/performance.md):

* **Draining the agenda ourselves.** durable's Python layer runs each fired rule's action through a
  ``Closure``/``Promise`` pair that JSON-decodes the whole matched fact, re-encodes the session
  state and swallows exceptions into that state: about 50 µs a firing, most of a plan's cost. Our
  actions only need the rule id, which is the first key of the message durable hands out, so we
  call the same native functions durable's ``Ruleset.do_actions`` calls
  (``start_action_for_state`` / ``complete_and_start_action``) and read the id from the message
  head. Nothing runs inside durable that could fail silently, so no state needs checking.
* **Shards.** durable walks its alpha network depth-first with a fixed stack of 64 nodes, pushing
  every child that matches: a fact for which more than 64 paths are open at once fails with
  ``error code: 303`` (ERR_MAX_STACK_SIZE; e.g. 64 rules that all match, plus the catch-all), and
  deleting that session then crashes the process. The
  nodes on that stack are roots of disjoint subtrees, each holding at least one end of a path, so
  the stack never holds more entries than the network has paths: the number of terms of the rules'
  patterns in disjunctive normal form. A stage with more than ``SHARD_TERMS`` of them is split into
  several rulesets ("shards"), each evaluated in its own session; rules in one stage never interact
  (one fact, no joins), so the union of the shards' firings is the stage's firing. The bundled
  stages each fit in one shard.

Facts are projected onto the fields the stage's rules read and encoded once per stage: less JSON to
write, and for durable to parse and to store per matching rule, and far from durable's limit of
about 250 properties a fact (``error code: 302``).

``DurableEvaluator.stream`` keeps one session open for a stream of facts (the training journal's
check-ins, ``engine.journal``): each assert returns the rules its arrival fired, joins included, with
the same agenda draining.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from durable import engine as _durable

from .compiler import pattern_paths, pattern_shape
from .compiler import pattern_terms as pattern_terms  # re-exported: it was defined here
from .errors import EngineError

# The C extension durable's own Ruleset calls (``durable.engine`` imports it as ``durable_rules_engine``).
_native: Any = _durable.durable_rules_engine

# Every ruleset gets a rule that matches every fact. durable_rules 2.0.28 crashes the process (free():
# invalid pointer) when a session whose only fact matched nothing is deleted, and leaks the session if
# it is not; with a catch-all, every assert is handled and every session can be deleted. Rule ids in
# files must start with a letter, so this id can never clash.
_SEEN = "__seen"
_SEEN_FIELD = "age"
_SEEN_RULE = {"all": [{"m": {"$ex": {_SEEN_FIELD: 1}}}], "pri": 65000}

# durable_rules' own limits, each measured (bench/durable_limits.py; docs/performance.md, "Rule-set limits").
# engine/ruleset.py refuses rule files well inside them; the evaluator checks them again on what it is
# given, so that nothing it registers can crash, hang or fail durable.
DURABLE_STACK = 64  # alpha nodes open at once for one fact: 64 crash the process (SIGSEGV) or fail (303)
DURABLE_GROUPS = 15  # "$and"/"$or" nodes in one rule: 16 fail to register (error 113)
DURABLE_PROPERTIES = 253  # properties of one fact (session id and nested objects count): 254 fail (302)
MAX_SHARD_TERMS = DURABLE_STACK - 4  # terms one ruleset may hold: with the catch-all, 3 inside the stack

# Pattern terms (paths through the alpha network) one shard may hold: the catch-all adds one, and
# durable's traversal stack holds 64. (Sharding also keeps every alpha node below durable's 511 children,
# beyond which it hangs, and every stage below its 4,096 rules a ruleset.)
SHARD_TERMS = MAX_SHARD_TERMS

# JSON as durable's Ruleset writes it (ensure_ascii=False), compact, with one cached encoder.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

DurableRules = Mapping[str, Mapping[str, Mapping[str, Any]]]


class _QuietHost(_durable.Host):  # type: ignore[misc]
    """A Host whose timer/dispatcher thread never starts: evaluation happens only in the caller."""

    def __init__(self, resolve: Callable[[str], Callable[[Any], None]]) -> None:
        self._resolve = resolve
        super().__init__()

    def _run(self) -> None:  # the upstream loop races with callers; we never need it
        return None

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        return self._resolve(action_name)


def _never(name: str) -> Callable[[Any], None]:
    """The action durable registers: never called, because the evaluator drains the agenda itself."""

    def action(c: Any) -> None:
        raise RuntimeError(f"rule {name} fired outside DurableEvaluator.evaluate")

    return action


def _shards(rules: Mapping[str, Mapping[str, Any]], limit: int) -> list[dict[str, Mapping[str, Any]]]:
    """Split one stage's rules, in order, into groups of at most ``limit`` pattern terms (a rule is never split)."""
    groups: list[dict[str, Mapping[str, Any]]] = [{}]
    used = 0
    for rule_id, rule in rules.items():
        size = sum(pattern_terms(alias) for part in rule["all"] for alias in part.values())
        if groups[-1] and used + size > limit:
            groups.append({})
            used = 0
        groups[-1][rule_id] = rule
        used += size
    return groups


def _check_limits(stages: DurableRules, shard_terms: int) -> None:
    """Refuse, with the rule's name, any pattern or stage durable_rules cannot take (see the constants).

    A shard holds at most ``shard_terms`` terms, or one rule larger than that: both stay within
    ``MAX_SHARD_TERMS``, so with the catch-all the traversal stack never fills."""
    if shard_terms > MAX_SHARD_TERMS:
        raise EngineError(f"shards of {shard_terms} pattern terms overflow durable_rules' stack of {DURABLE_STACK}")
    for stage, rules in stages.items():
        paths = {_SEEN_FIELD}
        for rule_id, rule in rules.items():
            for part in rule["all"]:
                for pattern in part.values():
                    shape = pattern_shape(pattern)
                    if shape.terms > MAX_SHARD_TERMS or shape.groups > DURABLE_GROUPS:
                        raise EngineError(
                            f"rule {rule_id} (stage '{stage}') is too large for durable_rules: {shape.terms} "
                            f"pattern terms (at most {MAX_SHARD_TERMS}), {shape.groups} and/or groups "
                            f"(at most {DURABLE_GROUPS})"
                        )
                    paths.update(pattern_paths(pattern))
        objects = {path.rsplit(".", 1)[0] for path in paths if "." in path}
        nested = {".".join(o.split(".")[: i + 1]) for o in objects for i in range(o.count(".") + 1)}
        properties = 1 + len(paths) + len(nested)  # 1: the session id
        if properties > DURABLE_PROPERTIES:
            raise EngineError(
                f"stage '{stage}' reads too many fields for durable_rules: its fact would have {properties} "
                f"properties (at most {DURABLE_PROPERTIES})"
            )


class _Projection:
    """Copies only the fields a stage reads out of a fact (nested dicts, addressed by dotted paths)."""

    def __init__(self, paths: set[str]) -> None:
        tree: dict[str, Any] = {}
        for path in sorted(paths):
            node = tree
            parts = path.split(".")
            for part in parts[:-1]:
                child = node.setdefault(part, {})
                if child is None:  # "a" and "a.b" both read: keep the whole of "a"
                    break
                node = child
            else:
                node[parts[-1]] = None
        # Each top-level field with what is read inside it: None for all of it, the keys when they are all
        # leaves (every fact today: one dict comprehension instead of a call), else its subtree.
        self._fields: tuple[tuple[str, tuple[str, ...] | Mapping[str, Any] | None], ...] = tuple(
            (key, tuple(sub) if sub is not None and all(v is None for v in sub.values()) else sub)
            for key, sub in tree.items()
        )

    def __call__(self, fact: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, sub in self._fields:
            if key not in fact:
                continue
            value = fact[key]
            if sub is None or not isinstance(value, Mapping):
                out[key] = value
            elif isinstance(sub, tuple):
                out[key] = {leaf: value[leaf] for leaf in sub if leaf in value}
            else:
                out[key] = _project(value, sub)
        return out


def _project(fact: Mapping[str, Any], tree: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, sub in tree.items():
        if key not in fact:
            continue
        value = fact[key]
        if sub is None or not isinstance(value, Mapping):
            out[key] = value
        else:
            out[key] = _project(value, sub)
    return out


class DurableEvaluator:
    """Evaluate one fact per stage and return the ids of the rules that fired, in firing order."""

    def __init__(
        self,
        stages: DurableRules,
        namespace: str = "backplan",
        shard_terms: int = SHARD_TERMS,
        guard: bool = True,
        seen_field: str = _SEEN_FIELD,
    ) -> None:
        """``guard=False`` hands durable whatever it is given (bench/durable_limits.py measures durable).

        ``seen_field``: a field every fact asserted has (the catch-all rule matches on it)."""
        if guard:
            _check_limits(stages, shard_terms)
        self._lock = threading.Lock()
        self._sids = itertools.count(1)
        self._host = _QuietHost(_never)
        self._stages: dict[str, tuple[Any, ...]] = {}  # stage -> the durable Ruleset of each shard
        self._projections: dict[str, _Projection] = {}  # stage -> the fields its rules read
        self._known: dict[str, frozenset[str]] = {}
        self._priority: dict[str, int] = {}
        definitions: dict[str, dict[str, Any]] = {}
        shards: dict[str, list[str]] = {}
        for stage, rules in stages.items():
            groups = _shards(rules, shard_terms)
            shards[stage] = []
            for index, group in enumerate(groups):
                name = f"{namespace}_{stage}" if len(groups) == 1 else f"{namespace}_{stage}_{index}"
                seen = {"all": [{"m": {"$ex": {seen_field: 1}}}], "pri": _SEEN_RULE["pri"], "run": _SEEN}
                # durable deletes each rule's 'run' from the dict it is given (and only reads the rest): a
                # copy of each rule's top level keeps the compiled rules intact.
                definitions[name] = {**{rule_id: dict(rule) for rule_id, rule in group.items()}, _SEEN: seen}
                shards[stage].append(name)
            paths = {seen_field}
            for rule_id, rule in rules.items():
                self._priority[rule_id] = int(rule.get("pri", 0))
                for part in rule["all"]:
                    for alias in part.values():
                        paths.update(pattern_paths(alias))
            paths.discard("sid")  # the session id is ours to set
            self._projections[stage] = _Projection(paths)
            self._known[stage] = frozenset([*rules, _SEEN])
        try:
            if definitions:
                self._host.register_rulesets(definitions)
        except Exception as exc:  # durable's own errors are opaque codes; name the stage set at least
            raise EngineError(f"durable_rules rejected the compiled rules: {exc}") from exc
        for stage, names in shards.items():
            self._stages[stage] = tuple(self._host.get_ruleset(name) for name in names)

    def stages(self) -> tuple[str, ...]:
        return tuple(self._stages)

    def shards(self, stage: str) -> int:
        """How many durable rulesets the stage was split into (1 unless it is very large)."""
        return len(self._stages.get(stage, ()))

    def evaluate(self, stage: str, fact: Mapping[str, Any]) -> list[str]:
        """Rule ids fired by ``fact`` in ``stage``, each once, in firing order."""
        rulesets = self._stages.get(stage)
        if rulesets is None:
            return []
        known = self._known[stage]
        # One JSON text for every shard (durable's Ruleset.assert_fact would encode it per shard).
        try:
            inner = _ENCODE(self._projections[stage](fact))[1:-1]
        except (TypeError, ValueError, RecursionError) as exc:  # not JSON data: nothing durable could match
            raise EngineError(f"cannot pass the fact to durable_rules in stage '{stage}': {exc}") from exc
        tail = ("," + inner if inner else "") + "}"
        fired: list[str] = []
        with self._lock:
            for ruleset in rulesets:
                self._evaluate_one(stage, ruleset, tail, known, fired)
        if len(rulesets) > 1:  # each shard fires in priority order; merge them (sort is stable)
            fired.sort(key=self._priority.__getitem__)
        # "$or" patterns fire once per true branch (durable_rules issue #308): keep the first firing.
        return list(dict.fromkeys(fired))

    def _evaluate_one(self, stage: str, ruleset: Any, tail: str, known: frozenset[str], fired: list[str]) -> None:
        """Assert the fact (``tail``: its JSON after the session id) in a new session of one shard."""
        sid = str(next(self._sids))
        handle = ruleset._handle
        asserted = False
        try:
            # What durable's Ruleset.assert_fact does, minus re-encoding: any result but "ok" fails
            # (1 not handled, 2 already observed, 3 deferred; none can happen with the catch-all rule
            # and a fresh session, so any of them means durable is not doing what we rely on).
            code, state = _native.assert_fact(handle, '{"sid":"' + sid + '"' + tail)
            asserted = True
            if code != 0:
                raise EngineError(f"durable_rules did not take the fact in stage '{stage}' (result code {code})")
            self._drain(handle, state, known, fired)
        except Exception as exc:
            # Not after a failed assert: deleting that session crashes the process (free(): invalid pointer;
            # measured with error 303), so it is left (one session leaked, on a path the limits close).
            if asserted:
                with contextlib.suppress(Exception):  # e.g. nothing was stored: the first error is the one to report
                    ruleset.delete_state(sid)
            if isinstance(exc, EngineError):
                raise
            raise EngineError(f"durable_rules failed in stage '{stage}': {type(exc).__name__}: {exc}") from exc
        try:
            _native.delete_state(handle, sid)  # what durable's Ruleset.delete_state does with a str sid
        except Exception as exc:  # pragma: no cover - durable never fails here in practice
            raise EngineError(f"durable_rules could not delete a session in stage '{stage}': {exc}") from exc

    def _drain(self, handle: Any, state: Any, known: frozenset[str], fired: list[str]) -> None:
        """Take every queued action off the agenda, recording each fired rule's id (the catch-all aside)."""
        result = _native.start_action_for_state(handle, state)
        message = result[1] if result else None
        while message:
            name = self._rule_name(message, known)
            if name != _SEEN:
                self._fire(name, fired)
            message = _native.complete_and_start_action(handle, state)

    @contextlib.contextmanager
    def stream(self, stage: str) -> Iterator[DurableStream]:
        """One session of ``stage`` for a stream of facts: assert them one by one, each returning the rules
        that its arrival fired (joins over the facts asserted so far). The session is deleted afterwards;
        the evaluator is locked meanwhile. A stage split into shards cannot be streamed (joins would cross
        rulesets)."""
        rulesets = self._stages.get(stage)
        if rulesets is None or len(rulesets) != 1:
            raise EngineError(f"stage '{stage}' cannot be streamed ({len(rulesets or ())} rulesets)")
        with self._lock:
            stream = DurableStream(self, stage, rulesets[0], str(next(self._sids)))
            try:
                yield stream
            finally:
                stream.close()

    @staticmethod
    def _rule_name(message: str, known: frozenset[str]) -> str:
        """The fired rule's id: the first key of the message ``{"rule_id":{"m":{...}}}``."""
        end = message.find('"', 2)
        name = message[2:end] if message.startswith('{"') and end > 2 else ""
        if name not in known:  # not the layout we rely on: decode it properly
            decoded = json.loads(message)
            name = next(iter(decoded), "") if isinstance(decoded, dict) else ""
            if name not in known:
                raise EngineError(f"durable_rules fired an unknown rule: {message[:80]!r}")
        return name

    def _fire(self, name: str, fired: list[str]) -> None:
        """Record one firing (the single place an action happens; tests inject failures here)."""
        fired.append(name)


class DurableStream:
    """A live session of one ruleset (``DurableEvaluator.stream``): facts in, fired rule ids out."""

    def __init__(self, evaluator: DurableEvaluator, stage: str, ruleset: Any, sid: str) -> None:
        self._evaluator = evaluator
        self._stage = stage
        self._ruleset = ruleset
        self._sid = sid
        self._head = '{"sid":"' + sid + '"'
        self._asserted = False
        self._broken = False  # no more facts: a failure happened
        self._leak = False  # nor may the session be deleted: an assert itself failed

    def assert_fact(self, fact: Mapping[str, Any]) -> list[str]:
        """Assert one fact; the ids of the rules its arrival fired, each once, in firing order."""
        if self._broken:
            raise EngineError(f"the durable_rules session of stage '{self._stage}' failed earlier")
        try:
            inner = _ENCODE(dict(fact))[1:-1]
        except (TypeError, ValueError, RecursionError) as exc:
            raise EngineError(f"cannot pass the fact to durable_rules in stage '{self._stage}': {exc}") from exc
        fired: list[str] = []
        handle = self._ruleset._handle
        try:
            code, state = _native.assert_fact(handle, self._head + ("," + inner if inner else "") + "}")
        except Exception as exc:
            # A session whose assert failed is never deleted (that crashes durable: see _evaluate_one).
            self._broken = self._leak = True
            raise EngineError(f"durable_rules failed in stage '{self._stage}': {type(exc).__name__}: {exc}") from exc
        self._asserted = True
        try:
            if code != 0:
                raise EngineError(f"durable_rules did not take the fact in stage '{self._stage}' (result code {code})")
            self._evaluator._drain(handle, state, self._evaluator._known[self._stage], fired)
        except Exception as exc:
            self._broken = True
            if isinstance(exc, EngineError):
                raise
            raise EngineError(f"durable_rules failed in stage '{self._stage}': {type(exc).__name__}: {exc}") from exc
        return list(dict.fromkeys(fired))

    def close(self) -> None:
        if self._asserted and not self._leak:
            try:
                self._ruleset.delete_state(self._sid)
            except Exception as exc:  # pragma: no cover - durable never fails here in practice
                raise EngineError(f"durable_rules could not delete a session in stage '{self._stage}': {exc}") from exc
