"""Packaging: the wheel carries its rules and knowledge; the README's quick start has the two commands."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT


def test_quick_start_is_two_shell_blocks() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, flags=re.S)
    assert [lang for lang, _ in blocks] == ["sh", "sh"]
    run, test = (body for _, body in blocks)
    assert "backplan plan examples/" in run and "pip install ." in run
    assert "pytest" in test and ".[test]" in test


def test_python_requirement_is_declared() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.10,<3.13"' in pyproject
    assert "3.13" in (ROOT / "README.md").read_text()


@pytest.mark.slow
def test_wheel_works_outside_the_checkout(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("backplan-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "cli.py" in names
    assert any(n.startswith("engine/_data/rules/") for n in names)
    assert any(n.startswith("engine/_data/knowledge/exercises/") for n in names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import engine, json, cli; "
        "print(json.dumps([engine.__file__, str(engine.default_rules_dir()), str(engine.default_knowledge_dir())]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=elsewhere,
        env={"PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
    )
    module, rules, knowledge = json.loads(out.stdout)
    assert module.startswith(str(site)) and rules.startswith(str(site)) and knowledge.startswith(str(site))
    plan = subprocess.run(
        [sys.executable, "-m", "cli", "plan", str(EXAMPLES / "beginner_home_nothing.toml"), "-f", "json"],
        cwd=elsewhere,
        env={"PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(plan.stdout)["programme"] == "strength"
