"""Rule files: schema, references and whole-set checks, each reported with file, rule and a suggestion."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import engine
from engine.check import problems
from engine.ruleset import load_rules, read_rule_files

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
# The plan rules' files (rules/progression/ is the journal's: tests/test_journal.py).
RULE_FILES = sorted(p.relative_to(RULES).as_posix() for p in RULES.rglob("*.toml") if "progression" not in p.parts)

GOOD = """
[[rule]]
id = "extra_rule"
title = "An extra rule for tests"
rationale = "Exercises the loader with one rule that is valid."
source = "seed_002"
stage = "select"
priority = 500
when = { field = "pain.intensity", gte = 3 }

[[rule.then]]
action = "warn"
level = "info"
message = "A harmless extra warning for tests."
"""


def _rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def _load_error(tmp_path: Path, text: str, knowledge: engine.Knowledge) -> engine.RuleError:
    root = _rules_copy(tmp_path)
    (root / "zz_extra.toml").write_text(text)
    with pytest.raises(engine.RuleError) as info:
        ruleset = load_rules(root, knowledge)
        found = problems(ruleset, knowledge)
        if found:
            raise found[0].error()
    assert "\n" not in info.value.line()
    return info.value


@pytest.mark.parametrize("name", RULE_FILES)
def test_every_shipped_rule_file_loads(name: str, knowledge: engine.Knowledge, tmp_path: Path) -> None:
    root = tmp_path / "one"
    (root / Path(name).parent).mkdir(parents=True)
    shutil.copy(RULES / name, root / name)
    # Alone, a file is schema-valid; in the full set, every rule in it passes the reference checks.
    alone = read_rule_files(root)
    assert alone
    full = load_rules(RULES, knowledge).by_id()
    for item in alone:
        assert item.id in full
        assert item.rule.source in knowledge.sources
        assert len(item.rule.rationale) >= 10


def test_shipped_rules_have_no_problems(book: engine.RuleBook) -> None:
    assert problems(book.rules, book.knowledge) == []


def test_extra_valid_rule_loads(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    root = _rules_copy(tmp_path)
    (root / "zz_extra.toml").write_text(GOOD)
    assert "extra_rule" in load_rules(root, knowledge).by_id()


@pytest.mark.parametrize(
    ("old", "new", "location", "suggestion", "message"),
    [
        (
            'field = "pain.intensity"',
            'field = "pain.intensty"',
            "when: pain.intensty",
            "pain.intensity",
            "unknown field",
        ),
        ("gte = 3", "gte = 11", "when: pain.intensity", None, "can never hold"),
        ('source = "seed_002"', 'source = "seed_02"', "source", "seed_002", "unknown source"),
        ('level = "info"', 'level = "infos"', "then.0.warn.level", None, "Input should be"),
        ('action = "warn"', 'action = "warm"', "then.0", None, "does not match any of the expected tags"),
        ("priority = 500", "priorty = 500", "priorty", "priority", "unknown key"),
        ('stage = "select"', 'stage = "screan"', "stage", None, "Input should be"),
    ],
)
def test_rule_defects(
    tmp_path: Path, knowledge: engine.Knowledge, old: str, new: str, location: str, suggestion: str | None, message: str
) -> None:
    assert old in GOOD
    err = _load_error(tmp_path, GOOD.replace(old, new), knowledge)
    assert err.file is not None and err.file.endswith("zz_extra.toml")
    assert err.rule == "extra_rule"
    assert err.location is not None and err.location.replace("[", ".").replace("]", "").startswith(
        location.replace("[", ".").replace("]", "")
    )
    assert err.suggestion == suggestion
    assert message in err.message


@pytest.mark.parametrize(
    ("then", "message", "suggestion"),
    [
        (
            'action = "exclude"\nexercises = ["dead_hangs"]\nreason = "a test exclusion"',
            "unknown exercise 'dead_hangs'",
            "dead_hang",
        ),
        (
            'action = "exclude"\ntags = ["heavy_loads"]\nreason = "a test exclusion"',
            "unknown tag 'heavy_loads'",
            "heavy_load",
        ),
        (
            'action = "stop"\nlevel = "urgent"\nmessage = "stop in a later stage is not allowed"',
            "not allowed in stage 'select'",
            None,
        ),
        ('action = "programme"\nprogramme = "gentle"', "not allowed in stage 'select'", None),
    ],
)
def test_action_defects(
    tmp_path: Path, knowledge: engine.Knowledge, then: str, message: str, suggestion: str | None
) -> None:
    text = GOOD[: GOOD.index("[[rule.then]]")] + "[[rule.then]]\n" + then + "\n"
    err = _load_error(tmp_path, text, knowledge)
    assert message in err.message
    assert err.suggestion == suggestion
    assert err.rule == "extra_rule"


def test_enum_value_typo(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    err = _load_error(
        tmp_path, GOOD.replace('field = "pain.intensity", gte = 3', 'field = "pain.status", eq = "acuet"'), knowledge
    )
    assert err.suggestion == "acute"


def test_unknown_condition_id(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    err = _load_error(
        tmp_path,
        GOOD.replace('field = "pain.intensity", gte = 3', 'field = "conditions", contains = "scolisis"'),
        knowledge,
    )
    assert err.suggestion == "scoliosis"


def test_derived_fact_nobody_derives(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    err = _load_error(
        tmp_path,
        GOOD.replace('field = "pain.intensity", gte = 3', 'field = "derived.severe_pian", eq = true'),
        knowledge,
    )
    assert err.message == "no rule derives this fact"
    assert err.suggestion == "derived.severe_pain"


def test_programme_field_not_known_in_screen(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    text = GOOD.replace('stage = "select"', 'stage = "screen"').replace(
        'field = "pain.intensity", gte = 3', 'field = "programme", eq = "gentle"'
    )
    err = _load_error(tmp_path, text, knowledge)
    assert "only known from stage 'select'" in err.message


def test_duplicate_rule_id(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    err = _load_error(tmp_path, GOOD.replace('"extra_rule"', '"route_pain_gentle"'), knowledge)
    assert err.message.startswith("duplicate rule id")


def test_conflicting_programmes(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    text = GOOD.replace('stage = "select"', 'stage = "route"').replace("priority = 500", "priority = 10")
    text = text[: text.index("[[rule.then]]")] + '[[rule.then]]\naction = "programme"\nprogramme = "strength"\n'
    err = _load_error(tmp_path, text, knowledge)
    assert err.rule == "route_pain_gentle"
    assert err.message == (
        "chooses 'gentle' while rule extra_rule chooses 'strength' at the same priority 10, "
        "both for: pain.status=acute, pain.intensity=3"
    )


def test_include_excluded_exercise_conflict(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    text = GOOD.replace('field = "pain.intensity", gte = 3', 'field = "programme", eq = "gentle"')
    text = (
        text[: text.index("[[rule.then]]")]
        + '[[rule.then]]\naction = "include"\nexercises = ["deadlift"]\nreason = "conflicting on purpose"\n'
    )
    err = _load_error(tmp_path, text, knowledge)
    assert err.message.startswith("includes 'deadlift', but whenever this rule fires it is excluded (by ")
    assert "gentle_no_heavy_spinal_loading" in err.message


def test_condition_without_rule(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    root = _rules_copy(tmp_path)
    (root / "conditions" / "scoliosis.toml").unlink()
    found = problems(load_rules(root, knowledge), knowledge)
    assert [p.message for p in found] == [
        "condition 'scoliosis' must give a consult warning, but no rule does for: conditions.scoliosis=true",
        "condition 'scoliosis' is in the vocabulary but no rule mentions it",
    ]


def test_python_cannot_be_smuggled_in(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    text = GOOD.replace('action = "warn"', "action = \"run\"\ncode = \"__import__('os').system('true')\"")
    err = _load_error(tmp_path, text, knowledge)
    assert "does not match any of the expected tags" in err.message
