"""docs/extending.md, executed: the walk-through is replayed on a copy of the repository, block by block.

The doc and this test share one source of truth. The doc's ```sh setup block says which folders the
working copy holds; every ```toml block with ``file=`` and ``mode=`` is applied exactly as written
(appended, or created), in document order; every ```console block is run after the file blocks above
it: each ``$ `` line is a command (``backplan ...`` through typer's CliRunner in the working copy,
``echo $?``, or ``sed -i 's/OLD/NEW/' FILE``), and the lines below it are its output. A shown output
line matches a real one when equal, with ``…`` standing for any text and column padding (two spaces or
more) for any run of spaces; a ``…`` line on its own stands for any number of lines.
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

import engine
from cli import app
from engine.intake import baseline_answers
from engine.verify import verify_rulebook
from tests.conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DOC = ROOT / "docs" / "extending.md"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```$", re.S | re.M)
SED = re.compile(r"""^sed -i 's/([^/]+)/([^/]*)/' (\S+)$""")
ELLIPSIS = "…"
runner = CliRunner()


@dataclass(frozen=True)
class Block:
    index: int  # position among the doc's fenced blocks
    lang: str
    attrs: dict[str, str]
    body: str

    @property
    def commands(self) -> list[tuple[str, list[str]]]:
        """A console block's commands, each with the output lines the doc shows under it."""
        out: list[tuple[str, list[str]]] = []
        for line in self.body.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            else:
                assert out, f"console block {self.attrs.get('id')}: output before the first command"
                out[-1][1].append(line)
        return out


@cache
def blocks() -> tuple[Block, ...]:
    found = []
    for i, (lang, info, body) in enumerate(FENCE.findall(DOC.read_text(encoding="utf-8"))):
        attrs = dict(part.split("=", 1) if "=" in part else (part, "") for part in info.split())
        found.append(Block(i, lang, attrs, body))
    return tuple(found)


def file_blocks() -> list[Block]:
    return [b for b in blocks() if "file" in b.attrs]


def console_blocks() -> list[Block]:
    return [b for b in blocks() if b.lang == "console"]


def console(name: str) -> Block:
    (block,) = [b for b in console_blocks() if b.attrs.get("id") == name]
    return block


def setup_folders() -> list[str]:
    """The folders the doc's setup block copies (``mkdir DEST``, ``cp -r A B ... DEST``, ``cd DEST``)."""
    (setup,) = [b for b in blocks() if b.lang == "sh" and "setup" in b.attrs]
    mkdir, cp, cd = (shlex.split(line) for line in setup.body.splitlines())
    assert mkdir == ["mkdir", cp[-1]] and cp[:2] == ["cp", "-r"] and cd == ["cd", cp[-1]], setup.body
    return cp[2:-1]


def apply(work: Path, block: Block) -> None:
    path = work / block.attrs["file"]
    if block.attrs["mode"] == "append":
        path.write_text(path.read_text(encoding="utf-8") + block.body, encoding="utf-8")
    else:
        assert block.attrs["mode"] == "create" and not path.exists(), block.attrs["file"]
        path.write_text(block.body, encoding="utf-8")


def working_copy(tmp_path: Path, before: int | None = None) -> Path:
    """The setup's folders, with every file block of the doc above position ``before`` applied."""
    work = tmp_path / "work"
    for folder in setup_folders():
        shutil.copytree(ROOT / folder, work / folder)
    for block in file_blocks():
        if before is None or block.index < before:
            apply(work, block)
    return work


def sed(work: Path, command: str) -> None:
    """``sed -i 's/OLD/NEW/' FILE``: the first OLD on every line that has one (OLD with no regex syntax)."""
    match = SED.match(command)
    assert match, f"unsupported sed command: {command}"
    old, new, name = match.groups()
    assert not set(old) & set(r".[]*^$\+?(){}|"), f"keep sed patterns literal: {old}"
    path = work / name
    lines = path.read_text(encoding="utf-8").split("\n")
    assert any(old in line for line in lines), f"{name}: no line has {old!r}"
    path.write_text("\n".join(line.replace(old, new, 1) for line in lines), encoding="utf-8")


