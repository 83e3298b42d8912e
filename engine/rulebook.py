"""The rule book: rules and knowledge loaded, checked (once per set of bytes) and compiled to durable_rules,
cached per folder pair so a process pays for it once, and kept on disk (``stored``) so a cold start pays
for parsing and validating only when a byte changed."""

from __future__ import annotations

import pickle
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from . import stored, verdicts
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

if TYPE_CHECKING:
    from .journal.rules import ProgressionRules


@dataclass(frozen=True)
class RuleBook:
    """Validated knowledge and rules, compiled into durable_rules: everything needed to plan."""

    knowledge: Knowledge
    rules: RuleSet
    evaluator: DurableEvaluator
    # The journal's rules (rules/progression), validated with the rest and kept pickled until the journal
    # asks for them: a plan does not pay for their models. None when the rules folder has none.
    kept_progression: bytes | None = field(default=None, repr=False, compare=False)

    @cached_property
    def progression(self) -> ProgressionRules | None:
        return None if self.kept_progression is None else stored.decode(self.kept_progression)

    @cached_property
    def index(self) -> PlanIndex:
        """Everything about the rules and the catalogue that does not depend on the answers (built once)."""
        return PlanIndex(self.knowledge, self.rules)


_CACHE: dict[tuple[str, str, str, str], RuleBook] = {}
_CACHE_LOCK = threading.Lock()


def forget_rulebooks() -> None:
    """Drop this process's compiled rule books (a forked worker builds its own)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def load_rulebook(rules_dir: Path | None = None, knowledge_dir: Path | None = None) -> RuleBook:
    """Load, check and compile; unchanged folders reuse the compiled rule book (a Host is costly).

    "Unchanged" is decided by the sha256 digests of every file in both folders, computed before
    anything is parsed: a cached book costs two folder hashes (about 1 ms), not a re-validation of
    the knowledge (about 40 ms). A new process finds the validated objects on disk (``stored``) under
    the same digests. Only books that loaded and checked cleanly are cached, so a defective folder is
    re-read, and its error raised, every time.
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
    name = stored.key(*key) if key is not None else None
    kept = stored.fetch(name) if name is not None else None
    if isinstance(kept, _Loaded) and kept.fits(key):
        loaded = kept
    else:
        loaded = _load(rules_path, knowledge_path)
        if name is not None and loaded.fits(key):
            stored.keep(name, loaded)
    knowledge, rules = loaded.knowledge, loaded.rules
    with _CACHE_LOCK:
        if key is not None and key in _CACHE:  # another thread loaded the same folders meanwhile
            return _CACHE[key]
        book = RuleBook(knowledge, rules, DurableEvaluator(compile_stages(rules.rules)), loaded.progression)
        if key is not None and loaded.fits(key):
            _CACHE[key] = book
        return book


class _Loaded(NamedTuple):
    """What a rule book's files say once validated and checked: the part worth keeping between runs."""

    knowledge: Knowledge
    rules: RuleSet
    progression: bytes | None  # pickled ProgressionRules (see RuleBook.kept_progression)

    def fits(self, key: tuple[str, str, str, str] | None) -> bool:
        """Whether these are the bytes the key was computed from (a file changed while loading: not kept)."""
        return key is not None and self.knowledge.digest == key[3] and self.rules.digest == key[2]


def _load(rules_path: Path, knowledge_path: Path) -> _Loaded:
    knowledge = load_knowledge(knowledge_path)  # knowledge errors are reported first
    rules = load_rules(rules_path, knowledge)
    # The journal's progression rules are part of the rules folder: a defect there is refused by every command.
    from .journal.rules import load_progression, progression_dir

    progression = None
    if progression_dir(rules.root).is_dir():
        progression = pickle.dumps(load_progression(rules, knowledge), protocol=pickle.HIGHEST_PROTOCOL)
    verdict = verdicts.key(rules.digest, knowledge.digest)
    if not verdicts.passed(verdict):  # the proofs run once per set of bytes (engine/verdicts.py)
        from .check import enforce

        enforce(rules, knowledge)
        verdicts.remember(verdict)
    return _Loaded(knowledge, rules, progression)
