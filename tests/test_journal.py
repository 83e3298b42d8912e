"""The training journal's contract (SPEC.md, "Training journal"; issue 14), through the library and the CLI."""

from __future__ import annotations

import datetime
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

import cli
import engine
from cli import app
from engine.dosing import dose_for
from engine.intake import answers_to_toml
from engine.journal.chart import svg_chart, terminal_chart
from engine.journal.progression import CheckIn, Outcome, progress
from engine.obligations import stop_obligations
from tests.conftest import ROOT, answers

runner = CliRunner()
DAY = datetime.date(2025, 3, 1)
PAIN = {"status": "chronic", "intensity": 2, "radiates_to_leg": False}


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKPLAN_DATA_DIR", str(tmp_path / "data"))


def days(*offsets: int, during: int = 2, next_day: int = 2, done: str = "all") -> list[CheckIn]:
    return [CheckIn(DAY + datetime.timedelta(days=o), during, next_day, done) for o in offsets]


def intake_for(**changes: Any) -> engine.Intake:
    changes.setdefault("pain", dict(PAIN))
    return engine.parse_intake(answers(**changes), engine.load_rulebook().knowledge)


def decide(checkins: Sequence[CheckIn], **changes: Any) -> Outcome:
    book = engine.load_rulebook()
    return progress(intake_for(**changes), checkins, book)


CLEAN_TWO_WEEKS = days(*range(0, 16, 2))  # 8 check-ins every other day, days 0..14


def sets(plan: engine.Plan) -> dict[str, int]:
    return {ex.id: ex.sets for s in plan.sessions for ex in s.exercises}


# --- the decisions ----------------------------------------------------------------------------------------


def test_two_clean_weeks_progress_one_step_within_the_ceiling() -> None:
    outcome = decide(CLEAN_TWO_WEEKS, experience="intermediate")
    assert outcome.decision == "progress" and outcome.because == ("journal_two_clean_weeks",)
    start, now = sets(outcome.start_plan), sets(outcome.plan)
    stepped = [ex for ex in now if now[ex] != start[ex]]
    assert stepped and all(now[ex] == start[ex] + 1 for ex in stepped)
    # never above the strength programme's own dose of the exercise for an intermediate (knowledge/dosing.toml)
    book = engine.load_rulebook()
    for ex in stepped:
        ceiling = dose_for(
            book.knowledge.exercises[ex], "strength", "intermediate", "general", 0, book.knowledge.dosing
        )
        assert now[ex] <= max(ceiling.sets, start[ex])


def test_too_few_check_ins_or_a_journal_shorter_than_two_weeks_hold() -> None:
    assert decide(days(0, 3, 6, 9, 12, 14), experience="intermediate").decision == "hold"  # 6 in 15 days... covered
    assert decide(days(0, 4, 8, 14), experience="intermediate").decision == "hold"  # 4 < 3 sessions x 2
    assert decide(days(*range(8)), experience="intermediate").decision == "hold"  # 8 days: not two weeks


@pytest.mark.parametrize("field", ["during", "next_day", "done", "symptom"])
def test_one_unclean_check_in_in_the_window_blocks_progress(field: str) -> None:
    checkins = list(CLEAN_TWO_WEEKS)
    c = checkins[3]
    checkins[3] = CheckIn(
        c.date,
        4 if field == "during" else 2,
        3 if field == "next_day" else 2,
        "some" if field == "done" else "all",
        ("joint_problem",) if field == "symptom" else (),
    )
    outcome = decide(checkins, experience="intermediate")
    assert outcome.decision == "hold", outcome.because


@pytest.mark.parametrize(
    ("during", "next_day", "decision"), [(6, 2, "regress"), (5, 2, "hold"), (2, 4, "regress"), (2, 3, "hold")]
)
def test_latest_pain_above_5_or_next_day_2_above_usual_regress(during: int, next_day: int, decision: str) -> None:
    outcome = decide([*days(0, 2), *days(4, during=during, next_day=next_day)])
    assert outcome.decision == decision


def test_regress_never_goes_below_the_starting_dose() -> None:
    outcome = decide(days(0, 2, 4, during=8))
    assert outcome.decision == "regress" and outcome.steps[-1].level == 0
    assert outcome.plan.sessions == outcome.start_plan.sessions


