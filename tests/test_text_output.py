"""Text is text: data is never markup, output survives an ASCII-only stdout, `intake > f` holds only the result."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from typer.testing import CliRunner

import engine
from cli import app
from engine.questionnaire import load_answers
from engine.render import json_ascii, md_escape, plain_text
from tests.conftest import EXAMPLES, ROOT

RED = "[red]x[/red]"
BOLD = "[/bold]"
LINK = "[link=http://x]"
MARKUP = f"Markup {RED} then {BOLD} and {LINK}click{BOLD} :smile: *not emphasis* <b>no html</b> words stay"
CLEAR = EXAMPLES / "chronic_pain_office_worker.toml"
STOP = EXAMPLES / "red_flag_cauda_equina.toml"
ALWAYS = "Start every session with the warm-up and finish with about 10 minutes of stretching."
SADDLE = "Do not wait to see if it passes."
UNICODE_STEP = "Kneel on all fours with your hands on the floor."
UNICODE_NEW = "Kneel — élan ≥ 3 × “curly” ‘quotes’ … on the floor."


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Copies of the bundled rules and knowledge whose messages, a name and a step hold markup and Unicode."""
    base = tmp_path_factory.mktemp("book")
    rules = Path(shutil.copytree(engine.default_rules_dir(), base / "rules"))
    knowledge = Path(shutil.copytree(engine.default_knowledge_dir(), base / "knowledge"))
    _edit(rules / "select" / "always.toml", ALWAYS, f"{ALWAYS} {MARKUP}")
    _edit(rules / "screen" / "emergency.toml", SADDLE, f"{SADDLE} {MARKUP}")
    _edit(knowledge / "exercises" / "mobility_stretch.toml", 'name = "Cat-cow"', f'name = "Cat-cow {RED} {BOLD}"')
    _edit(knowledge / "exercises" / "mobility_stretch.toml", UNICODE_STEP, f"{UNICODE_NEW} {BOLD}")
    return rules, knowledge


def _flat(text: str) -> str:
    return " ".join(text.split())


def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def _book_args(folders: tuple[Path, Path]) -> list[str]:
    return ["--rules", str(folders[0]), "--knowledge", str(folders[1])]


# --- data is never markup -------------------------------------------------------------------------


@pytest.mark.parametrize("answers", [CLEAR, STOP], ids=["warning", "screen reason"])
def test_rule_messages_print_literally_in_text(folders: tuple[Path, Path], answers: Path) -> None:
    code, out, err = _cli("plan", str(answers), *_book_args(folders))
    assert code == 0, err
    assert "Traceback" not in err
    assert _flat(MARKUP) in _flat(out)


def test_exercise_names_and_steps_print_literally_in_text(folders: tuple[Path, Path]) -> None:
    code, out, err = _cli("plan", str(CLEAR), *_book_args(folders))
    assert code == 0, err
    assert f"Cat-cow {RED} {BOLD}" in _flat(out)
    assert _flat(f"{UNICODE_NEW} {BOLD}") in _flat(out)


@pytest.mark.parametrize(
    ("folder", "file", "old", "expected"),
    [
        (
            "rules",
            "select/always.toml",
            ALWAYS,
            "always.toml: rule always_warm_up_and_stretch: rule[1].then[0].message: control character U+001B",
        ),
        (
            "knowledge",
            "exercises/mobility_stretch.toml",
            'name = "Cat-cow"',
            "mobility_stretch.toml: exercise[1].name (the entry with id 'cat_cow')",
        ),
    ],
    ids=["rule message", "exercise name"],
)
def test_terminal_codes_in_data_are_refused(tmp_path: Path, folder: str, file: str, old: str, expected: str) -> None:
    """An escape sequence in a message would recolour or move a person's terminal: refused when loaded."""
    rules = Path(shutil.copytree(engine.default_rules_dir(), tmp_path / "rules"))
    knowledge = Path(shutil.copytree(engine.default_knowledge_dir(), tmp_path / "knowledge"))
    target = (rules if folder == "rules" else knowledge) / file
    _edit(target, old, old.replace("t", "t\\u001b[2J", 1))
    code, out, err = _cli("plan", str(CLEAR), "--rules", str(rules), "--knowledge", str(knowledge))
    assert (code, out) == (2, "")
    assert expected in err and "control character U+001B" in err and err.count("\n") == 1


def test_text_rendering_drops_control_characters(book: engine.RuleBook) -> None:
    from engine.render import render_text

    plan = engine.recommend(engine.load_intake(CLEAR, book.knowledge), book)
    warning = plan.warnings[0].model_copy(update={"message": "Bell\x07 and \x1b[2J clear\x9b screen"})
    text = render_text(plan.model_copy(update={"warnings": (warning, *plan.warnings[1:])}), book.knowledge, width=80)
    assert "Bell and [2J clear screen" in _flat(text)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text)


