"""``backplan verify``'s journal part: every invariant holds on the shipped rules and catches a rule that breaks it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import engine
from cli import app
from engine.journal.invariants import INVARIANTS, verify_journal
from tests.conftest import ROOT

SMALL = {"cadence_bound": 6, "gap_bound": 3, "durable_bound": 1}


def test_the_shipped_rules_pass(book: engine.RuleBook) -> None:
    report = verify_journal(book, **SMALL)
    assert report.passed, report.render()
    assert report.sequences > 10_000 and report.durable > 0 and report.plans == 12
    assert report.programmes == {"gentle": 5, "strength": 5}
    text = report.render()
    assert text.startswith("Journal (progression rules): PASSED")
    for name in INVARIANTS:
        assert name in text


BREAKS = [
    (
        "red_flag_stops",
        "decisions.toml",
        'previous = ["stop"]\ndecision = "stop"',
        'previous = ["stop"]\ndecision = "hold"',
    ),
    ("flare_regresses", "decisions.toml", '{ field = "pain_during", gt = 5 }', '{ field = "pain_during", gt = 6 }'),
    (
        "no_progress_after_pain",
        "decisions.toml",
        '{ field = "pain_during", lte = 3 }',
        '{ field = "pain_during", lte = 4 }',
    ),
    ("clean_weeks_progress", "decisions.toml", "days = 14", "days = 10"),
    ("consult_twice", "decisions.toml", 'decided = ["regress"]', 'decided = ["stop"]'),
]


@pytest.mark.parametrize(("invariant", "file", "old", "new"), BREAKS, ids=[b[0] for b in BREAKS])
def test_a_rule_that_breaks_an_invariant_is_caught(
    tmp_path: Path, invariant: str, file: str, old: str, new: str
) -> None:
    rules = Path(shutil.copytree(ROOT / "rules", tmp_path / "rules"))
    path = rules / "progression" / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    report = verify_journal(engine.load_rulebook(rules, ROOT / "knowledge"), **SMALL)
    assert invariant in report.counts, report.render()
    assert report.examples[invariant][0]


@pytest.mark.slow
def test_backplan_verify_runs_the_journal_part() -> None:
    result = CliRunner().invoke(app, ["verify", "--workers", "2"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "Journal (progression rules): PASSED" in result.stdout
    assert "every sequence of check-ins up to 8" in result.stdout
