"""Shared fixtures: the bundled rule book, and a factory for valid answers with overrides."""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

# Remembered check verdicts (engine/verdicts.py) go to a folder of this test run, never to the user's
# cache: every run proves the shipped set at least once, and subprocesses inherit the setting.
os.environ["BACKPLAN_CACHE_DIR"] = tempfile.mkdtemp(prefix="backplan-test-cache-")

import engine
from engine.intake import baseline_answers
from engine.obligations import stop_obligations

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

_KNOWLEDGE = engine.load_knowledge(engine.default_knowledge_dir())

# The screening answers that on their own must stop the plan: taken from what knowledge/screening.toml
# declares (a "stop" meaning with no further condition), never from a copy kept here.
RED_FLAG_QUESTIONS: tuple[str, ...] = tuple(
    o.subject for o in stop_obligations(_KNOWLEDGE) if o.kind == "question" and o.meaning.when is None
)

# The baseline person (35, beginner, active, no pain, every screening question "no"), from the library.
BASE_ANSWERS: dict[str, Any] = baseline_answers(_KNOWLEDGE)


def answers(**changes: Any) -> dict[str, Any]:
    """Valid answers with changes; nested keys as 'pain__intensity' or 'screening__fever'."""
    data = copy.deepcopy(BASE_ANSWERS)
    for key, value in changes.items():
        if "__" in key:
            outer, inner = key.split("__", 1)
            data[outer][inner] = value
        else:
            data[key] = value
    return data


@pytest.fixture(scope="session")
def book() -> engine.RuleBook:
    return engine.load_rulebook()


@pytest.fixture(scope="session")
def knowledge(book: engine.RuleBook) -> engine.Knowledge:
    return book.knowledge