def run(work: Path, command: str, status: int) -> tuple[list[str], int]:
    """Run one command as the doc shows it; return its output lines and exit status."""
    if command == "echo $?":
        return [str(status)], 0
    if command.startswith("sed "):
        sed(work, command)
        return [], 0
    args = shlex.split(command)
    assert args[0] == "backplan", f"the doc runs a command this test cannot: {command}"
    result = runner.invoke(app, args[1:])
    if not isinstance(result.exit_code, int) or result.exit_code not in (0, 1, 2):  # pragma: no cover
        raise AssertionError(f"{command}: exit {result.exit_code}") from result.exception
    return result.output.splitlines(), result.exit_code


def _line_pattern(shown: str) -> re.Pattern[str]:
    parts = []
    for literal in shown.split(ELLIPSIS):
        parts.append(" +".join(re.escape(piece) for piece in re.split(r" {2,}", literal)))
    return re.compile(".*".join(parts))


def matches(shown: list[str], actual: list[str]) -> bool:
    """``actual`` is what ``shown`` shows, with ``…`` for left-out text and lines."""
    if not shown:
        return not actual
    if shown[0] == ELLIPSIS:
        return any(matches(shown[1:], actual[k:]) for k in range(len(actual) + 1))
    return bool(actual) and bool(_line_pattern(shown[0]).fullmatch(actual[0])) and matches(shown[1:], actual[1:])


def replay(tmp_path: Path, block: Block, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str], int]]:
    """Run a console block in the working copy as the doc has it at that point; check and return its outputs."""
    work = working_copy(tmp_path, before=block.index)
    monkeypatch.chdir(work)
    status = 0
    ran = []
    for command, shown in block.commands:
        actual, status = run(work, command, status)
        assert matches(shown, actual), (
            f"docs/extending.md, block {block.attrs.get('id')}: `{command}` printed\n"
            + "\n".join(actual)
            + "\n--- but the doc shows ---\n"
            + "\n".join(shown)
        )
        ran.append((command, actual, status))
    return ran


def _param(block: Block) -> object:
    slow = any(command.startswith("backplan verify") for command, _ in block.commands)
    return pytest.param(block, id=block.attrs["id"], marks=[pytest.mark.slow] if slow else [])


# --- the doc's structure ----------------------------------------------------------------------------


def test_every_console_block_is_named_and_every_file_block_applies() -> None:
    assert console_blocks() and all(b.attrs.get("id") for b in console_blocks())
    assert len({b.attrs["id"] for b in console_blocks()}) == len(console_blocks())
    assert all(b.attrs.get("mode") in ("append", "create") for b in file_blocks())
    assert all(b.attrs["file"].split("/")[0] in setup_folders() for b in file_blocks())


def test_the_example_is_new_to_the_shipped_knowledge() -> None:
    """The walk-through adds a condition and a question the repository does not have (else: duplicate id)."""
    shipped = engine.load_knowledge(ROOT / "knowledge")
    added = {b.attrs["file"]: tomllib.loads(b.body) for b in file_blocks() if b.attrs["file"].startswith("knowledge/")}
    (condition,) = added["knowledge/conditions.toml"]["condition"]
    (question,) = added["knowledge/screening.toml"]["question"]
    assert condition["id"] not in shipped.conditions
    assert question["id"] not in shipped.screening
    assert condition["source"] in shipped.sources and set(condition["exclude_tags"]) <= set(shipped.tags)


def test_matching_rules() -> None:
    assert matches(["a", ELLIPSIS, "d"], ["a", "b", "c", "d"]) and matches(["a", ELLIPSIS], ["a"])
    assert matches([f"ok: {ELLIPSIS} rules"], ["ok: 80 rules"]) and matches(["x  y"], ["x     y"])
    assert not matches(["a", "d"], ["a", "b", "d"]) and not matches(["a"], ["a", "b"])
    assert not matches(["x y"], ["x  y"]) and not matches([f"{ELLIPSIS} failed"], ["1 passed"])


