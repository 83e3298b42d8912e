"""Remembered verdicts of the whole-set checks, so that a cold start does not prove the same set again.

``rules check`` proves every declared meaning with the SMT solver, and every command does the same
whenever it loads a rule set (fail closed). The verdict depends only on the rules, the knowledge and
the engine's own code: the same bytes give the same verdict. A set that passed is remembered under the
sha256 of all three (the engine's files by path, size and modification time), as an empty file in the
user's cache folder (``$BACKPLAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/backplan``, else
``~/.cache/backplan``); any change to any rule, knowledge or engine
file is a different key, so it is checked again. Only passes are remembered: a defective set is checked,
and refused, every time. A cache that cannot be read or written is no cache (never an error).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_ENGINE = Path(__file__).resolve().parent
_engine_digest: str | None = None


def cache_dir() -> Path:
    """The user's cache folder for backplan: ``$BACKPLAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/backplan``, else
    ``~/.cache/backplan``."""
    explicit = os.environ.get("BACKPLAN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "backplan"


def engine_digest() -> str:
    """sha256 over the engine's Python files (the code that gives the verdict), computed once.

    Each file counts by its path, size and modification time in nanoseconds, as Python's own bytecode
    cache tells a changed source (reading and hashing every byte cost a fiftieth of a cold start): an
    edit, a reinstall or another version is another digest."""
    global _engine_digest
    if _engine_digest is None:
        # (path relative to the engine, as posix; full path), listed by os.walk: half the time of rglob
        files: list[tuple[str, str]] = []
        for folder, _, names in os.walk(_ENGINE):
            relative = Path(folder).relative_to(_ENGINE).as_posix()
            prefix = "" if relative == "." else relative + "/"
            files.extend((prefix + name, os.path.join(folder, name)) for name in names if name.endswith(".py"))
        h = hashlib.sha256()
        for relative, path in sorted(files):
            st = os.stat(path)
            h.update(f"{relative}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        _engine_digest = h.hexdigest()
    return _engine_digest


def key(rules_digest: str, knowledge_digest: str) -> str:
    return hashlib.sha256(f"{engine_digest()}\0{rules_digest}\0{knowledge_digest}".encode()).hexdigest()


def passed(verdict: str) -> bool:
    """Whether this exact set of rules, knowledge and engine code passed every check before."""
    try:
        return (cache_dir() / "checked" / verdict).is_file()
    except OSError:
        return False


def remember(verdict: str) -> None:
    """Remember a pass (quietly nothing if the cache folder cannot be written)."""
    folder = cache_dir() / "checked"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        (folder / verdict).touch()
    except OSError:
        pass