def test_markup_in_reports_prints_literally(folders: tuple[Path, Path]) -> None:
    code, out, err = _cli("rules", "show", "rf_saddle_numbness", *_book_args(folders))
    assert code == 0, err
    assert _flat(MARKUP) in _flat(out)
    code, out, err = _cli("explain", str(CLEAR), "cat_cow", *_book_args(folders))
    assert code == 0, err
    assert f"Cat-cow {RED} {BOLD}" in out
    code, out, err = _cli("exercises", "--knowledge", str(folders[1]), env={"COLUMNS": "120"})  # cells unbroken
    assert code == 0, err
    assert RED in out and BOLD in out
    code, out, err = _cli("exercises", "show", "cat_cow", "--knowledge", str(folders[1]))
    assert code == 0, err
    assert f"Cat-cow {RED} {BOLD}" in out


@pytest.mark.parametrize("answers", [CLEAR, STOP], ids=["warning", "screen reason"])
def test_rule_messages_are_literal_in_markdown(folders: tuple[Path, Path], answers: Path) -> None:
    code, out, err = _cli("plan", str(answers), "--format", "markdown", *_book_args(folders))
    assert code == 0, err
    html = MarkdownIt("commonmark").enable("table").render(out)
    text = re.sub(r"<[^>]+>", "", html)
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&amp;", "&")):
        text = text.replace(entity, char)
    assert _flat(MARKUP) in _flat(text)
    assert "<a " not in html and "<em>not emphasis</em>" not in html and "<b>" not in html


def test_markdown_escape_keeps_words_and_ids() -> None:
    assert md_escape("bird_dog and pull_up_bar") == "bird_dog and pull_up_bar"
    assert md_escape("A&E, 8-12 reps (slowly).") == "A&E, 8-12 reps (slowly)."
    html = MarkdownIt("commonmark").render(md_escape("*a* _b_ `c` <b>d</b> [e](f) &amp; | # 1."))
    assert "<em>" not in html and "<code>" not in html and "<b>" not in html and "<a " not in html


# --- an ASCII-only stdout --------------------------------------------------------------------------


ASCII_ENVS = {
    "PYTHONIOENCODING=ascii": {"PYTHONIOENCODING": "ascii"},
    "LC_ALL=C PYTHONUTF8=0": {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"},
}


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "PYTHONIOENCODING", "PYTHONUTF8"))}
    env.pop("LANG", None)
    return {**env, **extra}


def _run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env=env if env is not None else _env({"PYTHONIOENCODING": "utf-8"}),
        input=stdin.encode() if stdin is not None else None,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(params=list(ASCII_ENVS), scope="module")
def ascii_env(request: pytest.FixtureRequest) -> dict[str, str]:
    env = _env(ASCII_ENVS[request.param])
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; print(sys.stdout.encoding)"], env=env, capture_output=True, text=True
    )
    encoding = probe.stdout.strip()
    try:
        "×".encode(encoding)
    except UnicodeError:
        return env
    pytest.skip(f"{request.param} gives an stdout that encodes '×' ({encoding})")


def _ascii(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"Traceback" not in result.stderr
    return result.stdout.decode("ascii")  # fails on any non-ASCII byte


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z][A-Za-z0-9_]{2,}", text))


@pytest.mark.parametrize("answers", [CLEAR, STOP, EXAMPLES / "healthy_gym_goer.toml"], ids=lambda p: p.stem)
def test_plan_text_on_an_ascii_stdout(ascii_env: dict[str, str], answers: Path) -> None:
    utf8 = _run("plan", str(answers)).stdout.decode("utf-8")
    out = _ascii(_run("plan", str(answers), env=ascii_env))
    truncated = set(re.findall(r"([A-Za-z0-9_]+)…", utf8))  # cut by rich's ellipsis, folded whole in ASCII
    assert _words(utf8) - truncated <= _words(out)
    assert any(c in utf8 for c in "━╭•×—")  # the ordinary rendering did need the fallback
    assert "+----" in out or "|" in out


def test_unicode_data_becomes_readable_ascii(ascii_env: dict[str, str], folders: tuple[Path, Path]) -> None:
    out = _ascii(_run("plan", str(CLEAR), *_book_args(folders), env=ascii_env))
    assert _flat("Kneel - elan >= 3 x \"curly\" 'quotes' ... on the floor. [/bold]") in _flat(out)
    assert _flat(MARKUP) in _flat(out)
    markdown = _ascii(_run("plan", str(CLEAR), "-f", "markdown", *_book_args(folders), env=ascii_env))
    assert "elan >= 3 x" in markdown


