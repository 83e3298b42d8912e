"""The rule book: rules and knowledge loaded, checked (once per set of bytes) and compiled to durable_rules,
cached per folder pair so a process pays for it once."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from . import verdicts
from .compiler import compile_stages
from .durable_host import DurableEvaluator
from .index import PlanIndex
from .knowledge import Knowledge, knowledge_digest, load_knowledge
from .resources import default_knowledge_dir, default_rules_dir
from .ruleset import (
    RuleSet,
    load_rules,
    rules_digest,
)


@dataclass(frozen=True)
class RuleBook:
    """Validated knowledge and rules, compiled into durable_rules: everything needed to plan."""

    knowledge: Knowledge
    rules: RuleSet
    evaluator: DurableEvaluator

    @cached_property
    def index(self) -> PlanIndex:
        """Everything about the rules and the catalogue that does not depend on the answers (built once)."""
        return PlanIndex(self.knowledge, self.rules)


_CACHE: dict[tuple[str, str, str, str], RuleBook] = {}
_CACHE_LOCK = threading.Lock()


def load_rulebook(rules_dir: Path | None = None, knowledge_dir: Path | None = None) -> RuleBook:
    """Load, check and compile; unchanged folders reuse the compiled rule book (a Host is costly).

    "Unchanged" is decided by the sha256 digests of every file in both folders, computed before
    anything is parsed: a cached book costs two folder hashes (about 1 ms), not a re-validation of
    the knowledge (about 40 ms). Only books that loaded and checked cleanly are cached, so a
    defective folder is re-read, and its error raised, every time.
    """
    rules_path = Path(rules_dir) if rules_dir is not None else default_rules_dir()
    knowledge_path = Path(knowledge_dir) if knowledge_dir is not None else default_knowledge_dir()
    key = None
    if rules_path.is_dir() and knowledge_path.is_dir():
        # Keyed by the paths as given, so a book's file names read the way the caller wrote them.
        key = (
            str(rules_path),
            str(knowledge_path),
            rules_digest(rules_path),
            knowledge_digest(knowledge_path),
        )
        with _CACHE_LOCK:
            if key in _CACHE:
                return _CACHE[key]
    knowledge = load_knowledge(knowledge_path)  # knowledge errors are reported first
    rules = load_rules(rules_path, knowledge)
    verdict = verdicts.key(rules.digest, knowledge.digest)
    if not verdicts.passed(verdict):  # the proofs run once per set of bytes (engine/verdicts.py)
        from .check import enforce

        enforce(rules, knowledge)
        verdicts.remember(verdict)
    with _CACHE_LOCK:
        if key is not None and key in _CACHE:  # another thread loaded the same folders meanwhile
            return _CACHE[key]
        book = RuleBook(knowledge, rules, DurableEvaluator(compile_stages(rules.rules)))
        if key is not None and knowledge.digest == key[3] and rules.digest == key[2]:
            _CACHE[key] = book
        return book
