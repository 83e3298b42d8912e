"""The `caution` action: a rule adds what to watch for beside the exercises it selects, for the people it fires for."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import engine
from cli import app
from engine.ruleset import load_rules
from tests.conftest import ROOT, answers

runner = CliRunner()
WORDS = "With scoliosis, keep the plank short and stop if one side of the back starts to ache."
RULE = f"""
[[rule]]
id = "scoliosis_plank_caution"
title = "Scoliosis: a caution on the plank"
rationale = "Written by the tests: a rule-added caution reaches the plan of the people it fires for."
source = "sosort_2016"
stage = "{{stage}}"
priority = 45
when = {{{{ field = "conditions", contains = "scoliosis" }}}}

[[rule.then]]
action = "caution"
{{select}}
text = "{WORDS}"
reason = "scoliosis: asymmetric loading in long holds"
"""


def _rules(tmp_path: Path, stage: str = "select", select: str = 'exercises = ["plank"]') -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", folder)
    (folder / "select" / "zz_caution.toml").write_text(RULE.format(stage=stage, select=select), encoding="utf-8")
    return folder


def _plank_cautions(plan: engine.Plan) -> list[tuple[str, ...]]:
    return [ex.cautions for s in plan.sessions for ex in s.exercises if ex.id == "plank"]


def test_the_caution_reaches_those_the_rule_fires_for_and_no_one_else(tmp_path: Path) -> None:
    book = engine.load_rulebook(_rules(tmp_path))
    with_scoliosis = engine.parse_intake(answers(conditions=["scoliosis"]), book.knowledge)
    without = engine.parse_intake(answers(), book.knowledge)
    for intake, expected in ((with_scoliosis, True), (without, False)):
        plan = engine.recommend(intake, book)
        planks = _plank_cautions(plan)
        assert planks, "the plank is planned for the baseline person: the test needs it"
        assert all((WORDS in c) == expected for c in planks)
        others = [ex.cautions for s in plan.sessions for ex in s.exercises if ex.id != "plank"]
        assert all(WORDS not in c for c in others)


def test_in_every_format_and_in_rules_show(tmp_path: Path) -> None:
    rules = _rules(tmp_path)
    path = tmp_path / "a.json"
    path.write_text(json.dumps(answers(conditions=["scoliosis"])), encoding="utf-8")
    for fmt in ("text", "markdown", "html", "json"):
        result = runner.invoke(app, ["plan", str(path), "--format", fmt, "--rules", str(rules)], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.stderr
        assert "keep the plank short" in result.stdout, fmt
    shown = runner.invoke(app, ["rules", "show", "scoliosis_plank_caution", "--rules", str(rules)])
    assert shown.exit_code == 0
    assert f"caution on exercises plank: {WORDS}" in shown.stdout


@pytest.mark.parametrize(
    ("stage", "select", "message"),
    [
        ("screen", 'exercises = ["plank"]', "action 'caution' is not allowed in stage 'screen' (only: select)"),
        ("select", 'exercises = ["plankk"]', "unknown exercise 'plankk' (did you mean 'plank'?)"),
        ("select", 'tags = ["isometrc"]', "unknown tag 'isometrc' (did you mean 'isometric'?)"),
    ],
)
def test_a_wrong_caution_is_refused_naming_the_rule(tmp_path: Path, stage: str, select: str, message: str) -> None:
    folder = _rules(tmp_path, stage, select)
    with pytest.raises(engine.RuleError) as info:
        load_rules(folder, engine.load_knowledge(ROOT / "knowledge"))
    assert info.value.rule == "scoliosis_plank_caution"
    assert message in info.value.line()
