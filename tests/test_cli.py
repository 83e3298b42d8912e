"""The command line, driven through typer's CliRunner: outputs, exit codes and one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cli import app
from tests.conftest import EXAMPLES, ROOT, answers

runner = CliRunner()
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.toml"))


def run(*args: str, input: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=input)


def assert_input_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("backplan: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_plan_every_example_every_format(path: Path, fmt: str) -> None:
    result = run("plan", str(path), "--format", fmt)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    if fmt == "json":
        plan = json.loads(result.stdout)
        assert set(plan) >= {"screen", "programme", "warnings", "sessions", "excluded", "provenance"}
    elif fmt == "markdown":
        assert result.stdout.startswith("# Your back training plan")
    else:
        assert "SAFETY SCREEN" in result.stdout


def test_stop_plan_is_a_result_not_an_error() -> None:
    result = run("plan", str(EXAMPLES / "red_flag_cauda_equina.toml"), "--format", "json")
    assert result.exit_code == 0
    plan = json.loads(result.stdout)
    assert plan["screen"]["outcome"] == "stop"
    assert plan["programme"] is None and plan["sessions"] == []
    assert plan["warnings"][0]["level"] == "urgent"


def test_text_output_puts_the_emergency_first() -> None:
    result = run("plan", str(EXAMPLES / "red_flag_cauda_equina.toml"))
    first_lines = "\n".join(result.stdout.splitlines()[:4])
    assert "SAFETY SCREEN: STOP" in first_lines
    assert "emergency department" in result.stdout
    assert "No exercises until the advice above has been followed." in result.stdout


def test_out_file(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = run("plan", str(EXAMPLES / "healthy_gym_goer.toml"), "--format", "json", "--out", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(out.read_text())["programme"] == "strength"


def test_json_is_byte_identical_across_runs() -> None:
    first = run("plan", str(EXAMPLES / "scoliosis_teen_gym.toml"), "-f", "json").stdout
    second = run("plan", str(EXAMPLES / "scoliosis_teen_gym.toml"), "-f", "json").stdout
    assert first == second and first


BAD_FILES = {
    "malformed.toml": (b"age = = 3", ["malformed.toml", "malformed TOML"]),
    "malformed.json": (b'{"age": 3', ["malformed.json", "malformed JSON"]),
    "empty.toml": (b"", ["empty.toml", "empty"]),
    "binary.toml": (bytes(range(256)), ["binary.toml", "binary data"]),
    "types.json": (json.dumps(answers(age="thirty")).encode(), ["types.json", "age"]),
    "range.json": (json.dumps(answers(pain__intensity=12)).encode(), ["range.json", "pain.intensity"]),
    "unknown_key.json": (json.dumps(answers(equipmnet=[])).encode(), ["unknown key", "did you mean 'equipment'?"]),
    "unknown_id.json": (json.dumps(answers(equipment=["kettlebell"])).encode(), ["equipment[0]", "unknown equipment"]),
    "typo_id.json": (json.dumps(answers(conditions=["osteochondrosys"])).encode(), ["did you mean 'osteochondrosis'?"]),
    "missing_screening.json": (
        json.dumps({**{k: v for k, v in answers().items() if k != "active"}, "screening": {"fever": False}}).encode(),
        ["answers missing: active, screening.saddle_numbness,", "backplan intake --resume"],
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_answers_files(tmp_path: Path, name: str) -> None:
    content, fragments = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    assert_input_error(run("plan", str(path), "--format", "json"), *fragments)


def test_missing_answers_file(tmp_path: Path) -> None:
    assert_input_error(run("plan", str(tmp_path / "nope.toml")), "nope.toml: file not found")


def test_bad_rules_folder(tmp_path: Path) -> None:
    assert_input_error(run("plan", str(EXAMPLE_FILES[0]), "--rules", str(tmp_path / "none")), "rules folder not found")


def test_explain_lists_fired_rules_in_order() -> None:
    result = run("explain", str(EXAMPLES / "heart_condition_advanced.toml"))
    assert result.exit_code == 0, result.stderr
    fired = re.findall(r"^\s*\d+\. (\w+) \[", result.stdout, flags=re.M)
    assert fired[0] == "parq_moderate_intensity"
    assert "moderate_intensity_limits" in fired
    assert "matched: screening.heart_condition=true" in result.stdout
    assert "source:  acsm_2015_preparticipation" in result.stdout


def test_explain_exercise_in_plan() -> None:
    result = run("explain", str(EXAMPLES / "osteochondrosis_home.toml"), "dead_hang")
    assert result.exit_code == 0
    assert result.stdout.startswith("Dead hang (dead_hang): in the plan")
    assert "because osteochondrosis_mobility_traction" in result.stdout


def test_explain_exercise_kept_out_by_rules_and_filters() -> None:
    result = run("explain", str(EXAMPLES / "osteochondrosis_home.toml"), "deadlift")
    lines = result.stdout.splitlines()
    assert lines[0] == "Deadlift (deadlift): excluded by a rule"
    assert {line.split(":")[0].strip(" -") for line in lines[1:]} == {
        "gentle_no_heavy_spinal_loading",
        "osteochondrosis_no_jerky_or_axial",
        "equipment_owned",  # the ids declared in knowledge/eligibility.toml
        "experience_level",
    }


def test_explain_unknown_exercise_suggests() -> None:
    assert_input_error(run("explain", str(EXAMPLE_FILES[0]), "dead_hand"), "did you mean 'dead_hang'?")


def test_batch_keeps_order_and_reports_bad_lines(tmp_path: Path) -> None:
    cohort = tmp_path / "cohort.jsonl"
    lines = [
        json.dumps(answers()),
        "{not json",
        json.dumps(answers(screening__fever=True)),
        json.dumps(answers(age=9)),
        json.dumps(answers(pain__status="chronic", pain__intensity=3)),
    ]
    cohort.write_text("\n".join(lines) + "\n")
    result = run("batch", str(cohort))
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5]
    assert [("plan" in r, "error" in r) for r in records] == [
        (True, False),
        (False, True),
        (True, False),
        (False, True),
        (True, False),
    ]
    assert records[1]["error"]["message"].startswith("malformed JSON")
    assert records[3]["error"]["location"] == "age"
    assert records[2]["plan"]["screen"]["outcome"] == "stop"
    assert records[4]["plan"]["programme"] == "gentle"
    assert result.stderr.strip() == "3 plans, 2 error records"


def test_batch_out_file(tmp_path: Path) -> None:
    cohort = tmp_path / "c.jsonl"
    cohort.write_text(json.dumps(answers()) + "\n")
    out = tmp_path / "plans.jsonl"
    result = run("batch", str(cohort), "--out", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(out.read_text())["plan"]["programme"] == "strength"


def test_exercises_filters() -> None:
    result = run("exercises", "--equipment", "none", "--level", "beginner", "--category", "stabilisation")
    assert result.exit_code == 0
    assert "plank" in result.stdout and "deadlift" not in result.stdout


def test_exercises_unknown_filter_value() -> None:
    assert_input_error(run("exercises", "--tag", "heavy_lod"), "--tag", "did you mean 'heavy_load'?")


def test_exercises_show() -> None:
    result = run("exercises", "show", "bent_over_barbell_row")
    assert result.exit_code == 0
    assert "prerequisites:  machine_row or seated_cable_row" in result.stdout
    assert "source:         seed_001" in result.stdout


def test_exercises_show_unknown() -> None:
    assert_input_error(run("exercises", "show", "pullup"), "did you mean 'pull_up'?")


def test_rules_check_ok() -> None:
    result = run("rules", "check")
    assert result.exit_code == 0
    assert re.fullmatch(r"ok: \d+ rules \(\d+ screen, \d+ route, \d+ select\), \d+ exercises, .*\n", result.stdout)


def test_rules_list_and_show() -> None:
    listing = run("rules", "list").stdout
    assert "rf_saddle_numbness" in listing and "route_pain_gentle" in listing
    shown = run("rules", "show", "rf_fever")
    assert shown.exit_code == 0
    assert "when:     screening.fever = true" in shown.stdout
    assert "STOP the plan (urgent)" in shown.stdout
    assert_input_error(run("rules", "show", "rf_fevr"), "did you mean 'rf_fever'?")


def _commands() -> list[list[str]]:
    """Every command and group of the app, read from the app itself (never a list kept by hand)."""
    import typer.main

    out: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        out.append(path)
        for name in sorted(getattr(command, "commands", {})):  # a group: its sub-commands
            walk(command.commands[name], [*path, name])

    walk(typer.main.get_command(app), [])
    return out


COMMANDS = _commands()
GROUPS = [c for c in COMMANDS if any(len(o) > len(c) and o[: len(c)] == c for o in COMMANDS)]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "backplan")
def test_every_command_has_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.stdout
    if command not in GROUPS and command[0] != "journal":  # every command that makes or checks a plan takes
        # the knowledge folder (the journal's export and delete read only the journal) ...
        assert "--knowledge" in result.stdout, command
        # ... and the rules folder, but for the catalogue listing, which reads no rule
        assert ("--rules" in result.stdout) != (command in (["exercises"], ["exercises", "list"])), command


@pytest.mark.parametrize("command", [c for c in COMMANDS if c], ids=" ".join)
def test_the_console_script_builds_only_the_command_named_and_it_behaves_the_same(command: list[str]) -> None:
    """``cli.main`` leaves out every command but the one its first argument names (start-up time): that
    command's help, and its error on an unknown option, are the whole app's."""
    import typer.main

    from cli import _app_for

    lean = _app_for(command[:1])
    assert lean is not app
    assert sorted(typer.main.get_command(lean).commands) == [command[0]]  # type: ignore[attr-defined]
    for args in ([*command, "--help"], [*command, "--no-such-option"]):
        whole, alone = run(*args), runner.invoke(lean, args)
        assert (alone.exit_code, alone.stdout, alone.stderr) == (whole.exit_code, whole.stdout, whole.stderr), args


@pytest.mark.parametrize("first", [[], ["--help"], ["--version"], ["plna"], ["rule"]], ids=repr)
def test_the_console_script_keeps_the_whole_app_unless_a_command_is_named(first: list[str]) -> None:
    from cli import _app_for

    assert _app_for(first) is app
    if first[:1] == ["plna"]:
        result = run(*first, "x.toml")
        assert result.exit_code == 2 and "Did you mean 'plan'?" in result.stderr


@pytest.mark.parametrize("command", [c for c in COMMANDS if c], ids=" ".join)
def test_every_command_is_documented_in_readme(command: list[str]) -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"backplan {' '.join(command)}" in readme


def test_intake_with_input_ending_early_is_bad_input() -> None:
    result = run("intake", input="n\nn\n")
    assert result.exit_code == 2 and "{" not in result.stdout and "SAFETY" not in result.stdout
    assert (
        result.stderr.splitlines()[-1] == "backplan: error: <stdin>: the questionnaire was not completed (input ended)"
    )


def test_rules_check_reports_a_missing_or_misnamed_picture(tmp_path: Path) -> None:
    import shutil

    knowledge = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", knowledge)
    path = knowledge / "figures" / "core.toml"
    text = path.read_text(encoding="utf-8")
    assert text.count('exercise = "plank"\n') == 1
    path.write_text(text.replace('exercise = "plank"\n', 'exercise = "plankk"\n'), encoding="utf-8")
    result = run("rules", "check", "--knowledge", str(knowledge))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}: figure of an unknown exercise 'plankk' (did you mean 'plank'?)",
        f"{knowledge / 'figures'}: no figure for exercise 'plank'",
    ]


def _console_script(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> object:
    """``cli.main`` run in this process as the console script runs it, with ``args``: its exit code. The
    collector is left as the test process had it (on, nothing frozen) whatever ``main`` did to it."""
    import gc

    import cli

    class Left(Exception):
        pass

    def leave(code: object) -> None:
        raise Left(code)

    monkeypatch.setattr(cli, "_leave", leave)
    monkeypatch.setattr("sys.argv", ["backplan", *args])
    try:
        with pytest.raises(Left) as left:
            cli.main()
    finally:
        gc.enable()
        gc.unfreeze()
    return left.value.args[0]


def test_the_garbage_collector_is_off_while_the_command_line_is_read_and_on_in_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``main`` holds Python's cyclic garbage collector off while typer reads the command line (start-up
    time); every command's body runs with it on (a batch or the web app runs for hours)."""
    import gc

    import cli
    import engine

    seen: dict[str, bool] = {}
    parse = cli._app_for

    def app_for(first: list[str]) -> Any:
        seen["reading the command line"] = gc.isenabled()
        return parse(first)

    recommend = engine.recommend

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen["planning"] = gc.isenabled()
        return recommend(*args, **kwargs)

    monkeypatch.setattr(cli, "_app_for", app_for)
    monkeypatch.setattr(engine, "recommend", recording)
    argv = ["plan", str(EXAMPLES / "chronic_pain_office_worker.toml"), "-f", "json"]
    assert _console_script(monkeypatch, argv) == 0
    assert json.loads(capsys.readouterr().out)["screen"]["outcome"] == "clear"
    assert seen == {"reading the command line": False, "planning": True}


