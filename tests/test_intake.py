"""The answers file: every class of bad input is rejected with a one-line error naming file and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import engine
from cli import app
from engine.intake import intake_to_toml, missing_answers
from engine.obligations import obligations
from engine.questionnaire import load_answers, parse_choice, parse_many
from engine.ruleset import Stop
from tests import conftest
from tests.conftest import EXAMPLES

KNOWLEDGE = engine.load_knowledge(engine.default_knowledge_dir())


def answers(**changes: Any) -> dict[str, Any]:
    """conftest's valid answers, completed from knowledge/ with every answer version 2 requires."""
    data = conftest.answers(**changes)
    data.setdefault("active", False)
    if isinstance(data.get("screening"), dict):
        for question in KNOWLEDGE.screening:
            data["screening"].setdefault(question, False)
    return data


def _error(data: Any, knowledge: engine.Knowledge) -> engine.IntakeError:
    with pytest.raises(engine.IntakeError) as info:
        engine.parse_intake(data, knowledge, file="a.toml")
    return info.value


def test_valid_answers_parse_and_normalise(knowledge: engine.Knowledge) -> None:
    intake = engine.parse_intake(answers(equipment=["dumbbells", "bench", "dumbbells"]), knowledge)
    assert intake.equipment == ("bench", "dumbbells")
    assert intake.goal == "general"


def test_goal_is_optional(knowledge: engine.Knowledge) -> None:
    data = answers()
    del data["goal"]
    assert engine.parse_intake(data, knowledge).goal == "general"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (answers(age=15), {"location": "age", "suggestion": None}),
        (answers(age=101), {"location": "age", "suggestion": None}),
        (answers(age="35"), {"location": "age", "suggestion": None}),
        (answers(age=35.5), {"location": "age", "suggestion": None}),
        (answers(experience="expert"), {"location": "experience", "suggestion": None}),
        (answers(pain__intensity=11), {"location": "pain.intensity", "suggestion": None}),
        (answers(pain__intensity=-1), {"location": "pain.intensity", "suggestion": None}),
        (answers(pain__status="sometimes"), {"location": "pain.status", "suggestion": None}),
        (answers(pain__radiates_to_leg="no"), {"location": "pain.radiates_to_leg", "suggestion": None}),
        (answers(screening__fever=0), {"location": "screening.fever", "suggestion": None}),
        (answers(screening__fever="false"), {"location": "screening.fever", "suggestion": None}),
        (answers(equipment="dumbbells"), {"location": "equipment", "suggestion": None}),
        (answers(equipment=["dumbell"]), {"location": "equipment[0]", "suggestion": "dumbbells"}),
        (answers(conditions=["scolliosis"]), {"location": "conditions[0]", "suggestion": "scoliosis"}),
        (answers(goal="strenght"), {"location": "goal", "suggestion": "strength"}),
        (answers(agee=3), {"location": "agee", "suggestion": "age"}),
        (answers(pain__intensty=3), {"location": "pain.intensty", "suggestion": "intensity"}),
        (
            answers(screening__saddle_numbnes=False),
            {"location": "screening.saddle_numbnes", "suggestion": "saddle_numbness"},
        ),
    ],
)
def test_bad_values_name_the_field(data: Any, expected: dict[str, Any], knowledge: engine.Knowledge) -> None:
    err = _error(data, knowledge)
    assert {"location": err.location, "suggestion": err.suggestion} == expected
    assert err.file == "a.toml"
    assert "\n" not in err.line()


@pytest.mark.parametrize("question", list(KNOWLEDGE.screening))
def test_every_screening_question_is_required(question: str, knowledge: engine.Knowledge) -> None:
    data = answers()
    del data["screening"][question]
    err = _error(data, knowledge)
    assert err.message.startswith("1 answer missing: ")
    assert f"screening.{question}" in err.message
    assert "backplan intake --resume a.toml" in err.message


@pytest.mark.parametrize("key", ["age", "experience", "active", "equipment", "conditions", "pain", "screening"])
def test_required_top_level_keys(key: str, knowledge: engine.Knowledge) -> None:
    data = answers()
    del data[key]
    err = _error(data, knowledge)
    assert "missing: " in err.message and key in err.message
    assert "\n" not in err.line()