def test_regress_after_progress_steps_back() -> None:
    outcome = decide([*CLEAN_TWO_WEEKS, *days(16, during=7)], experience="intermediate")
    assert [s.level for s in outcome.steps][-2:] == [1, 0]
    assert outcome.decision == "regress" and sets(outcome.plan) == sets(outcome.start_plan)


def test_regress_twice_in_a_row_adds_a_consult_warning() -> None:
    outcome = decide([*days(0), *days(2, 4, during=7)])
    assert outcome.because == ("journal_pain_flare", "journal_regress_twice_consult")
    consult = [w for w in outcome.plan.warnings if w.rule == "journal_regress_twice_consult"]
    assert consult and consult[0].level == "consult"
    once = decide([*days(0, 2), *days(4, during=7)])
    assert not any(w.rule == "journal_regress_twice_consult" for w in once.plan.warnings)


RED_FLAGS = [o for o in stop_obligations(engine.load_knowledge(engine.default_knowledge_dir())) if o.kind == "question"]


@pytest.mark.parametrize("question", sorted({o.subject for o in RED_FLAGS if o.meaning.when is None}))
def test_a_red_flag_symptom_stops_with_the_screens_advice(question: str) -> None:
    knowledge = engine.load_rulebook().knowledge
    checkins = [*days(0, 2), CheckIn(DAY + datetime.timedelta(4), 1, 1, "all", (question,))]
    outcome = decide(checkins)
    assert outcome.decision == "stop" and outcome.because[0] == "journal_red_flag_stop"
    assert outcome.plan.programme is None and outcome.plan.exercise_ids() == []
    declared = next(o for o in RED_FLAGS if o.subject == question and o.meaning.when is None)
    advice = outcome.plan.warnings[0]
    q = knowledge.screening[question]
    assert advice.level == declared.meaning.level and q.short in advice.message and q.help in advice.message
    if declared.meaning.note:
        assert declared.meaning.note.lower() in advice.message.lower()
    later = decide([*checkins, *days(6, 8)])  # a red flag does not go away by itself
    assert later.decision == "stop" and "journal_stop_stays" in later.because


def test_a_symptom_whose_stop_needs_pain_stops_only_with_pain() -> None:
    conditional = next(o for o in RED_FLAGS if o.meaning.when is not None)
    checkins = [*days(0), CheckIn(DAY + datetime.timedelta(2), 1, 1, "all", (conditional.subject,))]
    with_pain = decide(checkins)
    assert with_pain.decision == "stop"
    no_pain = decide(checkins, pain={"status": "none", "intensity": 0, "radiates_to_leg": False})
    assert conditional.meaning.when is not None and no_pain.decision != "stop"


def test_a_symptom_that_is_not_a_stop_row_changes_the_plan_not_the_decision() -> None:
    outcome = decide([*days(0), CheckIn(DAY + datetime.timedelta(2), 1, 1, "all", ("pregnant",))])
    assert outcome.decision == "hold"
    assert any("pregnan" in w.rule for w in outcome.plan.warnings)


def test_dates_in_any_order_give_the_same_decision() -> None:
    checkins = [*CLEAN_TWO_WEEKS, *days(16, during=7)]
    assert decide(checkins[::-1]).to_json() == decide(checkins).to_json()


def test_dose_never_above_the_strength_ceiling_after_many_progressions() -> None:
    checkins = days(*range(0, 120, 2))  # 60 clean check-ins over four months
    for experience in ("beginner", "intermediate", "advanced"):
        outcome = decide(checkins, experience=experience)
        ladder = outcome.ladder
        for ex_id, n in sets(outcome.plan).items():
            if ex_id in ladder.start:
                assert ladder.start[ex_id].sets <= n <= max(ladder.start[ex_id].sets, ladder.cap_sets[ex_id])
        assert outcome.steps[-1].level <= ladder.top
        if ladder.top == outcome.steps[-1].level:  # at the ceiling: no more progress
            assert outcome.decision == "hold"


