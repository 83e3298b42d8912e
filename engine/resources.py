"""Where the bundled rules and knowledge live, in a checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _bundled(name: str) -> Path:
    # A wheel carries the folders inside the package (engine/_data/...); a checkout has them beside engine/.
    packaged = _HERE / "_data" / name
    return packaged if packaged.is_dir() else _HERE.parent / name


def default_rules_dir() -> Path:
    return _bundled("rules")


def default_knowledge_dir() -> Path:
    return _bundled("knowledge")
