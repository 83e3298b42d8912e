"""Every `$ backplan ...` example in README.md shows the output the command really prints today."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.conftest import ROOT


def _refresher() -> object:
    spec = importlib.util.spec_from_file_location("refresh_readme", ROOT / "docs" / "refresh_readme.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_examples_are_current() -> None:
    module = _refresher()
    problems = module.check((ROOT / "README.md").read_text(encoding="utf-8"))  # type: ignore[attr-defined]
    assert problems == [], "run: python docs/refresh_readme.py"


def test_readme_has_examples_for_every_command() -> None:
    text = Path(ROOT / "README.md").read_text(encoding="utf-8")
    for command in [
        "plan",
        "explain",
        "batch",
        "exercises",
        "rules check",
        "rules list",
        "rules show",
        "scenarios run",
        "verify",
        "diff",
    ]:
        assert f"```console\n$ backplan {command}" in text, command
