"""backplan verify: the invariants hold on the shipped rules; a broken rule set is caught and reproduced."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import engine
from cli import app
from engine import verify
from engine.verify import INVARIANTS, Checker, build_space, verify_rulebook
from tests.conftest import RED_FLAG_QUESTIONS, ROOT, answers

runner = CliRunner()
RULES = ROOT / "rules"
SMALL_COVER = ((), ("pull_up_bar", "resistance_band"))


def use_small_space(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cut-down space for the default suite: two classes per field, two equipment sets, and one screen
    component off baseline at a time. The slow tests run the real space."""
    real = verify.representatives
    monkeypatch.setattr(verify, "representatives", lambda spec, conditions: real(spec, conditions)[:2])
    monkeypatch.setattr(verify, "equipment_cover", lambda knowledge, fixed=None: SMALL_COVER)
    monkeypatch.setattr(verify, "EXHAUSTIVE_LIMIT", 0)
    monkeypatch.setattr(verify, "STOP_DEPTH", 1)


@pytest.fixture()
def small_space(monkeypatch: pytest.MonkeyPatch) -> None:
    use_small_space(monkeypatch)


def broken_rules(tmp_path: Path, edits: dict[str, tuple[str, str]]) -> Path:
    """A copy of rules/ with text replaced: file -> (old, new); each old text must occur exactly once."""
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder)
    for name, (old, new) in edits.items():
        path = folder / name
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{name}: the edit no longer matches the shipped rules"
        path.write_text(text.replace(old, new), encoding="utf-8")
    return folder


# rf_fever warns (urgent) instead of stopping: a plan next to "see a doctor today".
FEVER_WARNS = {
    "screen/serious_pathology.toml": (
        'action = "stop"\nlevel = "urgent"\nmessage = "See a doctor today',
        'action = "warn"\nlevel = "urgent"\nmessage = "See a doctor today',
    )
}
# The gentle programme loses its heavy-load exclusion and prefers loaded forward bends (by tag, so that
# `rules check` sees no include/exclude clash): loaded spinal flexion in a plan for someone in pain.
GENTLE_LOADS_THE_SPINE = {
    "select/gentle.toml": (
        'tags = ["heavy_load", "axial_loading", "loaded_spinal_flexion", "barbell"]\n'
        'reason = "gentle programme: no heavy or spine-loading lifts while you have pain"',
        'tags = ["behind_neck"]\nreason = "gentle programme: nothing behind the neck"\n\n'
        '[[rule.then]]\naction = "include"\nprefer = true\ntags = ["loaded_spinal_flexion"]\n'
        'reason = "deliberately unsafe, for the verify test"',
    )
}


# --- the space ---------------------------------------------------------------------------------------------


def test_classes_come_from_the_rules(book: engine.RuleBook) -> None:
    space = build_space(book, exhaustive=False)
    assert dict(space.classes) == {
        "age": ("16-49", "50", "51-100"),
        "experience": ("beginner", "intermediate", "advanced"),
        "goal": ("general", "relief", "posture", "strength", "muscle"),
        "pain.status": ("none", "acute", "subacute", "chronic"),
        "pain.intensity": ("0", "1-6", "7", "8-10"),
        "pain.radiates_to_leg": ("false", "true"),
        **{f"screening.{q}": ("false", "true") for q in book.knowledge.screening},
        **{f"conditions.{c}": ("false", "true") for c in book.knowledge.conditions},
    }
    assert sorted(space.red_flags.values()) == sorted(f"screening.{q}" for q in RED_FLAG_QUESTIONS)
    items = tuple(book.knowledge.equipment)
    assert space.equipment_cover[:2] == ((), items)
    options = {option for ex in book.knowledge.exercises.values() for option in ex.equipment}
    assert set(space.equipment_cover) >= {(e,) for e in items} | options
    assert space.stop_depth == verify.STOP_DEPTH
    assert len(space.cases) == space.stop_cases + space.plan_signatures * len(space.equipment_cover)


def test_checker_rejects_a_wrong_signature(book: engine.RuleBook) -> None:
    intake = engine.parse_intake(answers(), book.knowledge)
    findings = Checker(book).check(intake, expected=("route_no_pain_strength",))
    assert [f.invariant for f in findings] == ["signature_matches"]


def test_workers_must_be_positive(book: engine.RuleBook) -> None:
    with pytest.raises(engine.InputError) as caught:
        verify_rulebook(book, workers=0)
    assert caught.value.line() == "--workers: workers must be at least 1, got 0"


