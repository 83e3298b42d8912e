"""Fail closed: when anything inside goes wrong, no plan is printed and no --out file is (over)written.

Faults are injected where they would really happen: a rule action (the evaluator's single firing
hook), durable_rules itself (its Ruleset and native calls, reached through engine.durable_host),
and a durable result that disagrees with the reference semantics. Also: missing folders, unwritable
--out targets (nothing partial is left behind), and rule sets too large for one durable ruleset.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import engine
from cli import app
from engine import durable_host
from engine.compiler import compile_stages
from engine.durable_host import DurableEvaluator, pattern_terms
from tests.conftest import BASE_ANSWERS, EXAMPLES, RED_FLAG_QUESTIONS, ROOT, answers

runner = CliRunner()
EXAMPLE = EXAMPLES / "chronic_pain_office_worker.toml"
PRECIOUS = "an earlier plan that must survive\n"


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def assert_internal_error(result: Result, *fragments: str) -> None:
    """Exit 1, one line on stderr, nothing at all on stdout (fail closed)."""
    assert result.exit_code == 1, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("backplan: error: internal error, no plan produced:"), lines
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def assert_input_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("backplan: error: "), lines
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    """Files in ``folder`` other than ``keep`` (e.g. a temporary .plan.json.XXXX left behind)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@pytest.fixture()
def precious_out(tmp_path: Path) -> Iterator[Path]:
    out = tmp_path / "plan.json"
    out.write_text(PRECIOUS, encoding="utf-8")
    yield out
    assert out.read_text(encoding="utf-8") == PRECIOUS, "an existing --out file was changed by a failed run"
    assert _leftovers(tmp_path, {"plan.json", "answers.toml", "bad.toml", "bad.json"}) == []


# --- faults inside the rule engine -----------------------------------------------------------------


def _raise_in_action(self: DurableEvaluator, name: str, fired: list[str]) -> None:
    raise RuntimeError(f"action for {name} exploded")


def test_a_raising_action_is_an_engine_error(book: engine.RuleBook, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DurableEvaluator, "_fire", _raise_in_action)
    intake = engine.parse_intake(answers(), book.knowledge)
    with pytest.raises(engine.EngineError, match="exploded"):
        engine.recommend(intake, book)


def test_a_raising_action_fails_closed_in_the_cli(monkeypatch: pytest.MonkeyPatch, precious_out: Path) -> None:
    monkeypatch.setattr(DurableEvaluator, "_fire", _raise_in_action)
    for fmt in ("json", "text", "markdown"):
        assert_internal_error(run("plan", str(EXAMPLE), "--format", fmt), "exploded")
        assert_internal_error(run("plan", str(EXAMPLE), "--format", fmt, "--out", str(precious_out)), "exploded")


def test_durable_assert_failure_fails_closed(monkeypatch: pytest.MonkeyPatch, precious_out: Path) -> None:
    def broken_assert(handle: int, fact: str) -> tuple[int, int]:
        raise durable_host._native.error("Could not assert fact, error code: 101")

    monkeypatch.setattr(durable_host._native, "assert_fact", broken_assert)
    assert_internal_error(run("plan", str(EXAMPLE), "--format", "json"), "durable_rules failed", "error code: 101")
    assert_internal_error(run("plan", str(EXAMPLE), "--out", str(precious_out)), "durable_rules failed")


