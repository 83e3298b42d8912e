"""The answers file: every class of bad input is rejected with a one-line error naming file and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import engine
from engine.intake import intake_to_toml
from tests.conftest import EXAMPLES, answers


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


@pytest.mark.parametrize("question", list(answers()["screening"]))
def test_every_screening_question_is_required(question: str, knowledge: engine.Knowledge) -> None:
    data = answers()
    del data["screening"][question]
    err = _error(data, knowledge)
    assert err.location == f"screening.{question}"
    assert "must be answered" in err.message


@pytest.mark.parametrize("key", ["age", "experience", "equipment", "conditions", "pain", "screening"])
def test_required_top_level_keys(key: str, knowledge: engine.Knowledge) -> None:
    data = answers()
    del data[key]
    err = _error(data, knowledge)
    assert err.location == key
    assert err.message == "is required but missing"


def test_misspelt_screening_answer_is_never_dropped(knowledge: engine.Knowledge) -> None:
    data = answers()
    data["screening"]["saddle_numbnes"] = True
    del data["screening"]["saddle_numbness"]
    err = _error(data, knowledge)
    assert err.suggestion == "saddle_numbness"


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