# --- every console block, replayed --------------------------------------------------------------------


@pytest.mark.parametrize("block", [_param(b) for b in console_blocks()])
def test_console_block(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    replay(tmp_path, block, monkeypatch)


# --- the steps that matter, stated once more in words -----------------------------------------------------


def test_condition_without_rules_is_refused_by_every_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = replay(tmp_path, console("condition-without-rules"), monkeypatch)
    backplan = [(command, out, status) for command, out, status in ran if command.startswith("backplan")]
    assert [status for _, _, status in backplan] == [2, 2]
    assert all(any("condition 'ankylosing_spondylitis'" in line for line in out) for _, out, _ in backplan)
    plan_output = backplan[1][1]
    assert len(plan_output) == 1 and plan_output[0].startswith("backplan: error: knowledge/conditions.toml: ")


def test_consult_alone_leaves_the_exclusion_unmet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (command, out, status), *_ = replay(tmp_path, console("consult-only"), monkeypatch)
    assert command.startswith("backplan rules check") and status == 2
    assert len(out) == 1 and out[0].startswith(
        "knowledge/conditions.toml: condition 'ankylosing_spondylitis' must leave"
    )


def test_question_without_rules_is_refused_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = replay(tmp_path, console("question-without-rules"), monkeypatch)
    backplan = [(out, status) for command, out, status in ran if command.startswith("backplan")]
    assert [status for _, status in backplan] == [2, 2]
    assert all(any("screening question 'spinal_fracture'" in line for line in out) for out, _ in backplan)


def test_both_complete_checks_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("condition-complete", "question-complete"):
        _, out, status = replay(tmp_path / name, console(name), monkeypatch)[0]
        assert status == 0 and out[0].startswith("ok: ")


def test_the_finished_rules_do_what_the_doc_says(tmp_path: Path) -> None:
    work = working_copy(tmp_path)
    book = engine.load_rulebook(work / "rules", work / "knowledge")
    gym = {"age": 32, "experience": "intermediate", "equipment": ["pull_up_bar", "dumbbells", "barbell", "bench"]}

    def plan(**changes: object) -> engine.Plan:
        answers = baseline_answers(book.knowledge)
        answers.update(gym)
        for key, value in changes.items():
            if key in answers and isinstance(answers[key], dict):
                answers[key] = {**answers[key], **value}  # type: ignore[dict-item]
            else:
                answers[key] = value
        return engine.recommend(engine.parse_intake(answers, book.knowledge), book)

    heavy = {ex.id for ex in book.knowledge.exercises.values() if "heavy_load" in ex.tags}
    without = plan()
    assert heavy & set(without.exercise_ids())  # so the absence below is the new rules' doing

    spondylitis = plan(conditions=["ankylosing_spondylitis"])
    assert spondylitis.screen.outcome == "consult"
    assert not heavy & set(spondylitis.exercise_ids())
    assert "seated_twist" in spondylitis.exercise_ids() and "seated_twist" not in without.exercise_ids()
    assert ("ankylosing_spondylitis_consult", "consult") in [(w.rule, w.level) for w in spondylitis.warnings]

    fracture = plan(screening={"spinal_fracture": True})
    excluded = {x.id: [r.rule for r in x.because] for x in fracture.excluded}
    assert fracture.screen.outcome == "consult"
    assert not heavy & set(fracture.exercise_ids())
    assert "bone_fragility_exclusions" in excluded["seated_twist"]  # reused through the derived fact
    assert "spinal_fracture_no_heavy_lifts" in excluded["barbell_shrug"]


def test_verify_passes_on_the_finished_rules(tmp_path: Path) -> None:
    """The doc's `backplan verify`, on the plan cells the new rules change (the full run is the slow test)."""
    work = working_copy(tmp_path)
    book = engine.load_rulebook(work / "rules", work / "knowledge")
    report = verify_rulebook(book, workers=1, out_dir=tmp_path / "failures", cells=[("intermediate", "strength")])
    assert report.passed, report.render()
    assert "a consult from its own rules for every listed condition" in report.space.proofs
