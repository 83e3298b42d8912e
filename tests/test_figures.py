"""Exercise pictures: every exercise in the catalogue has one, and every one renders as a small,
self-contained, accessible, deterministic SVG that stays inside its frame; bad figure data is refused
with one line naming the file and the field."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine.errors import KnowledgeError
from engine.figures import (
    JOINTS,
    Figure,
    Figures,
    check_figures,
    describe,
    exercise_svg,
    figure_problems,
    gallery_html,
    layout,
    load_figures,
    main,
    pose_body,
)

KNOWLEDGE = engine.default_knowledge_dir()
CATALOGUE = engine.load_knowledge(KNOWLEDGE)
EXERCISES = list(CATALOGUE.exercises)  # parametrized from the catalogue itself
SVG = "{http://www.w3.org/2000/svg}"
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@pytest.fixture(scope="module")
def figures() -> Figures:
    return load_figures(KNOWLEDGE)


def test_every_exercise_has_a_figure_and_every_figure_an_exercise(figures: Figures) -> None:
    assert figure_problems(figures, EXERCISES) == []
    assert sorted(figures.figures) == sorted(EXERCISES)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_every_exercise_renders(exercise_id: str, figures: Figures) -> None:
    name = CATALOGUE.exercises[exercise_id].name
    svg = exercise_svg(figures, exercise_id, name)
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title, desc = root[0], root[1]
    assert (title.tag, desc.tag) == (f"{SVG}title", f"{SVG}desc")
    assert title.text == f"{name}: start and end positions"
    fig = figures.figures[exercise_id]
    assert desc.text == describe(fig) == f"Start: {fig.start.say}. End: {fig.end.say}."
    # Self-contained: nothing fetched, nothing run, no ids to clash when a page shows it twice.
    lowered = svg.lower()
    for banned in ("<script", "href", "url(", "<image", "<foreignobject", "@import", "<style"):
        assert banned not in lowered, banned
    for element in root.iter():
        assert not any(attr == "id" or attr.startswith("on") for attr in element.attrib), element.attrib
    assert lowered.count("http") == 1  # the xmlns declaration only
    # Small: fine for a page with a dozen of them.
    assert len(svg) < 20_000
    # Deterministic: the same bytes from a fresh load.
    assert exercise_svg(load_figures(KNOWLEDGE), exercise_id, name) == svg


def _assert_inside_view_box(svg: str) -> None:
    root = ET.fromstring(svg)
    _, _, width, height = (float(v) for v in root.get("viewBox", "").split())
    for element in root.iter():
        xs: list[float] = []
        ys: list[float] = []
        for attr in ("x", "x1", "x2", "cx"):
            if element.get(attr) is not None:
                xs.append(float(element.get(attr, "")))
        for attr in ("y", "y1", "y2", "cy"):
            if element.get(attr) is not None:
                ys.append(float(element.get(attr, "")))
        pairs = element.get("points") or element.get("d")
        if pairs:
            numbers = [float(n) for n in _NUMBER.findall(pairs)]
            xs += numbers[0::2]
            ys += numbers[1::2]
        if element.get("r") is not None:
            r = float(element.get("r", ""))
            xs += [xs[0] - r, xs[0] + r]
            ys += [ys[0] - r, ys[0] + r]
        for x in xs:
            assert 0 <= x <= width, (element.tag, x, width)
        for y in ys:
            assert 0 <= y <= height, (element.tag, y, height)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_every_figure_stays_inside_its_view_box(exercise_id: str, figures: Figures) -> None:
    _assert_inside_view_box(exercise_svg(figures, exercise_id))


def _angle(low: float, high: float) -> st.SearchStrategy[float]:
    return st.integers(int(low), int(high)).map(float)


def _sides(low: float, high: float) -> st.SearchStrategy[object]:
    return st.one_of(_angle(low, high), st.fixed_dictionaries({"left": _angle(low, high), "right": _angle(low, high)}))


@st.composite
def _poses(draw: st.DrawFn, view: str) -> dict[str, object]:
    pose: dict[str, object] = {
        "say": "a pose drawn at random",
        "trunk": draw(_angle(-180, 180)),
        "neck": draw(_angle(-80, 80)),
        "shoulder": draw(_sides(-90, 200)),
        "elbow": draw(_sides(-10 if view == "side" else -90, 165)),
        "hip": draw(_sides(-60, 170)),
        "knee": draw(_sides(-10, 170)),
        "ankle": draw(_sides(-50, 70)),
        "lift": draw(_angle(0, 8)),
    }
    if view == "side":
        pose["spine"] = draw(_angle(-60, 60))
    else:
        pose.update(twist=draw(_angle(-90, 90)), lean=draw(_angle(0, 85)), reach=draw(_angle(0, 85)))
    if draw(st.booleans()):
        pose.update(pin=draw(st.sampled_from(JOINTS)), at=[draw(_angle(-100, 100)), draw(_angle(0, 150))])
    return pose


@st.composite
def _figures(draw: st.DrawFn) -> Figure:
    view = draw(st.sampled_from(["side", "front"]))
    joint = draw(st.sampled_from(JOINTS))
    props = draw(
        st.lists(
            st.sampled_from(
                [
                    {"kind": "floor"},
                    {"kind": "bar", "at": [0, 120], "width": 40},
                    {"kind": "bench", "at": [0, 26], "width": 40},
                    {"kind": "ball", "at": [-10, 18], "size": 18},
                    {"kind": "chair", "at": [30, 0], "facing": "left"},
                    {"kind": "dumbbell", "at": joint},
                    {"kind": "barbell", "at": joint},
                    {"kind": "cable", "at": [50, 12], "to": joint},
                    {"kind": "cable", "at": [10, 140], "to": joint},
                    {"kind": "band", "at": "left_hand", "to": "right_hand"},
                    {"kind": "wall_bars", "at": [-40, 0], "height": 120},
                    {"kind": "parallel_bars", "at": [0, 60], "width": 40},
                    {"kind": "pad", "at": [5, 40], "width": 6, "height": 20, "angle": 30},
                ]
            ),
            max_size=4,
        )
    )
    marks = draw(st.lists(st.sampled_from([{"kind": "path", "joint": joint}, {"kind": "circle", "joint": joint}])))
    return Figure.model_validate(
        {
            "exercise": "any",
            "view": view,
            "props": props,
            "marks": marks,
            "start": draw(_poses(view)),
            "end": draw(_poses(view)),
        }
    )


@settings(max_examples=150, deadline=None)
@given(fig=_figures())
def test_any_valid_pose_renders_inside_its_view_box(fig: Figure) -> None:
    figures = Figures(root="knowledge", figures={"any": fig})
    svg = exercise_svg(figures, "any", "Any")
    _assert_inside_view_box(svg)
    assert exercise_svg(figures, "any", "Any") == svg


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_start_and_end_differ_where_the_exercise_moves(exercise_id: str, figures: Figures) -> None:
    fig = figures.figures[exercise_id]
    start, end = pose_body(fig.start, fig.view), pose_body(fig.end, fig.view)
    points = [(start.joints[j], end.joints[j]) for j in start.joints] + list(zip(start.trunk, end.trunk, strict=True))
    moved = max(max(abs(a[0] - b[0]), abs(a[1] - b[1])) for a, b in points)
    assert fig.start.say != fig.end.say
    if not fig.still:
        assert moved > 3.0, f"{exercise_id}: the end pose looks like the start pose"


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_bodies_keep_human_proportions_and_rest_on_the_floor(exercise_id: str, figures: Figures) -> None:
    fig = figures.figures[exercise_id]
    lay = layout(fig)
    for body in (lay.start, lay.end):
        x0, y0, x1, y1 = body.extent()
        assert max(x1 - x0, y1 - y0) < 130  # one person, about 100 units tall
        if any(p.kind == "floor" for p in fig.props):
            assert y0 > -1.0, f"{exercise_id}: below the floor"


def test_name_is_escaped_and_id_is_the_fallback_title(figures: Figures) -> None:
    svg = exercise_svg(figures, "plank", 'Plank <"hard"> & co')
    assert ET.fromstring(svg)[0].text == 'Plank <"hard"> & co: start and end positions'
    assert ET.fromstring(exercise_svg(figures, "bird_dog"))[0].text == "Bird dog: start and end positions"


def test_missing_figure_is_a_knowledge_error_with_did_you_mean(figures: Figures) -> None:
    with pytest.raises(KnowledgeError) as caught:
        exercise_svg(figures, "plnk")
    assert caught.value.line() == f"{KNOWLEDGE / 'figures'}: no figure for exercise 'plnk' (did you mean 'plank'?)"


# ------------------------------------------------------------------------------------------ bad data

GOOD = """
[[figure]]
exercise = "plank"
props = [{ kind = "floor" }]
[figure.start]
say = "lying face down"
trunk = 90
[figure.end]
say = "on forearms and toes"
trunk = 79
shoulder = 79
elbow = 90
"""


def _folder(tmp_path: Path, text: str, name: str = "core.toml") -> Path:
    (tmp_path / "figures").mkdir(exist_ok=True)
    (tmp_path / "figures" / name).write_text(text, encoding="utf-8")
    return tmp_path


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(KnowledgeError) as caught:
        load_figures(_folder(tmp_path, text))
    line = caught.value.line()
    assert "\n" not in line
    return line.replace(str(tmp_path / "figures" / "core.toml"), "core.toml")


def test_good_data_loads(tmp_path: Path) -> None:
    figures = load_figures(_folder(tmp_path, GOOD))
    assert list(figures.figures) == ["plank"]
    assert figures.figures["plank"].end.elbow.left == 90.0


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "shoulder = 79",
            "sholder = 79",
            "core.toml: figure 'plank'.end.sholder: unknown key (did you mean 'shoulder'?)",
        ),
        (
            "elbow = 90",
            "elbow = { left = 90, rigth = 90 }",
            "core.toml: figure 'plank'.end.elbow.rigth: unknown key (did you mean 'right'?)",
        ),
        (
            "trunk = 79",
            "trunk = 279",
            "core.toml: figure 'plank'.end.trunk: must be at most 180, got 279",
        ),
        (
            "elbow = 90",
            "elbow = 200",
            "core.toml: figure 'plank'.end.elbow: must be between -90 and 165, got 200",
        ),
        (
            "elbow = 90",
            "elbow = { left = 90, right = -100 }",
            "core.toml: figure 'plank'.end.elbow.right: must be at least -90, got -100",
        ),
        (
            "elbow = 90",
            'elbow = "90"',
            "core.toml: figure 'plank'.end.elbow: give one angle for both sides, or { left = ..., right = ... };"
            " got '90'",
        ),
        (
            "trunk = 79",
            'trunk = "79"',
            "core.toml: figure 'plank'.end.trunk: expected a number, e.g. trunk = 1.5, got '79'",
        ),
        (
            '{ kind = "floor" }',
            '{ kind = "flor" }',
            "core.toml: figure 'plank'.props[0].kind: unknown prop kind 'flor' (did you mean 'floor'?); one of:"
            " floor, wall, bar, wall_bars, parallel_bars, bench, ball, chair, bolster, pad, barbell, dumbbell,"
            " cable, band, towel",
        ),
        (
            '{ kind = "floor" }',
            '{ kind = "dumbbell", at = "left_hnd" }',
            "core.toml: figure 'plank'.props[0].at: unknown joint 'left_hnd' (did you mean 'left_hand'?)",
        ),
        (
            '{ kind = "floor" }',
            '{ kind = "floor", size = 3 }',
            "core.toml: figure 'plank'.props[0]: a floor takes no 'size' (it takes: nothing)",
        ),
        (
            '{ kind = "floor" }',
            '{ kind = "cable", at = [1, 2] }',
            "core.toml: figure 'plank'.props[0]: a cable needs 'to'",
        ),
        (
            'say = "lying face down"\n',
            "",
            "core.toml: figure 'plank'.start.say: is required but missing",
        ),
        (
            "elbow = 90",
            "elbow = 90\ntwist = 20",
            "core.toml: figure 'plank': end.twist: only in a front view (view = 'front')",
        ),
        (
            'exercise = "plank"',
            'exercise = "Plank"',
            "core.toml: figure 'Plank'.exercise: expected an id of small letters, digits and _, "
            "starting with a letter, e.g. my_rule, got 'Plank'",
        ),
        (
            "[[figure]]",
            "figures = 1\n[[figure]]",
            "core.toml: figures: unknown top-level key 'figures' (did you mean 'figure'?)",
        ),
    ],
)
def test_schema_errors_name_file_and_field(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in GOOD
    assert _error(tmp_path, GOOD.replace(old, new, 1)) == message


def test_a_second_figure_for_an_exercise_is_refused(tmp_path: Path) -> None:
    _folder(tmp_path, GOOD, "a.toml")
    _folder(tmp_path, GOOD, "b.toml")
    with pytest.raises(KnowledgeError) as caught:
        load_figures(tmp_path)
    assert caught.value.line() == (
        f"{tmp_path / 'figures' / 'b.toml'}: figure 'plank': a second figure for exercise 'plank' (also in a.toml)"
    )


def test_no_figure_files(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError) as caught:
        load_figures(tmp_path)
    assert caught.value.line() == f"{tmp_path / 'figures'}: no figure files (*.toml) found"


def test_problems_name_unknown_and_missing_exercises(tmp_path: Path) -> None:
    figures = load_figures(_folder(tmp_path, GOOD.replace('"plank"', '"plnk"')))
    assert figure_problems(figures, ["plank", "bird_dog"]) == [
        f"{tmp_path / 'figures' / 'core.toml'}: figure 'plnk'.exercise: unknown exercise 'plnk'"
        " (did you mean 'plank'?)",
        f"{tmp_path / 'figures'}: no figure for exercise 'plank'",
        f"{tmp_path / 'figures'}: no figure for exercise 'bird_dog'",
    ]


def test_check_figures_reports_load_errors_and_problems_as_lines(tmp_path: Path) -> None:
    assert check_figures(KNOWLEDGE, EXERCISES) == []
    assert check_figures(tmp_path, ["plank"]) == [f"{tmp_path / 'figures'}: no figure files (*.toml) found"]
    _folder(tmp_path, GOOD.replace("trunk = 79", "trunk = 279"))
    assert check_figures(tmp_path, ["plank"]) == [
        f"{tmp_path / 'figures' / 'core.toml'}: figure 'plank'.end.trunk: must be at most 180, got 279"
    ]
    _folder(tmp_path, GOOD)
    assert check_figures(tmp_path, ["plank", "bird_dog"]) == [
        f"{tmp_path / 'figures'}: no figure for exercise 'bird_dog'"
    ]


def test_the_bundled_knowledge_still_loads_beside_its_figures() -> None:
    # The figures folder is knowledge too: the catalogue loader ignores it, the digest covers it.
    assert (Path(CATALOGUE.root) / "figures").is_dir()
    assert CATALOGUE.exercises


def test_digest_covers_the_figures(tmp_path: Path) -> None:
    copy = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, copy)
    before = engine.load_knowledge(copy).digest
    path = copy / "figures" / "core.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("trunk = 62", "trunk = 63", 1), encoding="utf-8")
    assert engine.load_knowledge(copy).digest != before


def test_preview_writes_a_gallery_of_every_figure(tmp_path: Path, figures: Figures) -> None:
    assert main(["--preview", str(tmp_path / "out")]) == 0
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert page.count("<svg ") == len(EXERCISES)
    assert page == gallery_html(figures, {k: v.name for k, v in CATALOGUE.exercises.items()}, EXERCISES)
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert main(["--preview", str(tmp_path / "small"), "--compact"]) == 0
    small = (tmp_path / "small" / "index.html").read_text(encoding="utf-8")
    assert small.count("<svg ") == len(EXERCISES) and "<code>" not in small


def test_preview_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert capsys.readouterr().err == "usage: python -m engine.figures --preview DIR [--compact] [KNOWLEDGE_FOLDER]\n"