def test_progress_json_is_exactly_the_spec_keys_and_stable() -> None:
    outcome = decide(CLEAN_TWO_WEEKS, experience="intermediate")
    data = json.loads(outcome.to_json())
    assert list(data) == ["decision", "because", "checkins", "plan"]
    assert data["checkins"] == 8 and data["plan"]["screen"]["outcome"] in ("clear", "consult")
    assert outcome.to_json() == decide(CLEAN_TWO_WEEKS, experience="intermediate").to_json()


def test_no_check_ins_holds_the_starting_plan() -> None:
    outcome = decide([])
    assert (outcome.decision, outcome.because, outcome.plan) == ("hold", (), outcome.start_plan)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 8), st.integers(0, 10), st.integers(0, 10), st.sampled_from(["all", "some", "none"])),
        min_size=1,
        max_size=18,
    ),
    st.sampled_from(["beginner", "intermediate", "advanced"]),
)
def test_durable_agrees_with_the_replay_on_random_journals(
    items: list[tuple[int, int, int, str]], experience: str
) -> None:
    """Every decision runs through durable_rules with the replay as its guard (a disagreement raises)."""
    day, checkins = DAY, []
    for gap, during, next_day, done in items:
        day += datetime.timedelta(days=gap)
        checkins.append(CheckIn(day, during, next_day, done))
    outcome = decide(checkins, experience=experience)
    latest = checkins[-1]
    if latest.pain_during > 5 or latest.pain_next_day >= 4:
        assert outcome.decision == "regress"
    if outcome.decision == "progress":
        window = [c for c in checkins if c.date > latest.date - datetime.timedelta(14)]
        assert all(c.pain_during <= 3 and c.pain_next_day <= 2 and c.done == "all" for c in window)


# --- the commands -------------------------------------------------------------------------------------------


@pytest.fixture()
def answers_file(tmp_path: Path) -> Path:
    path = tmp_path / "answers.toml"
    path.write_text(answers_to_toml(answers(experience="intermediate", pain=dict(PAIN))), encoding="utf-8")
    return path


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def checkin(path: Path, date: str, *extra: str, during: str = "2", next_day: str = "2", done: str = "all") -> Result:
    return run(
        "checkin",
        str(path),
        "--date",
        date,
        "--pain-during",
        during,
        "--pain-next-day",
        next_day,
        "--done",
        done,
        *extra,
    )


def test_checkin_then_progress_in_every_format(answers_file: Path, tmp_path: Path) -> None:
    for c in CLEAN_TWO_WEEKS:
        result = checkin(answers_file, c.date.isoformat())
        assert result.exit_code == 0 and result.stdout.startswith(f"recorded {c.date} for me"), result.stderr
    text = run("progress", str(answers_file))
    assert text.exit_code == 0, text.stderr
    assert text.stdout.startswith("Journal decision after 8 check-ins: PROGRESS")
    assert "Pain trend" in text.stdout and "SAFETY SCREEN" in text.stdout
    markdown = run("progress", str(answers_file), "--format", "markdown")
    assert markdown.stdout.startswith("# Training journal") and "# Your back training plan" in markdown.stdout
    data = json.loads(run("progress", str(answers_file), "--format", "json").stdout)
    assert list(data) == ["decision", "because", "checkins", "plan"] and data["decision"] == "progress"
    out = tmp_path / "progress.json"
    assert run("progress", str(answers_file), "-f", "json", "--out", str(out)).exit_code == 0
    assert json.loads(out.read_text()) == data
    if "html" in cli.Format.__members__:  # `plan --format html` (built beside this) gets the chart too
        page = run("progress", str(answers_file), "--format", "html").stdout
        assert "<svg" in page and "Training journal" in page


def test_same_date_replaces_and_people_are_apart(answers_file: Path) -> None:
    assert checkin(answers_file, "2025-03-01", during="7").exit_code == 0
    assert checkin(answers_file, "2025-03-01", during="1").exit_code == 0
    assert checkin(answers_file, "2025-03-01", "--person", "bo", during="9").exit_code == 0
    mine = json.loads(run("journal", "export").stdout)["checkins"]
    assert [(c["date"], c["pain_during"]) for c in mine] == [("2025-03-01", 1)]
    assert json.loads(run("journal", "export", "--person", "bo").stdout)["checkins"][0]["pain_during"] == 9


