"""The catalogue and vocabularies: integrity, sources, and the ids SPEC.md requires."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import engine
from cli import app
from engine.knowledge import BLOCKS, load_knowledge

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"
SPEC_IDS = [
    "pull_up",
    "negative_pull_up",
    "assisted_pull_up",
    "wide_grip_pull_up",
    "weighted_pull_up",
    "bent_over_barbell_row",
    "reverse_grip_bent_over_row",
    "dumbbell_bent_over_row",
    "reverse_fly",
    "lat_pulldown",
    "underhand_lat_pulldown",
    "close_grip_lat_pulldown",
    "single_arm_lat_pulldown",
    "single_arm_dumbbell_row",
    "single_arm_cable_row",
    "seated_cable_row",
    "machine_row",
    "rope_face_pull",
    "wide_grip_cable_row",
    "inverted_row",
    "barbell_shrug",
    "dumbbell_shrug",
    "barbell_good_morning",
    "deadlift",
    "stiff_legged_deadlift",
    "bird_dog",
    "superman",
    "back_raise",
    "gym_ball_back_extension",
    "dumbbell_upright_row",
    "dumbbell_pullover",
    "partial_kneel_row",
    "plank",
    "dead_hang",
    "cat_cow",
    "prone_opposite_arm_leg_raise",
    "prone_head_shoulder_raise",
    "prone_leg_raise",
    "seated_forward_bend",
    "seated_twist",
    "resistance_band_pull_apart",
    "arm_circles",
]
SPEC_EQUIPMENT = [
    "pull_up_bar",
    "wall_bars",
    "dumbbells",
    "barbell",
    "bench",
    "cable_machine",
    "row_machine",
    "resistance_band",
    "gym_ball",
    "back_extension_bench",
    "parallel_bars",
    "assisted_pull_up_machine",
]
HOUSEHOLD = {"floor", "mat", "wall", "chair", "couch", "pillow", "bolster", "bottle", "bottles"}
EXERCISES = sorted(load_knowledge(KNOWLEDGE).exercises)  # parametrize over the shipped catalogue


@pytest.mark.parametrize("exercise_id", SPEC_IDS)
def test_spec_exercise_ids_present(exercise_id: str, knowledge: engine.Knowledge) -> None:
    assert exercise_id in knowledge.exercises


def test_catalogue_size(knowledge: engine.Knowledge) -> None:
    assert len(knowledge.exercises) >= 55


def test_equipment_vocabulary_is_specs(knowledge: engine.Knowledge) -> None:
    assert set(SPEC_EQUIPMENT) <= set(knowledge.equipment)
    assert not HOUSEHOLD & set(knowledge.equipment)


def test_conditions_and_goals(knowledge: engine.Knowledge) -> None:
    assert {"scoliosis", "osteochondrosis"} <= set(knowledge.conditions)
    assert set(knowledge.goals) == {"general", "relief", "posture", "strength", "muscle"}


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_every_exercise_is_complete(exercise_id: str, knowledge: engine.Knowledge) -> None:
    ex = knowledge.exercises[exercise_id]
    assert re.fullmatch(r"[a-z][a-z0-9_]*", ex.id)
    assert ex.tags and ex.muscles and ex.steps
    assert set(ex.blocks) <= set(BLOCKS)
    if ex.never_recommend:
        assert ex.never_recommend_reason


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_seed_source_file_exists(exercise_id: str, knowledge: engine.Knowledge) -> None:
    source = knowledge.sources[knowledge.exercises[exercise_id].source]
    seeds = ROOT.parent / "shared" / "seeds"
    if source.kind != "seed":  # a guideline is cited by title and publisher, not by a file
        assert len(source.reference) > 20
        return
    if seeds.is_dir():  # shared/ sits beside the checkout in CI and on developer machines
        assert (seeds / source.reference).is_file()


def test_heavy_spinal_lifts_are_tagged(knowledge: engine.Knowledge) -> None:
    for ex_id in ["deadlift", "stiff_legged_deadlift", "barbell_good_morning", "barbell_shrug", "weighted_pull_up"]:
        assert {"heavy_load", "axial_loading"} <= set(knowledge.exercises[ex_id].tags), ex_id


def test_advised_against_variants_are_never_recommended(knowledge: engine.Knowledge) -> None:
    flagged = [ex for ex in knowledge.exercises.values() if "behind_neck" in ex.tags or "ballistic" in ex.tags]
    assert flagged, "the seeds' advised-against variants are catalogued to be excluded"
    assert all(ex.never_recommend for ex in flagged)


def test_prerequisites_from_seed_003(knowledge: engine.Knowledge) -> None:
    for ex_id in ["bent_over_barbell_row", "partial_kneel_row"]:
        assert set(knowledge.exercises[ex_id].prerequisites) & {"machine_row", "seated_cable_row"}
    assert "pull_up" in knowledge.exercises["weighted_pull_up"].prerequisites


def test_dead_hang_has_alternatives(knowledge: engine.Knowledge) -> None:
    options = knowledge.exercises["dead_hang"].equipment
    assert ("pull_up_bar",) in options and ("wall_bars",) in options


VOCABULARIES = ["equipment", "conditions", "tags", "muscles", "goals", "patterns", "screening", "programmes"]
_BUNDLED = load_knowledge(KNOWLEDGE)
VOCAB_ENTRIES = [(vocab, entry_id) for vocab in VOCABULARIES for entry_id in getattr(_BUNDLED, vocab)]


@pytest.mark.parametrize(("vocabulary", "entry_id"), VOCAB_ENTRIES, ids=lambda v: str(v))
def test_every_vocabulary_entry_is_described_and_sourced(
    vocabulary: str, entry_id: str, knowledge: engine.Knowledge
) -> None:
    entry = getattr(knowledge, vocabulary)[entry_id]
    text = getattr(entry, "description", None) or getattr(entry, "text", "")
    assert len(text) >= 5
    source = getattr(entry, "source", None)
    if vocabulary in ("conditions", "screening", "programmes", "equipment"):
        assert source in knowledge.sources


# Data checks a knowledge author sees from `backplan rules check` (the loader refuses the file), not only here.
def _first_edit(root: Path, pattern: str, replace: str) -> Path:
    for path in [root] if root.is_file() else sorted(root.rglob("*.toml")):
        text = path.read_text(encoding="utf-8")
        changed = re.sub(pattern, replace, text, count=1, flags=re.M)
        if changed != text:
            path.write_text(changed, encoding="utf-8")
            return path
    raise AssertionError(f"nothing matches {pattern!r}")


@pytest.mark.parametrize(
    ("pattern", "replace", "location_end", "message_start"),
    [
        (r'^(text = "[^"]*)\?"', r'\1."', ".text", "a screening question is asked as a yes/no question"),
        (r'^steps = \[\s*"[^"]*"', 'steps = [\n  "Go."', ".steps[0]", "too short: at least 8 characters"),
        (r'^(source = ")seed_00[0-4](")', r"\1house_conventions\2", ".source", "cites 'house_conventions'"),
    ],
    ids=["question_without_question_mark", "step_too_short", "exercise_cites_a_convention"],
)
def test_knowledge_checks_reach_the_author(
    tmp_path: Path, pattern: str, replace: str, location_end: str, message_start: str
) -> None:
    root = _copy(tmp_path)
    if "house_conventions" in replace:
        conventions = [s.id for s in _BUNDLED.sources.values() if s.kind == "convention"]
        assert conventions, "the sources list a house convention to try"
        replace = replace.replace("house_conventions", conventions[0])
        message_start = message_start.replace("house_conventions", conventions[0])
        root_files = root / "exercises"
    else:
        root_files = root / "screening.toml" if location_end == ".text" else root / "exercises"
    path = _first_edit(root_files, pattern, replace)
    result = CliRunner().invoke(app, ["rules", "check", "--knowledge", str(root)])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith(f"backplan: error: {path}: ")
    with pytest.raises(engine.KnowledgeError) as info:
        load_knowledge(root)
    assert info.value.location is not None and info.value.location.endswith(location_end), info.value.location
    assert info.value.message.startswith(message_start), info.value.message


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    return target


@pytest.mark.parametrize(
    ("old", "new", "location", "suggestion"),
    [
        ('"dumbbells"', '"dumbells"', ".equipment", "dumbbells"),
        ('"latissimus_dorsi"', '"latissimus_dorsy"', ".muscles", "latissimus_dorsi"),
        ('"heavy_load"', '"heavy_loads"', ".tags", "heavy_load"),
    ],
)
def test_unknown_reference_names_file_entry_and_closest(
    tmp_path: Path, old: str, new: str, location: str, suggestion: str
) -> None:
    root = _copy(tmp_path)
    for path in sorted((root / "exercises").glob("*.toml")):
        text = path.read_text()
        if old in text:
            path.write_text(text.replace(old, new, 1))
            break
    with pytest.raises(engine.KnowledgeError) as info:
        load_knowledge(root)
    err = info.value
    assert err.file == str(path)
    assert err.location is not None and err.location.startswith("exercise '") and err.location.endswith(location)
    assert err.suggestion == suggestion


def test_unknown_prerequisite(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    for path in sorted((root / "exercises").glob("*.toml")):
        text = path.read_text()
        if '"machine_row"' in text and "prerequisites" in text:
            path.write_text(text.replace('"machine_row"', '"machine_rows"'))
            break
    with pytest.raises(engine.KnowledgeError) as info:
        load_knowledge(root)
    assert info.value.suggestion == "machine_row"
    assert info.value.location is not None and info.value.location.endswith(".prerequisites")


def test_duplicate_exercise_id_across_files(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    first = sorted((root / "exercises").glob("*.toml"))[0]
    text = first.read_text()
    block = text[text.index("[[exercise]]") :]
    block = block[: block.index("[[exercise]]", 1)] if "[[exercise]]" in block[1:] else block
    (root / "exercises" / "zz_dup.toml").write_text(block)
    with pytest.raises(engine.KnowledgeError) as info:
        load_knowledge(root)
    assert "duplicate exercise id" in info.value.message


def test_unknown_key_in_exercise(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    first = sorted((root / "exercises").glob("*.toml"))[0]
    first.write_text(first.read_text().replace("\ncategory =", "\ncategroy =", 1))
    with pytest.raises(engine.KnowledgeError) as info:
        load_knowledge(root)
    assert info.value.suggestion == "category"
    assert info.value.file == str(first)


def test_digest_changes_with_content(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    before = load_knowledge(root).digest
    (root / "goals.toml").write_text((root / "goals.toml").read_text() + "\n# a comment\n")
    assert load_knowledge(root).digest != before


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'kind = "prerequisite"\nmessage = "master {names} first"',
            'kind = "equipment"\nmessage = "needs {options}"',
            "kind 'equipment' declared twice (also by 'equipment_owned')",
        ),
        ('message = "master {names} first"', 'message = "master {name} first"', "unknown placeholder {name}"),
        ('kind = "level"', 'kind = "levl"', "expected one of: never_recommend, equipment, level, prerequisite"),
        ('source = "acsm_2009_resistance"', 'source = "acsm_2009"', "unknown source 'acsm_2009'"),
    ],
)
def test_eligibility_checks_are_declared_once_each(tmp_path: Path, old: str, new: str, message: str) -> None:
    root = _copy(tmp_path)
    path = root / "eligibility.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(engine.KnowledgeError) as info:
        load_knowledge(root)
    assert info.value.file == str(path)
    assert message in info.value.line()


def test_a_missing_eligibility_check_refuses_to_load(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    path = root / "eligibility.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index('[[check]]\nid = "prerequisite_first"')], encoding="utf-8")
    with pytest.raises(engine.KnowledgeError) as info:
        load_knowledge(root)
    assert info.value.line() == f"{path}: no check of kind 'prerequisite': every kind is declared once"
