"""backplan new condition: a scaffold that loads, passes its own scenario, and writes nothing when refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import engine
from cli import app
from engine._tomlio import folder_digest
from tests.conftest import ROOT

runner = CliRunner()


@pytest.fixture()
def copy(tmp_path: Path) -> Path:
    for name in ("rules", "knowledge", "scenarios"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


def _new(copy: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app,
        ["new", "condition", *args, "--rules", str(copy / "rules"), "--knowledge", str(copy / "knowledge")],
    )
    return result.exit_code, result.stdout, result.stderr


def _state(copy: Path) -> list[str]:
    return [folder_digest(copy / name) for name in ("rules", "knowledge", "scenarios")]


@pytest.mark.parametrize("tags", [["heavy_load", "ballistic"], []], ids=["with_exclusions", "consult_only"])
def test_the_scaffold_loads_and_its_scenario_passes(copy: Path, tags: list[str]) -> None:
    args = ["ankylosing_spondylitis", "--source", "nice_ng65"] + [a for t in tags for a in ("--exclude-tag", t)]
    code, out, err = _new(copy, *args)
    assert (code, err) == (0, "")
    assert out.splitlines()[:3] == [
        f"appended: {copy / 'knowledge' / 'conditions.toml'}",
        f"created: {copy / 'rules' / 'conditions' / 'ankylosing_spondylitis.toml'}",
        f"created: {copy / 'scenarios' / 'condition_ankylosing_spondylitis.toml'}",
    ]
    book = engine.load_rulebook(copy / "rules", copy / "knowledge")
    assert book.knowledge.conditions["ankylosing_spondylitis"].exclude_tags == tuple(tags)
    fired = {r.id for r in book.rules.rules if "conditions.ankylosing_spondylitis" in r.rule.when.fields()}
    assert fired == {"ankylosing_spondylitis_consult"} | ({"ankylosing_spondylitis_exclusions"} if tags else set())
    result = runner.invoke(
        app,
        [
            "scenarios",
            "run",
            str(copy / "scenarios"),
            "--rules",
            str(copy / "rules"),
            "--knowledge",
            str(copy / "knowledge"),
        ],
    )
    assert result.exit_code == 0, result.stdout
    assert "condition_ankylosing_spondylitis" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scoliosis", "--source", "sosort_2016"], "condition 'scoliosis' is already there"),
        (["new_one", "--source", "nice_ng6"], "--source: unknown source 'nice_ng6'"),
        (["new_one", "--source", "nice_ng65", "--exclude-tag", "balistic"], "(did you mean 'ballistic'?)"),
        (["New-One", "--source", "nice_ng65"], "ID: 'New-One' is not an id"),
    ],
)
def test_refused_scaffolds_write_nothing(copy: Path, args: list[str], message: str) -> None:
    before = _state(copy)
    code, out, err = _new(copy, *args)
    assert code == 2 and out == ""
    assert err.startswith("backplan: error: ") and message in err and err.count("\n") == 1
    assert _state(copy) == before


def test_a_file_in_the_way_is_never_overwritten(copy: Path) -> None:
    scenario = copy / "scenarios" / "condition_new_one.toml"
    scenario.write_text("# someone's work\n", encoding="utf-8")
    before = _state(copy)
    code, _, err = _new(copy, "new_one", "--source", "nice_ng65")
    assert code == 2
    assert err == f"backplan: error: {scenario}: is already there: a scaffold never overwrites\n"
    assert _state(copy) == before