def assert_bad_input(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("backplan: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--date", "2025-02-30"], ["--date", "not a date"]),
        (["--date", "yesterday"], ["--date", "YYYY-MM-DD"]),
        (["--pain-during", "11"], ["--pain-during", "0 to 10"]),
        (["--pain-next-day", "-1"], ["--pain-next-day"]),
        (["--pain-during", "three"], ["--pain-during"]),
        (["--done", "most"], ["--done", "all, some, none"]),
        (["--symptom", "fevr"], ["--symptom", "did you mean 'fever'?"]),
        (["--person", "a b"], ["--person"]),
        (["--journal", "postgresql://me:secret@127.0.0.1:1/nothing"], ["--journal", "cannot reach"]),
        (["--journal", "mysql://h/db"], ["--journal", "unsupported"]),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    answers_file: Path, tmp_path: Path, args: list[str], fragments: list[str]
) -> None:
    options = {"--date": "2025-03-01", "--pain-during": "2", "--pain-next-day": "2", "--done": "all"}
    extra: list[str] = []
    for key, value in zip(args[::2], args[1::2], strict=True):
        if key in options:
            options[key] = value
        else:
            extra += [key, value]
    result = run("checkin", str(answers_file), *[x for kv in options.items() for x in kv], *extra)
    assert_bad_input(result, *fragments)
    assert "secret" not in result.stderr
    assert not (tmp_path / "data").exists()  # nothing written, not even an empty journal


def test_a_bad_answers_file_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("age = 3\n", encoding="utf-8")
    assert_bad_input(checkin(bad, "2025-03-01"))
    assert not (tmp_path / "data").exists()


