"""Every shipped rule fires for some intake and stays silent for another -- checked on the real engine.

The intakes are not a table kept in step with rules/: for each rule the solver (engine.symbolic) finds
the smallest change to the baseline person that makes it fire, and one that keeps it silent. Running
the real planner on both cross-checks the solver's model of the pipeline against durable_rules.
"""

from __future__ import annotations

import pytest
import z3

import engine
from engine.symbolic import Logic

_BOOK = engine.load_rulebook()
_LOGIC = Logic(_BOOK.rules, _BOOK.knowledge)
RULES = [item.id for item in _BOOK.rules.rules]


def _fired(book: engine.RuleBook, answers: dict[str, object]) -> list[str]:
    plan = engine.recommend(engine.parse_intake(answers, book.knowledge), book)
    return [entry.rule for entry in plan.trace]


@pytest.mark.parametrize("rule_id", RULES)
def test_rule_fires(rule_id: str, book: engine.RuleBook) -> None:
    item = book.rules.by_id()[rule_id]
    example = _LOGIC.example(_LOGIC.fires(item))
    assert example is not None, f"{rule_id} can never fire"
    assert rule_id in _fired(book, _LOGIC.answers(example)), example


@pytest.mark.parametrize("rule_id", RULES)
def test_rule_is_silent(rule_id: str, book: engine.RuleBook) -> None:
    item = book.rules.by_id()[rule_id]
    example = _LOGIC.example(z3.Not(_LOGIC.fires(item)))
    if example is None:  # fires for every intake: only an "always" rule of the screen may
        assert item.rule.when.always and item.rule.stage == "screen"
        return
    assert rule_id not in _fired(book, _LOGIC.answers(example)), example