@pytest.mark.parametrize("answers", [CLEAR, STOP], ids=lambda p: p.stem)
def test_json_on_an_ascii_stdout_is_the_same_json(ascii_env: dict[str, str], answers: Path) -> None:
    utf8 = _run("plan", str(answers), "--format", "json").stdout
    out = _ascii(_run("plan", str(answers), "--format", "json", env=ascii_env))
    assert json.loads(out) == json.loads(utf8)


def test_json_with_unicode_data_on_an_ascii_stdout(ascii_env: dict[str, str], folders: tuple[Path, Path]) -> None:
    utf8 = _run("plan", str(CLEAR), "-f", "json", *_book_args(folders)).stdout
    assert UNICODE_NEW.encode() in utf8  # UTF-8 stays raw UTF-8 (plan JSON is byte-compared)
    out = _ascii(_run("plan", str(CLEAR), "-f", "json", *_book_args(folders), env=ascii_env))
    assert json.loads(out) == json.loads(utf8)
    assert "\\u2014" in out


def test_json_on_a_utf8_stdout_is_byte_identical(folders: tuple[Path, Path]) -> None:
    book = engine.load_rulebook(folders[0], folders[1])
    plan = engine.recommend(engine.load_intake(CLEAR, book.knowledge), book)
    assert _cli("plan", str(CLEAR), "-f", "json", *_book_args(folders))[1] == plan.to_json()
    assert _run("plan", str(CLEAR), "-f", "json", *_book_args(folders)).stdout == plan.to_json().encode()


@pytest.mark.parametrize(
    "args",
    [
        ["plan", str(CLEAR), "--format", "markdown"],
        ["explain", str(CLEAR)],
        ["explain", str(CLEAR), "cat_cow"],
        ["exercises"],
        ["exercises", "show", "cat_cow"],
        ["rules", "list"],
        ["rules", "show", "rf_saddle_numbness"],
        ["batch", str(EXAMPLES / "cohort.jsonl")],
    ],
    ids=" ".join,
)
def test_every_report_on_an_ascii_stdout(ascii_env: dict[str, str], args: list[str]) -> None:
    out = _ascii(_run(*args, env=ascii_env))
    utf8 = _run(*args).stdout.decode("utf-8")
    if args[0] == "batch":
        assert [json.loads(line) for line in out.splitlines()] == [json.loads(line) for line in utf8.splitlines()]
    else:
        assert _words(plain_text(utf8)) - set(re.findall(r"([A-Za-z0-9_]+)\.\.\.", plain_text(utf8))) <= _words(out)


def test_plain_text_and_json_ascii() -> None:
    assert plain_text("2 × 8 • a—b ≥ ≤ ≠ … “q” ‘q’ é ┃━┏ 你") == "2 x 8 * a-b >= <= != ... \"q\" 'q' e |-+ ?"
    assert plain_text("é×", "latin-1") == "é×"
    assert plain_text("—", "latin-1") == "-"
    value = {"a": "é — 😀 \ud800", "b": ["×"]}
    dumped = json.dumps(value, ensure_ascii=False)
    assert json_ascii(dumped) == json.dumps(value)


# --- intake: stdout holds only the result ---------------------------------------------------------


def _resume_file(tmp_path: Path, answers: Path) -> tuple[Path, str]:
    """A complete answers file less its age: `--resume` asks that one question."""
    data = load_answers(answers)
    del data["age"]
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path, "41\n"


def test_intake_json_to_a_file_is_only_json(tmp_path: Path) -> None:
    path, typed = _resume_file(tmp_path, CLEAR)
    result = _run("intake", "--resume", str(path), "--format", "json", stdin=typed)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.startswith(b"{") and result.stdout.endswith(b"}\n")
    assert b"How old" in result.stderr  # the question went to stderr
    # Exactly what `plan` prints for the saved answers: no prompt, no space, no echo.
    assert result.stdout == _run("plan", str(path), "--format", "json").stdout
    assert load_answers(path)["age"] == 41


def test_intake_stopped_early_to_a_file_is_only_json() -> None:
    result = _run("intake", "--format", "json", stdin="y\n1\n")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.startswith(b"{") and result.stdout.endswith(b"}\n")
    assert json.loads(result.stdout)["screen"]["outcome"] == "stop"
    assert b"[y/n]" in result.stderr


def test_intake_on_an_ascii_stdout(tmp_path: Path, ascii_env: dict[str, str]) -> None:
    path, typed = _resume_file(tmp_path, CLEAR)
    out = _ascii(_run("intake", "--resume", str(path), env=ascii_env, stdin=typed))
    assert "SAFETY SCREEN: CLEAR" in out
    stop = _ascii(_run("intake", env=ascii_env, stdin="y\n1\n"))
    assert "SAFETY SCREEN: STOP" in stop and "STOP - no exercise plan" in stop
    stop_json = _ascii(_run("intake", "--format", "json", env=ascii_env, stdin="y\n1\n"))
    assert json.loads(stop_json)["screen"]["outcome"] == "stop"