def test_progress_reads_without_creating(answers_file: Path, tmp_path: Path) -> None:
    result = run("progress", str(answers_file), "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["checkins"] == 0
    assert not (tmp_path / "data").exists()


def test_a_rule_engine_disagreement_fails_closed(answers_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for c in CLEAN_TWO_WEEKS:
        checkin(answers_file, c.date.isoformat())
    from engine.durable_host import DurableStream

    real = DurableStream.assert_fact

    def lossy(self: DurableStream, fact: Any) -> list[str]:
        return [r for r in real(self, fact) if r != "journal_two_clean_weeks"]

    monkeypatch.setattr(DurableStream, "assert_fact", lossy)
    result = run("progress", str(answers_file), "--format", "json")
    assert result.exit_code == 1 and result.stdout == ""
    assert "disagreement" in result.stderr


def test_explain_and_the_rules_commands_cover_the_journal(answers_file: Path) -> None:
    for c in days(0, 2, during=7):
        checkin(answers_file, c.date.isoformat(), during="7")
    explained = run("explain", str(answers_file), "--person", "me")
    assert explained.exit_code == 0, explained.stderr
    assert "Journal: 2 check-ins; decision regress" in explained.stdout
    assert "fired: journal_pain_flare, journal_hold, journal_regress_twice_consult -> regress" in explained.stdout
    listing = run("rules", "list").stdout
    assert re.search(r"^journal_two_clean_weeks +journal +500 ", listing, re.M)
    shown = run("rules", "show", "journal_pain_flare")
    assert shown.exit_code == 0 and "stage:    progression" in shown.stdout and "pain_during > 5" in shown.stdout
    checked = run("rules", "check")
    assert checked.exit_code == 0 and checked.stdout.rstrip().endswith("6 progression rules")


# --- rule files: validated, compiled, checked -----------------------------------------------------------------


@pytest.fixture()
def folders(tmp_path: Path) -> tuple[Path, Path]:
    rules = Path(shutil.copytree(ROOT / "rules", tmp_path / "rules"))
    knowledge = Path(shutil.copytree(ROOT / "knowledge", tmp_path / "knowledge"))
    return rules, knowledge


def edit(path: Path, change: Callable[[str], str]) -> None:
    before = path.read_text(encoding="utf-8")
    after = change(before)
    assert after != before
    path.write_text(after, encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "fragments"),
    [
        (
            "decisions.toml",
            'field = "pain_during", gt = 5',
            'field = "pain_durin", gt = 5',
            ["unknown check-in field", "did you mean 'pain_during'?", "journal_pain_flare"],
        ),
        ("decisions.toml", 'decision = "hold"', 'decision = "wait"', ["journal_hold", "decision"]),
        (
            "decisions.toml",
            'field = "done", eq = "all"',
            'field = "done", eq = "al"',
            ["'al' is not a value of 'done'"],
        ),
        ("dosing.toml", "sets_step = 1", "sets_step = 9", ["sets_step", "must be at most 5, got 9"]),
    ],
)
def test_rules_check_names_defects_in_progression_files(
    folders: tuple[Path, Path], file: str, old: str, new: str, fragments: list[str]
) -> None:
    rules, knowledge = folders
    edit(rules / "progression" / file, lambda text: text.replace(old, new))
    result = run("rules", "check", "--rules", str(rules), "--knowledge", str(knowledge))
    assert_bad_input(result, file, *fragments)


def test_a_defective_progression_file_is_refused_by_every_command(
    folders: tuple[Path, Path], answers_file: Path
) -> None:
    rules, knowledge = folders
    edit(rules / "progression" / "decisions.toml", lambda t: t.replace('decision = "hold"', 'decision = "wait"'))
    for command in (["plan", str(answers_file)], ["rules", "list"], ["progress", str(answers_file)]):
        result = run(*command, "--rules", str(rules), "--knowledge", str(knowledge))
        assert_bad_input(result, "decisions.toml", "journal_hold")


def test_rules_that_break_the_contract_load_but_fail_verify(folders: tuple[Path, Path]) -> None:
    """The contract is verify's to prove (tests/test_journal_verify.py breaks each invariant)."""
    rules, knowledge = folders
    edit(
        rules / "progression" / "decisions.toml",
        lambda t: t.replace('field = "pain_during", lte = 3', 'field = "pain_during", lte = 4'),
    )
    assert run("rules", "check", "--rules", str(rules), "--knowledge", str(knowledge)).exit_code == 0
    from engine.journal.invariants import verify_journal

    report = verify_journal(engine.load_rulebook(rules, knowledge), cadence_bound=5, gap_bound=2, durable_bound=1)
    assert "no_progress_after_pain" in report.counts


def test_a_rules_folder_without_progression_still_plans(folders: tuple[Path, Path], answers_file: Path) -> None:
    rules, knowledge = folders
    shutil.rmtree(rules / "progression")
    checked = run("rules", "check", "--rules", str(rules), "--knowledge", str(knowledge))
    assert checked.exit_code == 0 and "no progression rules" in checked.stdout
    assert run("plan", str(answers_file), "--rules", str(rules)).exit_code == 0
    assert_bad_input(run("progress", str(answers_file), "--rules", str(rules)), "progression rules folder not found")


def test_the_step_sizes_are_data(folders: tuple[Path, Path]) -> None:
    rules, knowledge = folders
    edit(rules / "progression" / "dosing.toml", lambda t: t.replace("sets_step = 1", "sets_step = 2"))
    book = engine.load_rulebook(rules, knowledge)
    outcome = progress(intake_for(experience="advanced"), CLEAN_TWO_WEEKS, book)
    start, now = sets(outcome.start_plan), sets(outcome.plan)
    assert outcome.decision == "progress" and any(now[e] == start[e] + 2 for e in now)


# --- pictures ------------------------------------------------------------------------------------------------


def test_terminal_chart_and_svg_chart() -> None:
    outcome = decide([*days(0, 2), *days(4, during=7, next_day=5)])
    text = terminal_chart(outcome.steps, usual=2)
    lines = text.splitlines()
    assert lines[0].startswith("Pain trend, 3 of 3 check-ins") and text.isascii()
    row7 = next(line for line in lines if line.startswith(" 7 |"))
    assert row7 == " 7 |    *"
    assert lines[-3].split() == ["=", "=", "-"]
    svg = svg_chart(outcome.steps, usual=2)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg" and len(root.findall(f"{ns}polyline")) == 2
    assert "2025-03-05: during 7, next day 5" in svg
    empty = ET.fromstring(svg_chart([], usual=0))
    assert any(t.text == "No check-ins yet" for t in empty.iter(f"{ns}text"))