# --- the shipped rules pass ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("small_space")
def test_small_space_passes(book: engine.RuleBook, tmp_path: Path) -> None:
    report = verify_rulebook(book, workers=1, out_dir=tmp_path / "out")
    space = build_space(book)
    assert report.passed
    assert (dict(report.counts), report.violations) == ({}, ())
    assert report.checked == len(space.cases)
    assert report.rechecked == len(range(0, len(space.cases), verify.DETERMINISM_EVERY))
    assert not (tmp_path / "out").exists()  # created only when there is something to reproduce
    text = report.render()
    assert text.startswith(f"backplan verify: PASSED\n{report.checked} intakes checked in ")
    assert "  pain.intensity                      0 | 1-6 | 7 | 8-10\n" in text
    assert all(f"  {name:<24}       0  {INVARIANTS[name]}\n" in text for name in INVARIANTS)


@pytest.mark.slow
def test_full_verify_passes_on_the_shipped_rules(book: engine.RuleBook, tmp_path: Path) -> None:
    report = verify_rulebook(book, workers=2, out_dir=tmp_path / "out")
    assert (report.passed, dict(report.counts), report.violations) == (True, {}, ())
    assert report.space.stop_depth is None  # the whole stop region, not the depth-limited one
    assert report.checked == len(report.space.cases)


# --- broken rule sets are caught, with a minimal answers file that reproduces the violation --------------------


@pytest.mark.usefixtures("small_space")
def test_fever_that_only_warns_is_caught(tmp_path: Path) -> None:
    broken = engine.load_rulebook(broken_rules(tmp_path, FEVER_WARNS))
    report = verify_rulebook(broken, workers=1, out_dir=tmp_path / "out")
    assert not report.passed
    assert list(report.counts) == ["urgent_means_stop"]
    assert [(v.invariant, v.path) for v in report.violations] == [
        ("urgent_means_stop", tmp_path / "out" / "urgent_means_stop-1.toml")
    ]
    reproduced = engine.load_intake(report.violations[0].path, broken.knowledge)
    assert reproduced.to_answers() == engine.parse_intake(answers(screening__fever=True), broken.knowledge).to_answers()
    plan = engine.recommend(reproduced, broken)
    assert plan.screen.outcome != "stop" and plan.programme is not None
    assert [w.rule for w in plan.warnings if w.level == "urgent"] == ["rf_fever"]


@pytest.mark.usefixtures("small_space")
def test_spine_loading_in_the_gentle_programme_is_caught(tmp_path: Path) -> None:
    broken = engine.load_rulebook(broken_rules(tmp_path, GENTLE_LOADS_THE_SPINE))
    report = verify_rulebook(broken, workers=2, out_dir=tmp_path / "out")
    assert not report.passed
    assert "gentle_no_heavy" in report.counts
    paths = [v.path for v in report.violations if v.invariant == "gentle_no_heavy"]
    assert paths and all(p.is_file() for p in paths)
    for path in paths:  # each file really reproduces it, through the ordinary pipeline
        intake = engine.load_intake(path, broken.knowledge)
        plan = engine.recommend(intake, broken)
        tags = {t for ex in plan.exercise_ids() for t in broken.knowledge.exercises[ex].tags}
        assert plan.programme == "gentle"
        assert "loaded_spinal_flexion" in tags
        assert "gentle_no_heavy" in Checker(broken).invariants_broken(intake.to_answers())
        # Shrunk: no stray answers. Night pain alone is a way into the gentle programme, so it may remain.
        assert {q for q, yes in intake.screening.items() if yes} <= {"night_pain"}


# --- the command line ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("small_space")
def test_cli_verify_exit_codes(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["verify", "--workers", "1", "--out", str(tmp_path / "ok")])
    assert ok.exit_code == 0, ok.stderr
    assert ok.stdout.startswith("backplan verify: PASSED\n")
    broken = broken_rules(tmp_path, FEVER_WARNS)
    out = tmp_path / "failures"
    failed = runner.invoke(app, ["verify", "--workers", "1", "--rules", str(broken), "--out", str(out)])
    assert failed.exit_code == 1
    assert failed.stdout.startswith("backplan verify: FAILED\n")
    assert f"  {out / 'urgent_means_stop-1.toml'}  urgent_means_stop: urgent warning from rf_fever" in failed.stdout
    assert sorted(p.name for p in out.iterdir()) == ["urgent_means_stop-1.toml"]
