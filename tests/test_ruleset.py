"""Rule files: schema, references and whole-set checks, each reported with file, rule and a suggestion."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import engine
from engine.check import problems
from engine.ruleset import Exclude, load_rules, read_rule_files

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
        (
            'level = "info"',
            'level = "infos"',
            "then.0.warn.level",
            "info",
            "expected one of: info, caution, consult, urgent, got 'infos'",
        ),
        (
            'action = "warn"',
            'action = "warm"',
            "then.0",
            "warn",
            "unknown action 'warm' (expected one of: stop, warn, exclude, include, caution, programme, derive, "
            "prescribe, limit)",
        ),
        ("priority = 500", "priorty = 500", "priorty", "priority", "unknown key"),
        (
            'stage = "select"',
            'stage = "screan"',
            "stage",
            "screen",
            "expected one of: screen, route, select, got 'screan'",
        ),
        (
            "priority = 500",
            'priority = "high"',
            "priority",
            None,
            "expected a whole number, e.g. priority = 10, got 'high'",
        ),
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
    assert err.message.startswith("unknown action 'run' (expected one of: stop, warn,")


def test_a_toml_syntax_error_names_the_rule_around_it(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    second = GOOD.replace('id = "extra_rule"', 'id = "second_rule"').replace("gte = 3 }", "gte = 3")
    err = _load_error(tmp_path, GOOD + second, knowledge)
    assert (err.rule, err.location) == ("second_rule", None)
    assert err.message.startswith("malformed TOML: ")
    assert err.file is not None and err.file.endswith("zz_extra.toml")


def test_a_toml_syntax_error_in_knowledge_names_the_entry(tmp_path: Path) -> None:
    folder = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", folder)
    path = folder / "equipment.toml"
    text = path.read_text(encoding="utf-8")
    first_id = re.search(r'^id = "([a-z_]+)"', text, re.M)
    assert first_id is not None
    path.write_text(text.replace(first_id[0], first_id[0] + "\nname = [", 1), encoding="utf-8")
    with pytest.raises(engine.KnowledgeError) as info:
        engine.load_knowledge(folder)
    assert info.value.location == f"in the entry with id '{first_id[1]}'"
    assert info.value.message.startswith("malformed TOML: ")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('level = "info"', "level = 3", "expected one of: info, caution, consult, urgent, got 3"),
        ('message = "A harmless', 'message = ["A harmless', None),
        ("gte = 3", "gte = true", None),
    ],
)
def test_errors_are_plain_words_never_pydantic_jargon(
    tmp_path: Path, knowledge: engine.Knowledge, old: str, new: str, message: str | None
) -> None:
    text = GOOD.replace(old, new)
    if new.startswith('message = ["'):
        text = text.replace('tests."', 'tests."]')
    err = _load_error(tmp_path, text, knowledge)
    for jargon in ("Input should", "valid tuple", "valid string", "valid integer", "valid dictionary"):
        assert jargon not in err.message
    if message is not None:
        assert err.message == message


def _extra_rule(rule_id: str, priority: int, action: str) -> str:
    return f"""
[[rule]]
id = "{rule_id}"
title = "An extra rule for the conflict checks"
rationale = "Written by the tests to contradict another rule for the same person."
source = "seed_002"
stage = "select"
priority = {priority}
when = {{ field = "pain.status", eq = "none" }}

[[rule.then]]
{action}
"""


PRESCRIBE = 'action = "prescribe"\ncategories = ["strength"]\nsets = {sets}'
PREFER = 'action = "include"\ntags = ["{tag}"]\nprefer = true\nreason = "preferred by a test"'
EXCLUDE = 'action = "exclude"\ntags = ["{tag}"]\nreason = "excluded by a test"'


def _problems(tmp_path: Path, text: str, knowledge: engine.Knowledge) -> list[str]:
    root = _rules_copy(tmp_path)
    (root / "zz_extra.toml").write_text(text)
    return [p.line().split(": ", 1)[1] for p in problems(load_rules(root, knowledge), knowledge)]


def test_same_priority_prescriptions_that_disagree(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    text = _extra_rule("dose_a", 777, PRESCRIBE.format(sets=2)) + _extra_rule("dose_b", 777, PRESCRIBE.format(sets=3))
    found = _problems(tmp_path, text, knowledge)
    assert len(found) == 1
    assert found[0].startswith(
        "dose_b: prescribes sets = 3 for strength while rule dose_a prescribes 2 at the same priority 777, both for: "
    )
    assert found[0].endswith("(give one a lower priority)")
    # at different priorities the later one deliberately overrides: no problem
    text = _extra_rule("dose_a", 776, PRESCRIBE.format(sets=2)) + _extra_rule("dose_b", 777, PRESCRIBE.format(sets=3))
    assert _problems(tmp_path / "2", text, knowledge) == []
    # the same value twice agrees
    text = _extra_rule("dose_a", 777, PRESCRIBE.format(sets=3)) + _extra_rule("dose_b", 777, PRESCRIBE.format(sets=3))
    assert _problems(tmp_path / "3", text, knowledge) == []


def test_prefer_and_exclude_on_the_same_tag(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    rules = load_rules(RULES, knowledge)
    excluded = {t for r in rules.rules for a in r.rule.then if isinstance(a, Exclude) for t in a.tags}
    tag = sorted(set(knowledge.tags) - excluded)[0]  # a tag no shipped rule excludes: one conflict only
    text = _extra_rule("likes_it", 700, PREFER.format(tag=tag)) + _extra_rule("bans_it", 701, EXCLUDE.format(tag=tag))
    found = _problems(tmp_path, text, knowledge)
    # first the conflict, then what the new exclusion makes dead elsewhere (if anything)
    assert all("prefers" not in line for line in found[1:])
    assert found[0].startswith(
        f"likes_it: prefers exercises tagged '{tag}' while rule bans_it excludes that tag, both for: "
    )


def test_the_most_direct_conflict_is_listed_first(tmp_path: Path, knowledge: engine.Knowledge) -> None:
    # a select rule on an emergency answer can never fire: the screen has stopped the plan first
    never = GOOD.replace('field = "pain.intensity", gte = 3', 'field = "screening.saddle_numbness", eq = true')
    clash = _extra_rule("dose_a", 777, PRESCRIBE.format(sets=2)) + _extra_rule("dose_b", 777, PRESCRIBE.format(sets=3))
    found = _problems(tmp_path, never + clash, knowledge)
    assert [line.split(":", 1)[0] for line in found] == ["dose_b", "extra_rule"]
    assert "can never fire" in found[1]
