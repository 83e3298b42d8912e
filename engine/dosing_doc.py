"""docs/dosing.md from knowledge/dosing.toml and the rules' caps: ``python -m engine.dosing_doc [--check] FILE``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from .dosing import render_doc, rules_limits


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m engine.dosing_doc [--check] docs/dosing.md``"""
    from .planner import load_rulebook

    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    if len(paths) != 1:
        print("usage: python -m engine.dosing_doc [--check] docs/dosing.md", file=sys.stderr)
        return 2
    book = load_rulebook()
    text = render_doc(book.knowledge, rules_limits(book.rules.rules))
    target = Path(paths[0])
    if check:
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            print(f"{target} is out of step with knowledge/dosing.toml: run python -m engine.dosing_doc {target}")
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