def test_durable_failure_in_the_middle_of_the_agenda_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = durable_host._native.complete_and_start_action

    def flaky(handle: int, state: int) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise durable_host._native.error("Could not complete action, error code: 305")
        return real(handle, state)

    monkeypatch.setattr(durable_host._native, "complete_and_start_action", flaky)
    assert_internal_error(run("plan", str(EXAMPLE), "--format", "json"), "error code: 305")
    monkeypatch.undo()
    # The session of the failed evaluation was deleted: the engine keeps working afterwards.
    result = run("plan", str(EXAMPLE), "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["programme"] == "gentle"


def test_a_fact_durable_refuses_fails_closed(book: engine.RuleBook, monkeypatch: pytest.MonkeyPatch) -> None:
    """A result code other than "ok" from durable's assert (not handled, observed, deferred) is an EngineError."""
    real = durable_host._native.assert_fact
    monkeypatch.setattr(durable_host._native, "assert_fact", lambda handle, text: (2, real(handle, text)[1]))
    intake = engine.parse_intake(answers(), book.knowledge)
    with pytest.raises(engine.EngineError, match="result code 2"):
        engine.recommend(intake, book)
    monkeypatch.undo()
    assert engine.recommend(intake, book).screen.outcome == "clear"


def test_a_fact_no_rule_can_take_fails_closed(book: engine.RuleBook) -> None:
    """Without the field the catch-all rule reads, durable handles nothing: refused, no crash, no leak."""
    for _ in range(3):
        with pytest.raises(engine.EngineError, match="did not take the fact"):
            book.evaluator.evaluate("screen", {"no": "fields the rules know"})
    intake = engine.parse_intake(answers(screening__fever=True), book.knowledge)
    assert engine.recommend(intake, book).screen.outcome == "stop"


def test_a_fact_that_is_not_json_data_fails_closed(book: engine.RuleBook) -> None:
    with pytest.raises(engine.EngineError, match="cannot pass the fact"):
        book.evaluator.evaluate("screen", {"age": {1, 2}, "screening": {"fever": object()}})


def test_the_evaluator_itself_raising_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: DurableEvaluator, stage: str, fact: Mapping[str, Any]) -> list[str]:
        raise MemoryError("no more sessions")

    monkeypatch.setattr(DurableEvaluator, "evaluate", boom)
    assert_internal_error(run("plan", str(EXAMPLE), "--format", "json"), "MemoryError")
    assert_internal_error(run("explain", str(EXAMPLE)), "MemoryError")


def test_an_unknown_rule_name_from_durable_is_an_engine_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = durable_host._native.start_action_for_state

    def renamed(handle: int, state: int) -> Any:
        result = real(handle, state)
        return (result[0], '{"no_such_rule":{"m":{}}}') if result else result

    monkeypatch.setattr(durable_host._native, "start_action_for_state", renamed)
    assert_internal_error(run("plan", str(EXAMPLE), "--format", "json"), "unknown rule")


def _dropping(drop_last: bool) -> Any:
    real = DurableEvaluator.evaluate

    def evaluate(self: DurableEvaluator, stage: str, fact: Mapping[str, Any]) -> list[str]:
        fired = real(self, stage, fact)
        if stage != "select":
            return fired
        return fired[:-1] if drop_last else [*fired, "never_behind_neck_or_jerky_twin"]

    return evaluate


@pytest.mark.parametrize("drop_last", [True, False], ids=["dropped", "added"])
def test_disagreement_with_the_reference_fails_closed(
    monkeypatch: pytest.MonkeyPatch, precious_out: Path, drop_last: bool
) -> None:
    monkeypatch.setattr(DurableEvaluator, "evaluate", _dropping(drop_last))
    word = "not fired" if drop_last else "unexpectedly fired"
    assert_internal_error(run("plan", str(EXAMPLE), "--format", "json"), "rule engine disagreement", word)
    assert_internal_error(run("plan", str(EXAMPLE), "--out", str(precious_out)), "rule engine disagreement")


def test_disagreement_in_batch_prints_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cohort = tmp_path / "cohort.jsonl"
    cohort.write_text("\n".join(json.dumps(answers(age=20 + i)) for i in range(5)) + "\n", encoding="utf-8")
    out = tmp_path / "plans.jsonl"
    monkeypatch.setattr(DurableEvaluator, "evaluate", _dropping(True))
    assert_internal_error(run("batch", str(cohort)), "rule engine disagreement")
    assert_internal_error(run("batch", str(cohort), "--out", str(out)), "rule engine disagreement")
    assert not out.exists()
    assert _leftovers(tmp_path, {"cohort.jsonl"}) == []


def test_disagreement_reaches_the_library_caller(book: engine.RuleBook, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DurableEvaluator, "evaluate", _dropping(True))
    intake = engine.parse_intake(answers(), book.knowledge)
    with pytest.raises(engine.EngineError, match="disagreement in stage 'select'"):
        engine.recommend(intake, book)
    with pytest.raises(engine.EngineError):
        engine.evaluate(intake, book)


