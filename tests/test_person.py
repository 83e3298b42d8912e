"""A plan a person can follow (issue 12): plain words, cautions, doses next to steps, every width, html, CLI.

Parametrized from the data: the examples folder, every rule, exercise, source and vocabulary id in the
bundled rules and knowledge, every command of the CLI.
"""

from __future__ import annotations

import html.parser
import json
import re
import shutil
import subprocess
import sys
from html import escape
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

import engine
from cli import app
from engine.render import reading, render_html, render_markdown, render_text
from tests.conftest import EXAMPLES, ROOT, answers
from tests.strategies import answers as any_answers
from tests.test_properties import pain_limits

BOOK = engine.load_rulebook()
K = BOOK.knowledge
PLANS = sorted(p for p in EXAMPLES.glob("*.toml"))
STOP = EXAMPLES / "red_flag_cauda_equina.toml"
GENTLE = EXAMPLES / "chronic_pain_office_worker.toml"
HEALTHY = EXAMPLES / "healthy_gym_goer.toml"
PERSON_FORMATS = ("text", "markdown", "html")


def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def _plan(path: Path) -> engine.Plan:
    return engine.recommend(engine.load_intake(path, K), BOOK)


# Ids that must never reach a person: rules, exercises, sources, vocabularies (those with an underscore:
# a one-word id such as "scoliosis" is also a plain word).
INTERNAL_IDS = sorted(
    {
        i
        for i in (
            *BOOK.rules.by_id(),
            *K.exercises,
            *K.sources,
            *K.equipment,
            *K.conditions,
            *K.tags,
            *K.screening,
            *(step.id for step in K.dosing.step),
        )
        if "_" in i
    }
)
_IDS = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, INTERNAL_IDS)) + r")(?![\w-])")
_JARGON = re.compile(r"\bseeds?\b|\bvocabulary\b|\.txt\b|\.toml\b|dosing:|\brule\b", re.I)


def jargon(text: str) -> list[str]:
    return [m.group(0) for m in _IDS.finditer(text)] + [m.group(0) for m in _JARGON.finditer(text)]


# "Stop if it causes back pain" to someone whose back already hurts: stop before starting.
_STOP_AT_ANY_PAIN = re.compile(
    r"\b(?:stop|ease off)\b[^.;]*\bcauses? (?:back )?pain\b(?! in the shoulders| or tingling)", re.I
)


def _outputs(plan: engine.Plan, **options: Any) -> dict[str, str]:
    return {
        "text": render_text(plan, K, width=100, **options),
        "markdown": render_markdown(plan, K, **options),
        "html": render_html(plan, K, **options),
    }


# --- plain words ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_no_ids_seed_numbers_or_file_names_for_the_person(path: Path) -> None:
    for fmt, text in _outputs(_plan(path)).items():
        assert jargon(text) == [], fmt


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=any_answers(red_flag_rate=0.03))
def test_plain_words_and_own_pain_level_on_generated_plans(data: dict[str, Any]) -> None:
    """No jargon, and no text tells anyone to stop at a pain level their own answers already exceed."""
    intake = engine.parse_intake(data, K)
    plan = engine.recommend(intake, BOOK)
    text = render_markdown(plan, K)
    assert jargon(text) == []
    if intake.pain.status != "none":
        assert all(limit >= intake.pain.intensity for limit in pain_limits(text)), pain_limits(text)
        assert not _STOP_AT_ANY_PAIN.findall(text)
    if intake.pain.radiates_to_leg:
        cautions = [c for s in plan.sessions for ex in s.exercises for c in ex.cautions]
        assert not [c for c in cautions if re.search(r"down (a|the) leg", c) and "further" not in c]


def test_the_physio_appendix_keeps_the_rule_ids() -> None:
    plan = _plan(GENTLE)
    for fmt, text in _outputs(plan, for_physio=True).items():
        assert "gentle_pool" in text and "route_pain_gentle" in text, fmt
        assert "dosing:gentle_beginner" in text or "dosing:" in text, fmt


def test_sources_as_a_reader_finds_them() -> None:
    plan = _plan(GENTLE)
    r = reading(plan, K)
    assert r.sources and all(" — " in s for s in r.sources)
    assert any("iLive, 2025" in s for s in r.sources)
    markdown = render_markdown(plan, K)
    assert markdown.index("## Sources") > markdown.index("## How to progress")


# --- every exercise: dose next to steps, cautions for this person, why -------------------------------------


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_every_exercise_shows_dose_steps_cautions_and_why(path: Path) -> None:
    plan = _plan(path)
    outputs = _outputs(plan)
    r = reading(plan, K)
    for session in r.sessions:
        for ex in session.exercises:
            assert ex.why, ex.id
            for fmt, text in outputs.items():
                flat = " ".join(text.split())
                shown = flat if fmt != "html" else flat.replace("&#39;", "'").replace("&amp;", "&")
                assert ex.dose in shown, (fmt, ex.id)
                for caution in ex.cautions:
                    assert caution in shown, (fmt, ex.id, caution)
            steps_at = outputs["markdown"].find(ex.steps[0]) if ex.first else 0
            assert steps_at >= 0


