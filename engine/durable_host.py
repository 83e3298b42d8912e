"""The only module that imports durable_rules.

One ``DurableEvaluator`` per rule set: one Host (no background dispatcher), one lock, every
evaluation in a fresh session that is deleted afterwards. Actions only record that a rule fired;
their effects are applied in plain Python by the planner. Any failure inside durable_rules (or an
action) surfaces as ``EngineError``: never a silently partial result.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable, Mapping
from typing import Any

from durable import engine as _durable

from .errors import EngineError

# Every stage gets a rule that matches every fact. durable_rules 2.0.28 crashes the process (free():
# invalid pointer) when a session whose only fact matched nothing is deleted, and leaks the session if
# it is not; with a catch-all, every assert is handled and every session can be deleted. Rule ids in
# files must start with a letter, so this id can never clash.
_SEEN = "__seen"
_SEEN_RULE = {"all": [{"m": {"$ex": {"age": 1}}}], "pri": 65000}

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


def _ignore(c: Any) -> None:
    return None


class DurableEvaluator:
    """Evaluate one fact per stage and return the ids of the rules that fired, in firing order."""

    def __init__(self, stages: DurableRules, namespace: str = "backplan") -> None:
        self._lock = threading.Lock()
        self._sink: list[str] | None = None
        self._sids = itertools.count(1)
        self._names = {stage: f"{namespace}_{stage}" for stage in stages}
        self._host = _QuietHost(self._action)
        definitions = {
            self._names[stage]: {**copy.deepcopy(dict(rules)), _SEEN: {**_SEEN_RULE, "run": _SEEN}}
            for stage, rules in stages.items()
        }
        try:
            if definitions:
                self._host.register_rulesets(definitions)
        except Exception as exc:  # durable's own errors are opaque codes; name the stage set at least
            raise EngineError(f"durable_rules rejected the compiled rules: {exc}") from exc

    def _action(self, name: str) -> Callable[[Any], None]:
        # Exactly one parameter: durable treats a 2-parameter action as async and stops the chain.
        if name == _SEEN:
            return _ignore

        def record(c: Any) -> None:
            if self._sink is None:  # pragma: no cover - only reachable if durable fires outside evaluate()
                raise RuntimeError("rule fired outside an evaluation")
            self._sink.append(name)

        return record

    def stages(self) -> tuple[str, ...]:
        return tuple(self._names)

    def evaluate(self, stage: str, fact: Mapping[str, Any]) -> list[str]:
        """Rule ids fired by ``fact`` in ``stage``, each once, in firing order."""
        ruleset = self._names.get(stage)
        if ruleset is None:
            return []
        with self._lock:
            sid = str(next(self._sids))
            fired: list[str] = []
            self._sink = fired
            try:
                self._host.assert_fact(ruleset, {**fact, "sid": sid})
                state = self._host.get_state(ruleset, sid)
                if isinstance(state, Mapping) and "exception" in state:
                    raise EngineError(f"a rule action failed in stage '{stage}': {state['exception']}")
            except EngineError:
                raise
            except Exception as exc:
                raise EngineError(f"durable_rules failed in stage '{stage}': {type(exc).__name__}: {exc}") from exc
            finally:
                self._sink = None
                self._host.delete_state(ruleset, sid)
        # "$or" patterns fire once per true branch (durable_rules issue #308): keep the first firing.
        return list(dict.fromkeys(fired))