# --- missing folders --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["plan", "explain", "rules check", "rules list", "batch"])
def test_missing_rules_folder(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "no_rules_here"
    target = [] if command.startswith("rules") else [str(EXAMPLE)]
    if command == "batch":
        cohort = tmp_path / "c.jsonl"
        cohort.write_text(json.dumps(answers()) + "\n", encoding="utf-8")
        target = [str(cohort)]
    result = run(*command.split(), *target, "--rules", str(missing))
    assert_input_error(result, str(missing), "rules folder not found")


@pytest.mark.parametrize("command", ["plan", "explain", "rules check", "rules list"])
def test_missing_knowledge_folder(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "no_knowledge_here"
    target = [] if command.startswith("rules") else [str(EXAMPLE)]
    result = run(*command.split(), *target, "--knowledge", str(missing))
    assert_input_error(result, str(missing), "knowledge folder not found")


def test_rules_folder_that_is_a_file(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "rules.toml"
    not_a_folder.write_text("", encoding="utf-8")
    assert_input_error(run("plan", str(EXAMPLE), "--rules", str(not_a_folder)), str(not_a_folder))


# --- --out: all or nothing ---------------------------------------------------------------------------


def test_out_in_a_missing_folder(tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "folder" / "plan.json"
    assert_input_error(run("plan", str(EXAMPLE), "--format", "json", "--out", str(out)), str(out), "--out")
    assert not (tmp_path / "no").exists()


def test_out_under_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x", encoding="utf-8")
    out = blocker / "plan.json"
    assert_input_error(run("plan", str(EXAMPLE), "--out", str(out)), str(out), "cannot write")
    assert _leftovers(tmp_path, {"a_file"}) == []


def test_out_is_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "plans"
    folder.mkdir()
    assert_input_error(run("plan", str(EXAMPLE), "--out", str(folder)), str(folder), "cannot write")
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert _leftovers(tmp_path, {"plans"}) == [], "the temporary file was left behind"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_out_in_a_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        out = folder / "plan.json"
        assert_input_error(run("plan", str(EXAMPLE), "--out", str(out)), str(out), "cannot write")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc (read-only even for root)")
def test_out_on_a_read_only_filesystem() -> None:
    out = Path("/proc/backplan-plan.json")
    assert_input_error(run("plan", str(EXAMPLE), "--out", str(out)), str(out), "cannot write")


def test_a_failing_rename_leaves_the_old_file_and_no_temporary(
    monkeypatch: pytest.MonkeyPatch, precious_out: Path
) -> None:
    def no_replace(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_replace)
    assert_input_error(run("plan", str(EXAMPLE), "--out", str(precious_out)), "No space left on device")


def test_bad_answers_do_not_touch_an_existing_out_file(precious_out: Path) -> None:
    bad = precious_out.parent / "bad.toml"
    # Answers with every question left out: one line naming each of them, and how to add them.
    bad.write_text('age = "old"\n', encoding="utf-8")
    result = run("plan", str(bad), "--out", str(precious_out))
    assert_input_error(result, str(bad), "answers missing: experience, active, ", f"backplan intake --resume {bad}")
    assert all(f"screening.{q}" in result.stderr for q in BASE_ANSWERS["screening"])
    # Every answer given, one of them wrong.
    bad = bad.with_suffix(".json")
    bad.write_text(json.dumps({**BASE_ANSWERS, "age": "old"}), encoding="utf-8")
    assert_input_error(run("plan", str(bad), "--out", str(precious_out)), str(bad), "age")
    # The same question answered twice (yes, then no): bad input, never the last answer.
    key = json.dumps(RED_FLAG_QUESTIONS[0])
    text = json.dumps(BASE_ANSWERS).replace(f"{key}: false", f"{key}: true, {key}: false")
    bad.write_text(text, encoding="utf-8")
    result = run("plan", str(bad), "--format", "json", "--out", str(precious_out))
    assert_input_error(result, str(bad), f"duplicate key {RED_FLAG_QUESTIONS[0]!r}")
    missing = precious_out.parent / "answers.toml"
    assert_input_error(run("plan", str(missing), "--out", str(precious_out)), "file not found")


def test_a_successful_run_replaces_the_out_file_whole(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    out.write_text("x" * 100_000, encoding="utf-8")  # longer than the plan: no stale tail may remain
    result = run("plan", str(EXAMPLE), "--format", "json", "--out", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(out.read_text(encoding="utf-8"))["programme"] == "gentle"
    assert _leftovers(tmp_path, {"plan.json"}) == []


# --- rule sets larger than one durable ruleset ---------------------------------------------------------


def _many_matching_rules(folder: Path, count: int) -> None:
    """``count`` extra select rules that all fire for everyone (the worst case for durable's stack)."""
    shutil.copytree(ROOT / "rules", folder)
    body = []
    for i in range(count):
        body.append(
            f'[[rule]]\nid = "everyone_{i:03d}"\ntitle = "A note for everyone {i}"\n'
            f'rationale = "Generated to fill a stage beyond one durable ruleset."\n'
            f'source = "pain_monitoring_convention"\nstage = "select"\npriority = {100 + i % 7}\n'
            f'when = {{ any = [{{ field = "age", gte = 16 }}, {{ field = "screening.fever", eq = false }}] }}\n\n'
            f'[[rule.then]]\naction = "warn"\nlevel = "info"\nmessage = "Generated note number {i} for everyone."\n'
        )
    (folder / "generated.toml").write_text("\n".join(body), encoding="utf-8")


def test_a_stage_too_big_for_one_durable_ruleset_is_sharded(tmp_path: Path) -> None:
    # 150 rules x 2 terms, all true at once: one durable ruleset fails with "error code: 303".
    rules = tmp_path / "rules"
    _many_matching_rules(rules, 150)
    book = engine.load_rulebook(rules)
    assert book.evaluator.shards("select") > 1
    assert book.evaluator.shards("screen") == 1
    for changes in ({}, {"pain__status": "chronic", "pain__intensity": 5}, {"experience": "advanced", "active": False}):
        plan = engine.recommend(engine.parse_intake(answers(**changes), book.knowledge), book)
        fired = [entry.rule for entry in plan.trace]
        assert sum(rule.startswith("everyone_") for rule in fired) == 150
        assert len(fired) == len(set(fired)), "a rule fired twice (one firing per $or branch must be merged)"
        assert sum(w.rule.startswith("everyone_") for w in plan.warnings) == 150
    # A stopped plan: the select stage never runs, and only the stop's own warnings are said.
    stopped = engine.recommend(
        engine.parse_intake(answers(**{f"screening__{RED_FLAG_QUESTIONS[0]}": True}), book.knowledge), book
    )
    assert stopped.screen.outcome == "stop" and stopped.sessions == ()
    assert stopped.warnings and not [w for w in stopped.warnings if w.rule.startswith("everyone_")]
    assert {w.level for w in stopped.warnings} <= {"urgent", "consult"}
    result = run("plan", str(EXAMPLE), "--format", "json", "--rules", str(rules))
    assert result.exit_code == 0, result.stderr
    assert sum(w["rule"].startswith("everyone_") for w in json.loads(result.stdout)["warnings"]) == 150


def test_building_an_evaluator_leaves_the_compiled_rules_as_they_were(book: engine.RuleBook) -> None:
    """durable deletes each rule's "run" from the definitions it is handed: the evaluator gives it copies, so
    the compiled rules (read again for the projections, and by a second evaluator) keep every key."""
    import copy

    stages = compile_stages(book.rules.rules)
    before = copy.deepcopy(stages)
    DurableEvaluator(stages, namespace="untouched")
    DurableEvaluator(stages, namespace="untouched_again", shard_terms=2)
    assert stages == before
    assert all("run" in rule for rules in stages.values() for rule in rules.values())


def test_sharding_does_not_change_what_fires(book: engine.RuleBook) -> None:
    """The bundled rules split into tiny shards fire exactly what one ruleset per stage fires."""
    stages = compile_stages(book.rules.rules)
    tiny = DurableEvaluator(stages, namespace="tiny_shards", shard_terms=2)
    assert tiny.shards("select") > 5
    from engine.facts import intake_fact, stage_fact

    for changes in (
        {},
        {"pain__status": "acute", "pain__intensity": 8, "pain__radiates_to_leg": True},
        {"experience": "advanced", "equipment": ["barbell", "pull_up_bar", "dumbbells"], "goal": "strength"},
        {"conditions": ["scoliosis", "osteochondrosis"], "age": 70, "screening__heart_condition": True},
        {"active": False, "experience": "advanced", "startback": {"total": 6, "distress": 4}},
        {"screening__pregnant": True, "equipment": ["barbell", "dumbbells", "bench"], "experience": "advanced"},
        {f"screening__{RED_FLAG_QUESTIONS[0]}": True, "pain__status": "acute", "pain__intensity": 9},
    ):
        intake = engine.parse_intake(answers(**changes), book.knowledge)
        base = intake_fact(intake, book.knowledge)
        for programme in (None, *book.knowledge.programmes):
            fact = stage_fact(base, programme, book.rules.derived, book.rules.derived)
            for stage in ("screen", "route", "select"):
                whole = book.evaluator.evaluate(stage, fact)
                assert tiny.evaluate(stage, fact) == whole
                assert len(whole) == len(set(whole))


def test_pattern_terms_counts_paths() -> None:
    leaf = {"age": 3}
    assert pattern_terms(leaf) == 1
    assert pattern_terms({"$and": [leaf, leaf, leaf]}) == 1
    assert pattern_terms({"$or": [leaf, leaf, {"$and": [leaf, leaf]}]}) == 3
    assert pattern_terms({"$and": [{"$or": [leaf, leaf]}, {"$or": [leaf, leaf, leaf]}]}) == 6
