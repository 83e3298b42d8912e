"""docs/extending.md, executed: its fenced files are applied to a copy of the repository and checked.

The doc and this test share one source of truth: every ```toml block with ``file=`` and ``mode=`` is
applied exactly as written, and every ```text block with ``check=`` is compared with the real output.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import engine
from cli import app
from tests.conftest import ROOT, answers
from tests.test_verify import use_small_space

DOC = ROOT / "docs" / "extending.md"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```$", re.S | re.M)
runner = CliRunner()


def _blocks() -> list[tuple[dict[str, str], str]]:
    out = []
    for _lang, info, body in FENCE.findall(DOC.read_text(encoding="utf-8")):
        attrs = dict(part.split("=", 1) for part in info.split())
        out.append((attrs, body))
    return out


def file_blocks() -> list[tuple[str, str, str]]:
    return [(a["file"], a["mode"], body) for a, body in _blocks() if "file" in a]


def shown(name: str) -> str:
    """The output the doc shows in its ```text check=NAME block."""
    (body,) = [body for a, body in _blocks() if a.get("check") == name]
    return body.rstrip("\n")


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    for folder in ("rules", "knowledge", "scenarios"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def apply(repo: Path, *, only: str | None = None) -> None:
    """Do what the doc says: append to or create each file it shows."""
    for file, mode, body in file_blocks():
        if only is not None and not file.startswith(only):
            continue
        path = repo / file
        if mode == "append":
            path.write_text(path.read_text(encoding="utf-8") + body, encoding="utf-8")
        else:
            assert mode == "create" and not path.exists(), file
            path.write_text(body, encoding="utf-8")


def cli(repo: Path, *args: str) -> Result:
    return runner.invoke(app, [*args, "--rules", str(repo / "rules"), "--knowledge", str(repo / "knowledge")])


def test_doc_shows_every_file() -> None:
    assert [(f, m) for f, m, _ in file_blocks()] == [
        ("knowledge/conditions.toml", "append"),
        ("rules/conditions/osteoporosis.toml", "create"),
        ("scenarios/osteoporosis_home_beginner.toml", "create"),
        ("scenarios/osteoporosis_with_pain.toml", "create"),
    ]


def test_vocabulary_entry_alone_is_reported(repo: Path) -> None:
    apply(repo, only="knowledge/")
    result = cli(repo, "rules", "check")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"{repo}/{shown('unhandled')}"]


def test_rules_check_passes(repo: Path) -> None:
    apply(repo)
    result = cli(repo, "rules", "check")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("ok: ") and ", 3 conditions, " in result.stdout


def test_new_rules_fire(repo: Path) -> None:
    apply(repo)
    book = engine.load_rulebook(repo / "rules", repo / "knowledge")
    plan = engine.recommend(engine.parse_intake(answers(age=68, conditions=["osteoporosis"]), book.knowledge), book)
    without = engine.recommend(engine.parse_intake(answers(age=68), book.knowledge), book)
    assert "seated_twist" in without.exercise_ids()  # so its absence below is the new rule's doing
    assert "seated_twist" not in plan.exercise_ids()
    excluded = {x.id: [r.rule for r in x.because] for x in plan.excluded}
    assert excluded["seated_twist"] == ["osteoporosis_no_loaded_flexion_or_twisting"]
    assert [(w.rule, w.level) for w in plan.warnings if w.rule.startswith("osteoporosis")] == [
        ("osteoporosis_consult", "consult"),
        ("osteoporosis_resistance_and_balance", "info"),
    ]
    assert plan.screen.outcome == "consult"


def test_prescription_overrides_the_programme_dosage(repo: Path) -> None:
    apply(repo)
    book = engine.load_rulebook(repo / "rules", repo / "knowledge")
    data = answers(conditions=["osteoporosis"], experience="advanced", equipment=["cable_machine", "pull_up_bar"])
    plan = engine.recommend(engine.parse_intake(data, book.knowledge), book)
    catalogue = book.knowledge.exercises
    strength = [ex for s in plan.sessions for ex in s.exercises if catalogue[ex.id].category == "strength"]
    assert strength and {ex.reps for ex in strength} <= {"8-12", "8-12 each side"}
    assert {ex.sets for ex in strength} == {4}  # strength_dosage_advanced's sets stay


def test_scenarios_pass_with_full_coverage(repo: Path) -> None:
    apply(repo)
    result = cli(repo, "scenarios", "run", str(repo / "scenarios"))
    assert result.exit_code == 0, result.stdout
    assert "every rule fires in at least one scenario" in result.stdout


def test_explain_output_is_what_the_doc_shows(repo: Path) -> None:
    apply(repo)
    scenario = (repo / "scenarios" / "osteoporosis_home_beginner.toml").read_text(encoding="utf-8")
    answers_toml = scenario.split("[answers]\n", 1)[1].split("\n[expect]", 1)[0].replace("[answers.", "[")
    (repo / "answers.toml").write_text(answers_toml, encoding="utf-8")
    result = cli(repo, "explain", str(repo / "answers.toml"), "seated_twist")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.rstrip("\n") == shown("explain")


def test_typo_names_file_rule_and_suggestion(repo: Path) -> None:
    apply(repo)
    rule_file = repo / "rules" / "conditions" / "osteoporosis.toml"
    good = 'tags = ["loaded_spinal_flexion", "rotation", "ballistic"]'
    text = rule_file.read_text(encoding="utf-8")
    assert text.count(good) == 1
    rule_file.write_text(text.replace(good, good.replace('"rotation"', '"rotaton"')), encoding="utf-8")
    result = cli(repo, "rules", "check")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [shown("typo").replace(" rules/", f" {repo}/rules/", 1)]
    line = result.stderr
    assert str(rule_file) in line and "osteoporosis_no_loaded_flexion_or_twisting" in line and "'rotation'" in line


def test_verify_passes_small_space(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_small_space(monkeypatch)
    apply(repo)
    result = cli(repo, "verify", "--workers", "1", "--out", str(repo / "failures"))
    assert result.exit_code == 0, result.stdout
    assert result.stdout.startswith("backplan verify: PASSED\n")
    assert "  conditions.osteoporosis             false | true\n" in result.stdout


@pytest.mark.slow
def test_verify_passes_full_space(repo: Path) -> None:
    apply(repo)
    result = cli(repo, "verify", "--workers", "2", "--out", str(repo / "failures"))
    assert result.exit_code == 0, result.stdout
    assert result.stdout.startswith("backplan verify: PASSED\n")