def test_cautions_are_chosen_by_the_person() -> None:
    plain = engine.recommend(engine.parse_intake(answers(equipment=["pull_up_bar"]), K), BOOK)
    osteo = engine.recommend(
        engine.parse_intake(
            answers(
                equipment=["pull_up_bar"],
                conditions=["osteochondrosis"],
                pain={"status": "chronic", "intensity": 4, "radiates_to_leg": True},
            ),
            K,
        ),
        BOOK,
    )

    def cautions(plan: engine.Plan, ex_id: str) -> tuple[str, ...]:
        return next(ex.cautions for s in plan.sessions for ex in s.exercises if ex.id == ex_id)

    hang_plain, hang_osteo = cautions(plain, "dead_hang"), cautions(osteo, "dead_hang")
    assert not any("osteochondrosis" in c for c in hang_plain)
    assert any("osteochondrosis" in c for c in hang_osteo)
    assert any("worse than usual" in c and "further down the leg" in c for c in hang_osteo)
    assert not any("worse than usual" in c for c in hang_plain)


def test_json_has_steps_cautions_why_and_the_intake() -> None:
    code, out, err = _cli("plan", str(GENTLE), "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["intake"] == engine.load_intake(GENTLE, K).to_answers()
    for session in data["sessions"]:
        for ex in session["exercises"]:
            assert ex["steps"] and isinstance(ex["cautions"], list) and ex["why"]


def test_a_stop_plan_holds_only_what_to_do_instead() -> None:
    plan = _plan(STOP)
    exercising = [a.message for r in BOOK.rules.rules for a in r.rule.then if getattr(a, "action", "") == "warn"]
    for fmt, text in _outputs(plan).items():
        text = re.sub(r"(?s)<style>.*</style>", "", text)
        flat = " ".join(text.split())
        assert not [m for m in exercising if " ".join(m.split()) in flat], fmt
        assert "How to progress" not in text and "Careful" not in text and "Why:" not in text, fmt


# --- the terminal ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [60, 80, 120])
@pytest.mark.parametrize("path", [GENTLE, STOP, HEALTHY], ids=lambda p: p.stem)
def test_nothing_wider_than_the_terminal(path: Path, width: int) -> None:
    code, out, err = _cli("plan", str(path), env={"COLUMNS": str(width)})
    assert code == 0, err
    lengths = [len(line) for line in out.splitlines()]
    assert max(lengths) <= width
    if width == 120 and path != STOP:
        assert max(lengths) > 100  # the width is used


@pytest.mark.parametrize("width", [60, 80])
def test_exercise_list_fits_the_terminal(width: int) -> None:
    code, out, err = _cli("exercises", env={"COLUMNS": str(width)})
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= width


def test_screen_result_and_warnings_stay_on_one_screen() -> None:
    for path in PLANS:
        text = render_text(_plan(path), K, width=80)
        head = text.split("\n\n")[0]
        assert len(head.splitlines()) <= 24, path.stem


def test_no_colour_unless_a_terminal_asks() -> None:
    plan = _plan(GENTLE)
    assert "\x1b[" in render_text(plan, K, width=80, styled=True)
    assert "\x1b[" not in render_text(plan, K, width=80)
    code, out, _ = _cli("plan", str(GENTLE))
    assert code == 0 and "\x1b[" not in out


def test_no_color_and_no_tty_turn_colour_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import cli

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert cli._styled()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not cli._styled()
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert not cli._styled()


# --- html ------------------------------------------------------------------------------------------------


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_html_is_one_self_contained_printable_page(path: Path) -> None:
    page = render_html(_plan(path), K)
    parser = _Tags()
    parser.feed(page)
    tags = [t for t, _ in parser.tags]
    assert tags.count("html") == 1 and "style" in tags and "@media print" in page
    for tag, attrs in parser.tags:
        assert tag not in ("script", "link", "img", "iframe"), tag
        for name in ("src", "href"):
            assert not (attrs.get(name) or "").startswith(("http", "//")), (tag, attrs)
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
    assert "Whom it is for" in page and "Safety screen" in page and "Sources" in page


def test_html_whom_comes_from_the_plans_intake() -> None:
    plan = _plan(GENTLE)
    changed = plan.model_copy(update={"intake": {**plan.intake, "age": 77}})
    assert "77 years old" in render_html(changed, K) and "77 years old" not in render_html(plan, K)


def test_html_escapes_data() -> None:
    plan = _plan(GENTLE)
    evil = plan.model_copy(
        update={"warnings": (plan.warnings[0].model_copy(update={"message": "<script>alert(1)</script> & <b>x</b>"}),)}
    )
    page = render_html(evil, K)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;x&lt;/b&gt;" in page


def test_html_renderer_needs_no_cli() -> None:
    code = (
        "import sys, engine; from engine.render import render_html; book = engine.load_rulebook(); "
        f"plan = engine.recommend(engine.load_intake({str(GENTLE)!r}, book.knowledge), book); "
        "page = render_html(plan, book.knowledge); "
        "assert 'typer' not in sys.modules and 'cli' not in sys.modules and page.startswith('<!DOCTYPE html>')"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_a_picture_of_each_exercise(path: Path) -> None:
    """engine.figures draws each planned exercise (start and end) as inline SVG titled with its name."""
    plan = _plan(path)
    page = render_html(plan, K)
    planned = [ex for s in plan.sessions for ex in s.exercises]
    assert page.count('<div class="picture"><svg') == len(planned)
    for ex in planned:
        assert f"<title>{escape(ex.name)}" in page, ex.id


def test_no_figures_folder_puts_the_name_in_the_pictures_place(tmp_path: Path) -> None:
    folder = Path(shutil.copytree(engine.default_knowledge_dir(), tmp_path / "knowledge"))
    shutil.rmtree(folder / "figures")
    book = engine.load_rulebook(None, folder)
    plan = engine.recommend(engine.load_intake(GENTLE, book.knowledge), book)
    page = render_html(plan, book.knowledge)
    assert "<svg" not in page and page.count('<span class="none">') == sum(len(s.exercises) for s in plan.sessions)


# --- --date ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", PERSON_FORMATS)
def test_date_on_text_markdown_html(fmt: str) -> None:
    code, out, err = _cli("plan", str(GENTLE), "--format", fmt, "--date", "2026-03-01")
    assert code == 0, err
    assert "1 March 2026" in out


def test_json_stays_clock_free() -> None:
    _, plain, _ = _cli("plan", str(GENTLE), "--format", "json")
    _, dated, _ = _cli("plan", str(GENTLE), "--format", "json", "--date", "2026-03-01")
    assert plain == dated


@pytest.mark.parametrize("bad", ["2026-02-30", "01/03/2026", "2026-3-1", "tomorrow"])
def test_bad_date_is_bad_input(bad: str) -> None:
    code, out, err = _cli("plan", str(GENTLE), "--date", bad)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [f"backplan: error: --date: expected a date as YYYY-MM-DD, got '{bad}'"]


# --- CLI polish -------------------------------------------------------------------------------------------


def test_version() -> None:
    code, out, _ = _cli("--version")
    assert code == 0 and out == f"backplan {engine.__version__}\n"


def _commands() -> list[list[str]]:
    import typer.main

    group = typer.main.get_command(app)
    out: list[list[str]] = [[]]

    def walk(command: Any, path: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            out.append([*path, name])
            walk(sub, [*path, name])

    walk(group, [])
    return out


@pytest.mark.parametrize("command", _commands(), ids=lambda c: " ".join(c) or "backplan")
def test_help_has_no_artefacts_and_an_example(command: list[str]) -> None:
    code, out, err = _cli(*command, "--help", env={"COLUMNS": "80"})
    assert code == 0, err
    for artefact in ("{", "<bool>", "<path>", "<int>", "<text>", "[default: 0]"):
        assert artefact not in out, artefact
    assert "Example: backplan " in out or "Commands:" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_filters_are_case_insensitive_and_take_names() -> None:
    _, by_id, _ = _cli("exercises", "--equipment", "pull_up_bar", "--level", "beginner")
    for variant in (
        ["--equipment", "Pull-up bar", "--level", "BEGINNER"],
        ["--equipment", "PULL_UP_BAR", "--level", "Beginner"],
    ):
        code, out, err = _cli("exercises", *variant)
        assert code == 0, err
        assert out == by_id


@pytest.mark.parametrize(
    ("typed", "suggestion"),
    [("mcgil curl-up", "mcgill_curl_up"), ("modifed curl-up", "mcgill_curl_up"), ("dead hnag", "dead_hang")],
)
def test_did_you_mean_searches_names_and_aliases(typed: str, suggestion: str) -> None:
    code, out, err = _cli("exercises", "show", typed)
    assert code == 2 and out == ""
    assert f"(did you mean '{suggestion}'?)" in err


@pytest.mark.parametrize(
    ("typed", "ex_id"),
    [("McGill curl-up", "mcgill_curl_up"), ("modified curl-up", "mcgill_curl_up"), ("BIRD DOG", "bird_dog")],
)
def test_names_and_aliases_are_accepted(typed: str, ex_id: str) -> None:
    code, out, err = _cli("exercises", "show", typed)
    assert code == 0, err
    assert out.splitlines()[0] == f"{K.exercises[ex_id].name} ({ex_id})"
    code, out, err = _cli("explain", str(GENTLE), typed)
    assert code == 0, err
    assert f"({ex_id})" in out.splitlines()[0]