@pytest.mark.parametrize("preset", [None, "logfire"])
def test_the_console_script_loads_no_pydantic_plugin_unless_told_which(
    monkeypatch: pytest.MonkeyPatch, preset: str | None
) -> None:
    import os

    if preset is None:
        monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS", raising=False)
    else:
        monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", preset)
    assert _console_script(monkeypatch, ["--version"]) == 0
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == (preset or "__all__")


@pytest.mark.parametrize("setting", ["__all__", "1", "true", "logfire", None])
def test_the_plugin_loader_stand_in_answers_as_pydantics(monkeypatch: pytest.MonkeyPatch, setting: str | None) -> None:
    """Installed only when plugins are off; then it gives what pydantic's own ``get_plugins`` gives for every
    setting, and anything else asked of it (or plugins turned on later) brings in the real loader."""
    import importlib
    import sys

    import cli

    real = importlib.import_module(cli._PLUGIN_LOADER)
    monkeypatch.delitem(sys.modules, cli._PLUGIN_LOADER)  # as in a fresh process (restored after the test)
    if setting is None:
        monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS", raising=False)
    else:
        monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", setting)
    cli._no_plugin_scan()
    if setting not in cli._PLUGINS_OFF:
        assert cli._PLUGIN_LOADER not in sys.modules  # plugins may be on: pydantic's own loader decides
        return
    stand_in = sys.modules[cli._PLUGIN_LOADER]
    assert stand_in is not real
    from pydantic.plugin._loader import get_plugins  # what pydantic's validators import

    assert tuple(get_plugins()) == tuple(real.get_plugins()) == ()
    assert sys.modules[cli._PLUGIN_LOADER] is stand_in  # nothing more was loaded for that
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "logfire")  # plugins on again: the real loader answers
    assert list(get_plugins()) == list(real.get_plugins())
    assert stand_in.PYDANTIC_ENTRY_POINT_GROUP == "pydantic"  # any other name: the real module's
    assert sys.modules[cli._PLUGIN_LOADER] is not stand_in


def test_a_cold_plan_never_imports_the_package_metadata_machinery(tmp_path: Path) -> None:
    """The stand-in's whole point, measured where it matters: the console script planning in a fresh process
    imports neither ``importlib.metadata`` nor the ``email`` package (4% of a cold plan)."""
    import os
    import subprocess
    import sys

    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write(repr(sorted(m for m in ('importlib.metadata', 'email')"
        " if m in sys.modules)) + '\\n'))\n"
        "import cli\n"
        "sys.argv = ['backplan', 'plan', sys.argv[1]]\n"
        "cli.main()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    done = subprocess.run(
        [sys.executable, "-c", probe, str(EXAMPLES / "chronic_pain_office_worker.toml")],
        cwd=ROOT,
        env={**env, "BACKPLAN_CACHE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "[]"