def test_every_missing_answer_is_named_in_one_line(knowledge: engine.Knowledge) -> None:
    data = answers()
    del data["active"]
    gone = list(knowledge.screening)[1::2]
    for question in gone:
        del data["screening"][question]
    err = _error(data, knowledge)
    assert err.message.startswith(f"{len(gone) + 1} answers missing: active, ")
    assert all(f"screening.{q}" in err.message for q in gone)
    assert "\n" not in err.line()


def test_misspelt_screening_answer_is_never_dropped(knowledge: engine.Knowledge) -> None:
    data = answers()
    data["screening"]["saddle_numbnes"] = True
    del data["screening"]["saddle_numbness"]
    err = _error(data, knowledge)  # an error, never a silent "no": the misspelling is named, with the real key
    assert (err.location, err.message, err.suggestion) == (
        "screening.saddle_numbnes",
        "unknown screening question",
        "saddle_numbness",
    )


@pytest.mark.parametrize("data", [[], "text", 3, None, {}])
def test_not_an_answers_table(data: Any, knowledge: engine.Knowledge) -> None:
    err = _error(data, knowledge)
    assert err.file == "a.toml"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.toml", b"age = = 3\n", "malformed TOML"),
        ("bad.json", b'{"age": 35,', "malformed JSON"),
        ("empty.toml", b"", "empty"),
        ("blank.json", b"  \n", "empty"),
        ("binary.toml", b"\x00\x01\x02\xff", "binary"),
        ("latin1.toml", "age = 35 # caf\xe9\n".encode("latin-1"), "not UTF-8"),
        ("list.json", b"[1, 2]", "expected a table"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: bytes, message: str, knowledge: engine.Knowledge) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(engine.IntakeError) as info:
        engine.load_intake(path, knowledge)
    assert message in info.value.message
    assert info.value.file == str(path)


