"""backplan engine: a rule-based back-training planner with a safety screen.

The public surface is small::

    import engine
    book = engine.load_rulebook()                     # bundled rules + knowledge (or pass folders)
    intake = engine.load_intake("answers.toml", book.knowledge)
    plan = engine.recommend(intake, book)             # a ``Plan``; ``plan.to_json()`` is canonical

Errors: ``engine.InputError`` (bad answers, rules or knowledge; exit 2) and ``engine.EngineError``
(internal failure; no plan). Nothing here prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    BackplanError,
    EngineError,
    InputError,
    IntakeError,
    KnowledgeError,
    RuleError,
    UnknownExerciseError,
)

if TYPE_CHECKING:  # the same names, imported on first use below: `import engine` costs almost nothing
    from .intake import Intake, intake_to_toml, load_intake, parse_intake
    from .knowledge import Knowledge, load_knowledge
    from .plan import Plan
    from .planner import Evaluation, RuleBook, evaluate, load_rulebook, recommend
    from .resources import default_knowledge_dir, default_rules_dir
    from .ruleset import RuleSet, load_rules

_LAZY: dict[str, str] = {
    "Intake": "intake",
    "intake_to_toml": "intake",
    "load_intake": "intake",
    "parse_intake": "intake",
    "Knowledge": "knowledge",
    "load_knowledge": "knowledge",
    "Plan": "plan",
    "Evaluation": "planner",
    "RuleBook": "planner",
    "evaluate": "planner",
    "load_rulebook": "planner",
    "recommend": "planner",
    "default_knowledge_dir": "resources",
    "default_rules_dir": "resources",
    "RuleSet": "ruleset",
    "load_rules": "ruleset",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "BackplanError",
    "EngineError",
    "Evaluation",
    "InputError",
    "Intake",
    "IntakeError",
    "Knowledge",
    "KnowledgeError",
    "Plan",
    "RuleBook",
    "RuleError",
    "RuleSet",
    "UnknownExerciseError",
    "__version__",
    "default_knowledge_dir",
    "default_rules_dir",
    "evaluate",
    "intake_to_toml",
    "load_intake",
    "load_knowledge",
    "load_rulebook",
    "load_rules",
    "parse_intake",
    "recommend",
]
