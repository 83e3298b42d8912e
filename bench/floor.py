"""The floor every figure is compared with: one trivial durable_rules evaluation.

A Host with one rule, one fact asserted in a fresh session, then ``delete_state``: the least work
durable_rules does per evaluation, and so the least any plan (three stages) could cost. The Host
never starts its dispatcher thread (as in engine/durable_host.py), so the loop is single-threaded.
"""

from __future__ import annotations

import itertools
from typing import Any

from durable import engine as durable_engine


class _QuietHost(durable_engine.Host):  # type: ignore[misc]
    def _run(self) -> None:
        return None


class TrivialEvaluation:
    """``evaluate()`` = assert one fact that fires one rule, then delete the session."""

    def __init__(self) -> None:
        self.fired = 0
        self._sids = itertools.count(1)

        def action(c: Any) -> None:
            self.fired += 1

        self._host = _QuietHost()
        self._host.register_rulesets({"bench_floor": {"r": {"all": [{"m": {"x": 1}}], "run": action}}})

    def evaluate(self) -> None:
        sid = str(next(self._sids))
        try:
            self._host.assert_fact("bench_floor", {"sid": sid, "x": 1})
        finally:
            self._host.delete_state("bench_floor", sid)


class LeanTrivialEvaluation(TrivialEvaluation):
    """The same one-rule evaluation driven the way engine/durable_host.py drives durable: the agenda
    is drained with durable's native calls instead of running a Python action through durable's
    Closure/Promise machinery. The least one stage of a plan can cost."""

    def evaluate(self) -> None:
        native = durable_engine.durable_rules_engine
        ruleset = self._host.get_ruleset("bench_floor")
        sid = str(next(self._sids))
        try:
            state = ruleset.assert_fact({"sid": sid, "x": 1})
            result = native.start_action_for_state(ruleset._handle, state)
            message = result[1] if result else None
            while message:
                self.fired += 1
                message = native.complete_and_start_action(ruleset._handle, state)
        finally:
            ruleset.delete_state(sid)
