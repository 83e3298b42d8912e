"""backplan rules table: the condition rules as a decision table, derived from the rules themselves."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import engine
from cli import app
from engine.decision_table import COLUMNS, condition_table, to_csv, to_markdown
from tests.conftest import ROOT

runner = CliRunner()


def test_one_row_per_condition_with_what_its_rules_do(book: engine.RuleBook) -> None:
    rows = condition_table(book)
    assert [r.condition for r in rows] == list(book.knowledge.conditions)
    for row in rows:
        direct = [i.id for i in book.rules.rules if f"conditions.{row.condition}" in i.rule.when.fields()]
        assert set(direct) <= set(row.rules)
        for rule_id in set(row.rules) - set(direct):  # the others read a fact one of the condition's rules derives
            fields = book.rules.by_id()[rule_id].rule.when.fields()
            assert any(f.startswith("derived.") for f in fields), rule_id
        assert row.consult, f"{row.condition}: every condition means a consult"
        # what knowledge declares, the rules implement (rules check proves it; the table shows it)
        assert set(row.declared_excluded_tags) <= set(row.excluded_tags)
        assert all(src for src in row.sources)


def test_csv_and_markdown_hold_the_same_cells(book: engine.RuleBook) -> None:
    rows = condition_table(book)
    parsed = list(csv.reader(io.StringIO(to_csv(rows))))
    assert parsed[0] == list(COLUMNS)
    assert parsed[1:] == [r.cells() for r in rows]
    lines = to_markdown(rows).splitlines()
    assert lines[0] == "| " + " | ".join(COLUMNS) + " |"
    assert len(lines) == 2 + len(rows)
    for line, row in zip(lines[2:], rows, strict=True):
        assert line.startswith(f"| {row.condition} | ")


def test_a_pipe_in_a_message_does_not_break_the_markdown_table(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    path = rules / "conditions" / "scoliosis.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("General activity is fine;", "General activity | walking is fine;"), encoding="utf-8")
    result = runner.invoke(app, ["rules", "table", "--rules", str(rules)])
    assert result.exit_code == 0, result.stderr
    scoliosis = next(line for line in result.stdout.splitlines() if line.startswith("| scoliosis |"))
    assert "activity \\| walking" in scoliosis
    assert scoliosis.replace("\\|", "").count("|") == len(COLUMNS) + 1


@pytest.mark.parametrize("fmt", ["markdown", "csv"])
def test_cli_writes_the_table(tmp_path: Path, fmt: str, book: engine.RuleBook) -> None:
    out = tmp_path / f"table.{fmt}"
    result = runner.invoke(app, ["rules", "table", "--format", fmt, "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    rows = condition_table(book)
    assert out.read_text(encoding="utf-8") == (to_csv(rows) if fmt == "csv" else to_markdown(rows))


def test_cli_bad_format_is_exit_2() -> None:
    result = runner.invoke(app, ["rules", "table", "--format", "xlsx"])
    assert result.exit_code == 2