def test_missing_file(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    with pytest.raises(engine.IntakeError) as info:
        engine.load_intake(tmp_path / "nope.toml", knowledge)
    assert info.value.as_dict() == {
        "kind": "IntakeError",
        "file": str(tmp_path / "nope.toml"),
        "rule": None,
        "location": None,
        "message": "file not found",
        "suggestion": None,
    }


@pytest.mark.parametrize(
    "path", sorted(EXAMPLES.glob("*.toml")) + sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name
)
def test_examples_are_valid_and_round_trip(path: Path, knowledge: engine.Knowledge, tmp_path: Path) -> None:
    intake = engine.load_intake(path, knowledge)
    saved = tmp_path / "saved.toml"
    saved.write_text(intake_to_toml(intake, knowledge))
    assert engine.load_intake(saved, knowledge) == intake
    as_json = tmp_path / "saved.json"
    as_json.write_text(json.dumps(intake.to_answers()))
    assert engine.load_intake(as_json, knowledge) == intake


def test_toml_and_json_examples_agree(knowledge: engine.Knowledge) -> None:
    assert engine.load_intake(EXAMPLES / "beginner_home_nothing.toml", knowledge) == engine.load_intake(
        EXAMPLES / "beginner_home_nothing.json", knowledge
    )


# --- `backplan intake`: the questionnaire, driven through typer's CliRunner --------------------------
# Every list of questions below is derived from knowledge/ (groups, items, field order); the only
# answers written out are what a person would type.

GROUPS = list(KNOWLEDGE.groups)
FIRST_GROUP, LATER_GROUPS = GROUPS[0], GROUPS[1:]
MEMBERS = {g: [q for q in KNOWLEDGE.screening.values() if q.group == g] for g in GROUPS}
FIELDS = list(KNOWLEDGE.questions)  # the basics, in the order asked
PAIN_DETAILS = [f for f in FIELDS if f.startswith("pain.") and f != "pain.status"]
# What a person with no pain types for each basic question (choices by a unique beginning).
CLEAR: dict[str, str | list[str]] = {
    "age": "38",
    "experience": "int",
    "active": "y",
    "goal": "pos",
    "equipment": "pull_up_bar, dumbbells",
    "conditions": "",
    "pain.status": "none",
    "pain.intensity": "0",
    "pain.radiates_to_leg": "n",
}


def _text(field: str) -> str:
    return " ".join(KNOWLEDGE.questions[field].text.split())


def _short(question: str) -> str:
    return " ".join(KNOWLEDGE.screening[question].short.split())


def _typed(basics: dict[str, str | list[str]], groups: dict[str, list[str]] | None = None) -> list[str]:
    """The lines typed for a fresh run: the first group, the basics, the other groups (all "no" unless given).

    A basic answer given as a list is typed line by line (a wrong answer, then a good one).
    """
    groups = groups or {}
    lines = list(groups.get(FIRST_GROUP, ["n"]))
    for field in FIELDS:
        if field in PAIN_DETAILS and basics["pain.status"] == "none":
            continue
        answer = basics[field]
        lines += answer if isinstance(answer, list) else [answer]
    for group in LATER_GROUPS:
        lines += groups.get(group, ["n"])
    return lines


def _intake(*args: str, typed: list[str]) -> Result:
    return CliRunner().invoke(app, ["intake", *args], input="\n".join(typed) + "\n")


def _json_out(result: Result) -> dict[str, Any]:
    # CliRunner echoes what is typed on stdout (a terminal shows it there); the result follows it.
    out: dict[str, Any] = json.loads(result.stdout[result.stdout.index("{\n") :])
    return out


def test_the_emergency_group_is_all_urgent_stops() -> None:
    """The group asked first is the one whose every "yes" is, on its own, an urgent stop (screening.toml)."""
    urgent = {
        o.subject
        for o in obligations(KNOWLEDGE)
        if o.kind == "question"
        and o.meaning.decision == "stop"
        and o.meaning.level == "urgent"
        and o.meaning.when is None
    }
    assert MEMBERS[FIRST_GROUP] and all(q.id in urgent for q in MEMBERS[FIRST_GROUP])


def test_full_flow_clear_case_plans_and_saves(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    saved = tmp_path / "me.toml"
    result = _intake("--save", str(saved), "--format", "json", typed=_typed(CLEAR))
    assert result.exit_code == 0, result.stderr
    plan = _json_out(result)
    assert plan["screen"]["outcome"] == "clear" and plan["programme"] == "strength"
    intake = engine.parse_intake(load_answers(saved), knowledge, file=str(saved))
    assert (intake.age, intake.experience, intake.active, intake.goal) == (38, "intermediate", True, "posture")
    assert intake.equipment == ("dumbbells", "pull_up_bar") and intake.conditions == ()
    assert not any(intake.screening.values()) and set(intake.screening) == set(knowledge.screening)
    # The order: emergency symptoms, then the basics, then the other groups, each title shown once.
    asked = result.stderr
    order = [
        asked.index(knowledge.groups[FIRST_GROUP].title),
        *[asked.index(_text(f)) for f in FIELDS if f not in PAIN_DETAILS],
        *[asked.index(knowledge.groups[g].title) for g in LATER_GROUPS],
    ]
    assert order == sorted(order)
    for question in knowledge.screening:  # every item listed by its short wording, none by its long text
        assert asked.count(_short(question)) == 1
    # The saved file plans the same.
    again = CliRunner().invoke(app, ["plan", str(saved), "--format", "json"])
    assert json.loads(again.stdout) == plan


def test_pain_details_are_skipped_without_pain(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    saved = tmp_path / "me.toml"
    result = _intake("--save", str(saved), typed=_typed(CLEAR))
    assert result.exit_code == 0, result.stderr
    for field in PAIN_DETAILS:
        assert _text(field) not in result.stderr
    pain = engine.parse_intake(load_answers(saved), knowledge).pain
    assert (pain.status, pain.intensity, pain.radiates_to_leg) == ("none", 0, False)


def test_pain_details_are_asked_with_pain(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    saved = tmp_path / "me.toml"
    typed = _typed({**CLEAR, "pain.status": "chron", "pain.intensity": "4", "pain.radiates_to_leg": "yes"})
    result = _intake("--save", str(saved), "--format", "json", typed=typed)
    assert result.exit_code == 0, result.stderr
    for field in PAIN_DETAILS:
        assert _text(field) in result.stderr
    pain = engine.parse_intake(load_answers(saved), knowledge).pain
    assert (pain.status, pain.intensity, pain.radiates_to_leg) == ("chronic", 4, True)
    assert _json_out(result)["programme"] == "gentle"


def test_a_yes_asks_which_and_the_rest_of_the_group_is_no(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    # In the last group, two items whose "yes" never stops the plan: answered by number and by id.
    group = LATER_GROUPS[-1]
    items = [q.id for q in MEMBERS[group]]
    mild = [q.id for q in MEMBERS[group] if q.yes and all(m.decision != "stop" for m in q.yes)][:2]
    assert len(mild) == 2
    saved = tmp_path / "me.toml"
    typed = _typed(CLEAR, {group: ["y", f"{items.index(mild[0]) + 1},{mild[1]}"]})
    result = _intake("--save", str(saved), "--format", "json", typed=typed)
    assert result.exit_code == 0, result.stderr
    assert f"{' '.join(knowledge.groups[group].ask.split())} [y/n]" in result.stderr
    assert "Which ones?" in result.stderr
    screening = engine.parse_intake(load_answers(saved), knowledge).screening
    assert {q for q in items if screening[q]} == set(mild)
    assert [q for q, yes in screening.items() if yes] == mild
    assert _json_out(result)["screen"]["outcome"] == "consult"


def test_which_asks_again_on_a_number_off_the_list(tmp_path: Path) -> None:
    group = LATER_GROUPS[-1]
    mild = next(q.id for q in MEMBERS[group] if q.yes and all(m.decision != "stop" for m in q.yes))
    number = [q.id for q in MEMBERS[group]].index(mild) + 1
    result = _intake(typed=_typed(CLEAR, {group: ["y", str(len(MEMBERS[group]) + 1), str(number)]}))
    assert result.exit_code == 0, result.stderr
    assert f"is not on the list: type numbers from 1 to {len(MEMBERS[group])}" in result.stderr


def test_question_mark_shows_the_help_and_asks_again(knowledge: engine.Knowledge) -> None:
    basics = {**CLEAR, "age": ["?", "38"], "experience": ["?", "int"]}
    result = _intake(typed=_typed(basics, {FIRST_GROUP: ["?", "n"]}))
    assert result.exit_code == 0, result.stderr
    asked = " ".join(result.stderr.split())
    for question in MEMBERS[FIRST_GROUP]:  # a group's help: the help of each item
        assert " ".join(question.help.split()) in asked
    assert " ".join(knowledge.questions["age"].help.split()) in asked
    for meaning in knowledge.questions["experience"].help.split("; "):
        assert " ".join(meaning.split()) in asked
    ask = " ".join(knowledge.groups[FIRST_GROUP].ask.split())
    assert asked.count(f"{ask} [y/n]") == 2 and asked.count(_text("age")) == 2


def test_choices_take_a_unique_beginning_and_explain_a_wrong_one(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    saved = tmp_path / "me.toml"
    basics = {**CLEAR, "experience": ["expert", "ADV"], "active": ["maybe", "no"], "goal": ""}  # Enter: the default
    result = _intake("--save", str(saved), typed=_typed(basics))
    assert result.exit_code == 0, result.stderr
    assert "'expert' is not one of: beginner, intermediate, advanced" in result.stderr
    shown = " ".join(result.stderr.split())
    for meaning in knowledge.questions["experience"].help.split("; "):  # what each choice means
        assert " ".join(meaning.split()) in shown
    assert "please answer y or n" in result.stderr
    intake = engine.parse_intake(load_answers(saved), knowledge)
    assert (intake.experience, intake.active, intake.goal) == ("advanced", False, "general")


def test_parse_choice_and_many() -> None:
    choices = ["subacute", "strength", "none"]
    assert parse_choice("SUB", choices) == "subacute"
    assert parse_choice(" none ", choices) == "none"
    with pytest.raises(ValueError, match="could be subacute or strength"):
        parse_choice("s", choices)
    with pytest.raises(ValueError, match="not one of"):
        parse_choice("x", choices)
    assert parse_many("3 1,1", choices) == ["subacute", "none"]
    assert parse_many("", choices) == parse_many("none", choices) == []
    with pytest.raises(ValueError, match="not on the list"):
        parse_many("4", choices)


def test_an_emergency_answer_ends_at_once(tmp_path: Path, book: engine.RuleBook) -> None:
    knowledge = book.knowledge
    first = MEMBERS[FIRST_GROUP][0].id
    saved = tmp_path / "partial.toml"
    result = _intake("--save", str(saved), typed=["y", "1", *(["n"] * 40)])
    assert result.exit_code == 0, result.stderr
    # The advice of the screen rules that stop on this answer alone, and nothing asked after it.
    advice = [
        a.message
        for item in book.rules.stage("screen")
        if item.rule.when.fields() == [f"screening.{first}"] and item.rule.when.holds({"screening": {first: True}})
        for a in item.rule.then
        if isinstance(a, Stop)
    ]
    shown = " ".join(result.stdout.split())
    assert advice and all(" ".join(message.split()) in shown for message in advice)
    assert "emergency department (A&E)" in result.stdout and "SAFETY SCREEN: STOP" in result.stdout
    assert _text("age") not in result.stderr
    assert all(knowledge.groups[g].title not in result.stderr for g in LATER_GROUPS)
    # --save holds the answers given so far: the first group, and no more.
    partial = load_answers(saved)
    assert partial == {"screening": {q.id: q.id == first for q in MEMBERS[FIRST_GROUP]}}
    with pytest.raises(engine.IntakeError, match="answers missing"):
        engine.parse_intake(partial, knowledge, file=str(saved))
    # Resuming it ends at once too: the answers already given are an emergency.
    again = _intake("--resume", str(saved), typed=[])
    assert again.exit_code == 0 and "emergency department (A&E)" in again.stdout
    assert "[y/n]" not in again.stderr


def test_an_emergency_stop_as_json(tmp_path: Path) -> None:
    result = _intake("--format", "json", typed=["y", "1"])
    assert result.exit_code == 0, result.stderr
    out = _json_out(result)
    assert out["screen"]["outcome"] == "stop" and out["programme"] is None and out["sessions"] == []
    assert out["warnings"][0]["level"] == "urgent" and out["complete"] is False


# A version-1 answers file, as users have them on disk: no `active`, and only the screening
# questions version 1 asked.
V1_FILE = """\
# A 29-year-old intermediate lifter training in a full gym, no pain, wants more muscle.
age = 29
experience = "intermediate"
goal = "muscle"
equipment = ["barbell", "bench", "cable_machine", "dumbbells", "pull_up_bar", "row_machine"]
conditions = []

[pain]
status = "none"
intensity = 0
radiates_to_leg = false

[screening]
saddle_numbness = false
bladder_bowel_change = false
progressive_leg_weakness = false
fever = false
unexplained_weight_loss = false
cancer_history = false
recent_trauma = false
night_pain = false
chest_pain = false
heart_condition = false
dizziness = false
"""


def test_resume_a_version_1_file_asks_only_what_it_lacks(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    path = tmp_path / "old.toml"
    path.write_text(V1_FILE)
    raw = load_answers(path)
    missing = missing_answers(raw, knowledge)
    lacking = {m.split(".", 1)[1] for m in missing if m.startswith("screening.")}
    assert "active" in missing and len(lacking) == len(knowledge.screening) - len(raw["screening"])
    groups = [g for g in GROUPS if any(q.id in lacking for q in MEMBERS[g])]
    basics = [f for f in FIELDS if f in missing]
    first = groups[:1] == [FIRST_GROUP]  # asked before the basics
    typed = ["n"] * first + ["y"] * len(basics) + ["n"] * (len(groups) - first)
    result = _intake("--resume", str(path), "--format", "json", typed=typed)
    assert result.exit_code == 0, result.stderr
    asked = result.stderr
    # The prompts seen: one per group with something missing, and the missing basics; nothing else.
    assert asked.count("[y/n]:") == len(groups) + len(basics) and "Which ones?" not in asked
    for question in knowledge.screening:
        assert (_short(question) in asked) == (question in lacking), question
    for field in FIELDS:
        assert (_text(field) in asked) == (field in missing), field
    # The completed file is saved back in place (no --save), valid, with the old answers kept.
    intake = engine.parse_intake(load_answers(path), knowledge, file=str(path))
    assert (intake.age, intake.goal, intake.active) == (29, "muscle", True)
    assert not any(intake.screening.values())
    assert _json_out(result)["programme"] == "strength"


def test_resume_to_another_file_keeps_the_original(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    path, out = tmp_path / "old.toml", tmp_path / "new.toml"
    path.write_text(V1_FILE)
    result = _intake("--resume", str(path), "--save", str(out), typed=["n", "y"] + ["n"] * 10)
    assert result.exit_code == 0, result.stderr
    assert path.read_text() == V1_FILE
    assert engine.parse_intake(load_answers(out), knowledge).active is True


def test_resume_asks_again_for_an_invalid_value_and_says_why(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    path = tmp_path / "old.toml"
    path.write_text(V1_FILE.replace("age = 29", 'age = "29"').replace('goal = "muscle"', 'goal = "strenght"'))
    raw = load_answers(path)
    lacking = {m.split(".", 1)[1] for m in missing_answers(raw, knowledge) if m.startswith("screening.")}
    groups = [g for g in GROUPS if any(q.id in lacking for q in MEMBERS[g])]
    typed = ["n", "31", "y", "str", *(["n"] * (len(groups) - 1))]
    result = _intake("--resume", str(path), typed=typed)
    assert result.exit_code == 0, result.stderr
    assert 'age = "29": must be a whole number from 16 to 100' in result.stderr
    assert 'goal = "strenght": must be one of' in result.stderr
    intake = engine.parse_intake(load_answers(path), knowledge)
    assert (intake.age, intake.goal) == (31, "strength")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.toml", None, "file not found"),
        ("bad.toml", "age = = 3\n", "malformed TOML"),
        ("list.json", "[1, 2]", "expected a table"),
        ("empty.toml", "", "empty"),
    ],
)
def test_resume_an_unreadable_file_is_bad_input(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    result = _intake("--resume", str(path), typed=["n"])
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"backplan: error: {path}: ") and message in lines[0]


ENDED = "the questionnaire was not completed (input ended)"


def test_input_ending_early_is_bad_input_and_keeps_the_answers_so_far(tmp_path: Path) -> None:
    saved = tmp_path / "partial.toml"
    result = _intake("--save", str(saved), typed=["n", "38"])
    assert result.exit_code == 2 and "SAFETY" not in result.stdout
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"backplan: error: <stdin>: {ENDED}; ")
    assert f"backplan intake --resume {saved}" in last
    assert load_answers(saved)["age"] == 38
    plain = _intake(typed=["n"])  # nothing to save to: the message is the plain one
    assert plain.stderr.splitlines()[-1] == f"backplan: error: <stdin>: {ENDED}"


def test_the_library_never_prints_and_enter_takes_the_default(
    book: engine.RuleBook, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.questionnaire import Questionnaire

    typed = iter(_typed({**CLEAR, "goal": ""}))
    shown: list[str] = []
    result = Questionnaire(book).run(lambda text, default: next(typed), shown.append)  # "" even with a default
    assert result.intake is not None and result.intake.goal == "general"
    assert next(typed, None) is None and shown
    assert capsys.readouterr() == ("", "")


def test_a_json_file_resumed_stays_json(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    (tmp_path / "old.toml").write_text(V1_FILE)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(load_answers(tmp_path / "old.toml")))
    result = _intake("--resume", str(path), typed=["n", "n"] + ["n"] * len(LATER_GROUPS))
    assert result.exit_code == 0, result.stderr
    saved = json.loads(path.read_text())
    assert saved["active"] is False and engine.parse_intake(saved, knowledge).age == 29
