"""The web app as a person uses it: headless Chromium (Debian's ``chromium``, driven by Playwright; no
browser download) against a real ``backplan serve``, through the form: a clear case, a consult case,
an emergency case (with and without JavaScript) and a validation error, on a desktop and on a phone.

Each page is saved as a screenshot under ``docs/screenshots/``. Every page is checked for what a person
must see, for Content-Security-Policy violations and for any request to another host (none: the app
works offline). Marked slow (a browser and a server start); CI runs it with the slow suite.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import engine
from engine.intake import parse_intake
from engine.questionnaire import Questionnaire, answers_text
from engine.render import reading
from engine.render.words import OUTCOME_WORD
from engine.web.questions import ABOUT_TITLE
from tests.conftest import BASE_ANSWERS, ROOT
from tests.web_server import Server, running

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("BACKPLAN_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory.mktemp("serve") / "serve.log") as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Watch:
    """A page's console and requests: CSP violations, script errors, requests leaving the server."""

    def __init__(self, page: Any, base: str) -> None:
        self.problems: list[str] = []
        self.base = base
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"script error: {exc}"))
        page.on("request", self._request)

    def _console(self, message: Any) -> None:
        text = message.text
        if "status of 422" in text:
            return  # the form sent back with each problem beside its question: 422 on purpose
        if message.type == "error" or "Content Security Policy" in text:
            self.problems.append(f"console {message.type}: {text}")

    def _request(self, request: Any) -> None:
        url = request.url
        if not (url.startswith(self.base) or url.startswith("data:")):
            self.problems.append(f"request to another host: {url}")


@pytest.fixture()
def page(browser: Any, server: Server) -> Iterator[tuple[Any, Watch]]:
    context = browser.new_context(viewport={"width": 1000, "height": 1100}, accept_downloads=True)
    p = context.new_page()
    watch = Watch(p, server.url)
    yield p, watch
    context.close()
    assert watch.problems == []


@pytest.fixture(scope="module")
def book() -> engine.RuleBook:
    return engine.load_rulebook()


WIDE = """() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 390)
  .map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').slice(0, 50))"""


def shot(page: Any, name: str, *, full: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full)


def group_ids(book: engine.RuleBook) -> list[str]:
    q = Questionnaire(book)
    return [*q.first_groups, *q.later_groups]


def answer_all_no(page: Any, book: engine.RuleBook) -> None:
    for group in group_ids(book):
        page.check(f"#g-{group}-no")


def fill_basics(page: Any, *, age: str = "35", experience: str = "beginner", active: bool = True) -> None:
    page.fill("#q-age", age)
    page.get_by_role("radio", name=experience.capitalize(), exact=False).first.check()
    page.check("#q-active-0" if active else "#q-active-1")


def expected_plan(book: engine.RuleBook, **changes: Any) -> engine.Plan:
    data = copy.deepcopy(BASE_ANSWERS)
    for key, value in changes.items():
        outer, _, inner = key.partition("__")
        if inner:
            data[outer][inner] = value
        else:
            data[outer] = value
    return engine.recommend(parse_intake(data, book.knowledge), book)


def submit(page: Any, selector: str, *, tap: bool = False) -> None:
    """Press a button that sends a form, and wait for the page it leads to."""
    with page.expect_navigation():
        if tap:
            page.tap(selector)
        else:
            page.click(selector)


def plan_text(page: Any) -> str:
    return str(page.inner_text("body"))


def test_questionnaire_page_follows_the_terminal_questionnaire(
    page: tuple[Any, Watch], server: Server, book: Any
) -> None:
    p, _ = page
    p.goto(server.url + "/")
    legends = p.locator("form > fieldset > legend").all_inner_texts()
    q = Questionnaire(book)
    titles = [book.knowledge.groups[g].title for g in q.first_groups]
    titles += [ABOUT_TITLE, *(book.knowledge.groups[g].title for g in q.later_groups)]
    assert len(legends) == len(titles)
    assert all(legend.startswith(title) for legend, title in zip(legends, titles, strict=True))
    for question in book.knowledge.screening.values():
        assert p.get_by_text(" ".join(question.short.split()), exact=True).count() >= 1
    shot(p, "questionnaire.png")


def test_clear_case_plan_physio_and_downloads(page: tuple[Any, Watch], server: Server, book: Any) -> None:
    p, _ = page
    p.goto(server.url + "/")
    answer_all_no(p, book)
    fill_basics(p)
    p.check("#q-pain-status-0")  # none
    submit(p, "button.primary")
    plan = expected_plan(book, active=True)
    assert plan.screen.outcome == "clear"
    text = plan_text(p)
    assert OUTCOME_WORD["clear"] in text
    for ex in plan.sessions[0].exercises:
        assert ex.name in text
    assert p.locator(".bp-print").is_visible()  # the script ran (CSP allowed it)
    shot(p, "plan-clear.png")
    p.locator(".exercise").first.evaluate("e => { e.scrollIntoView(); window.scrollBy(0, -20); }")
    if (ROOT / "knowledge" / "figures").is_dir():  # each exercise's picture, drawn inline (CSP: no violation)
        assert p.locator(".exercise .picture svg").count() == sum(len(s.exercises) for s in plan.sessions)
    shot(p, "plan-exercises.png")

    with p.expect_download() as download:
        p.click("text=Download my answers (TOML)")
    saved = Path(download.value.path()).read_text(encoding="utf-8")
    assert saved == answers_text(plan.intake, book.knowledge, name="answers.toml")
    with p.expect_download() as download:
        p.click("text=Download the plan (JSON)")
    assert Path(download.value.path()).read_bytes() == plan.to_json().encode()

    submit(p, "text=Physiotherapist's view")
    fired = [entry.rule for entry in plan.trace]
    body = plan_text(p)
    for rule in fired:
        assert rule in body
    first_in = plan.sessions[0].exercises[0]
    p.select_option("#exercise", first_in.id)
    submit(p, "text=Explain")
    assert "in the plan" in p.inner_text("#verdict")
    excluded = [e.id for e in plan.excluded]
    out = excluded[0] if excluded else next(e for e in book.knowledge.exercises if e not in plan.exercise_ids())
    p.select_option("#exercise", out)
    submit(p, "text=Explain")
    verdict = p.inner_text("#verdict")
    assert out in verdict and "in the plan" not in verdict
    shot(p, "physio.png")


def test_consult_case(page: tuple[Any, Watch], server: Server, book: Any) -> None:
    p, _ = page
    p.goto(server.url + "/")
    answer_all_no(p, book)
    fill_basics(p, age="42", active=False)
    p.check("input[name=conditions][value=scoliosis]")
    p.check("input[name='pain.status'][value=chronic]")
    p.fill("#q-pain-intensity", "4")
    p.check("#q-pain-radiates_to_leg-1")
    submit(p, "button.primary")
    plan = expected_plan(
        book, age=42, active=False, conditions=["scoliosis"], pain__status="chronic", pain__intensity=4
    )
    assert plan.screen.outcome == "consult"
    text = plan_text(p)
    assert reading(plan, book.knowledge).outcome_word in text
    for warning in plan.warnings:
        assert " ".join(warning.message.split()) in " ".join(text.split())
    shot(p, "plan-consult.png")


def test_emergency_advice_at_once_and_on_submit(page: tuple[Any, Watch], server: Server, book: Any) -> None:
    p, _ = page
    p.goto(server.url + "/")
    advice = p.locator("#q-screening-saddle_numbness-advice")
    assert advice.is_hidden()
    p.check("#q-screening-saddle_numbness")
    assert advice.is_visible()  # at once, before anything is submitted
    assert "emergency" in advice.inner_text().lower()
    assert p.is_checked("#g-emergency-yes")
    shot(p, "emergency-at-once.png")
    with p.expect_navigation():
        advice.locator("button").click()  # nothing else answered
    text = plan_text(p)
    assert OUTCOME_WORD["stop"] in text and "emergency department" in text.lower()
    shot(p, "emergency.png")


def test_emergency_advice_without_javascript(browser: Any, server: Server) -> None:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1000, "height": 1100})
    p = context.new_page()
    try:
        p.goto(server.url + "/")
        p.check("#q-screening-bladder_bowel_change")
        assert p.locator("#q-screening-bladder_bowel_change-advice").is_hidden()  # no script: shown on submit
        submit(p, "button.primary")
        text = plan_text(p)
        assert OUTCOME_WORD["stop"] in text and "emergency department" in text.lower()
    finally:
        context.close()


def test_validation_error_beside_the_field(page: tuple[Any, Watch], server: Server, book: Any) -> None:
    p, _ = page
    p.goto(server.url + "/")
    groups = group_ids(book)
    for group in groups[:-1]:  # the last group left unanswered
        p.check(f"#g-{group}-no")
    fill_basics(p, age="9")
    p.check("#q-pain-status-0")
    submit(p, "button.primary")
    assert p.locator("#error-summary").is_visible()
    assert p.evaluate("document.activeElement.id") == "error-summary"  # focused for screen readers
    age_error = p.locator("#q-age-question .error-message")
    assert "16 to 100" in age_error.inner_text()
    assert p.get_attribute("#q-age", "aria-invalid") == "true"
    assert "q-age-error" in (p.get_attribute("#q-age", "aria-describedby") or "")
    assert p.input_value("#q-age") == "9"  # what was typed is kept
    assert p.is_checked("#q-active-0")
    last = p.locator(f"#g-{groups[-1]} .error-message")
    assert "please answer" in last.inner_text()
    shot(p, "validation-error.png")
    p.click("#error-summary a >> nth=0")
    assert p.evaluate("document.activeElement.id") == "q-age"
    shot(p, "validation-error-field.png")
    p.fill("#q-age", "35")
    p.check(f"#g-{groups[-1]}-no")
    submit(p, "button.primary")
    assert OUTCOME_WORD["clear"] in plan_text(p)


def test_keyboard_only(page: tuple[Any, Watch], server: Server, book: Any) -> None:
    """Tab reaches each control in order; Space ticks and chooses; Enter in a text field submits."""
    p, _ = page
    p.goto(server.url + "/")
    p.keyboard.press("Tab")
    assert p.evaluate("document.activeElement.className") == "skip"
    p.keyboard.press("Enter")
    p.keyboard.press("Tab")
    assert p.evaluate("document.activeElement.id") == "q-screening-saddle_numbness"
    p.focus("#g-emergency-no")
    p.keyboard.press("Space")
    assert p.is_checked("#g-emergency-no")
    p.focus("#q-age")
    p.keyboard.type("35")
    p.keyboard.press("Tab")
    p.keyboard.press("Space")
    assert p.is_checked("#q-experience-0")
    p.focus("#q-age")
    with p.expect_navigation():
        p.keyboard.press("Enter")  # the form is submitted: the other questions are unanswered
    assert p.locator("#error-summary").is_visible()
    assert p.input_value("#q-age") == "35"


def test_on_a_phone(browser: Any, server: Server, book: Any) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    p = context.new_page()
    watch = Watch(p, server.url)
    try:
        p.goto(server.url + "/")
        assert p.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the screen
        shot(p, "questionnaire-phone.png")
        answer_all_no(p, book)
        fill_basics(p)
        p.check("#q-pain-status-0")
        assert p.locator("#q-pain-intensity-question").is_hidden()  # no pain: not asked
        submit(p, "button.primary", tap=True)
        assert OUTCOME_WORD["clear"] in plan_text(p)
        assert p.evaluate("document.documentElement.scrollWidth") <= 390, p.evaluate(WIDE)
        shot(p, "plan-phone.png")
    finally:
        context.close()
    assert watch.problems == []


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").glob("*.toml")))
def test_the_printable_page_fits_a_phone(browser: Any, book: engine.RuleBook, tmp_path: Path, example: str) -> None:
    """``plan --format html`` on its own (no web app around it), with the physiotherapist's appendix: nothing
    wider than a 390 px phone screen."""
    from engine.render import render_html

    plan = engine.recommend(engine.load_intake(ROOT / "examples" / example, book.knowledge), book)
    page_file = tmp_path / "plan.html"
    page_file.write_text(render_html(plan, book.knowledge, for_physio=True), encoding="utf-8")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        p = context.new_page()
        p.goto(page_file.as_uri())
        assert p.evaluate("document.documentElement.scrollWidth") <= 390, p.evaluate(WIDE)
    finally:
        context.close()


def test_plan_prints_without_the_toolbar(page: tuple[Any, Watch], server: Server, book: Any) -> None:
    p, _ = page
    p.goto(server.url + "/")
    answer_all_no(p, book)
    fill_basics(p)
    p.check("#q-pain-status-0")
    submit(p, "button.primary")
    p.emulate_media(media="print")
    assert p.locator(".bp-toolbar").is_hidden()
    pdf = p.pdf()
    assert pdf.startswith(b"%PDF")


def test_checkin_and_progress(browser: Any, book: Any, tmp_path: Path) -> None:
    """From the plan, two sessions logged through the form into the server's journal, then the progress
    page: the decision, the pain chart and the adjusted plan, as ``backplan progress`` decides them."""
    import datetime

    from engine.journal.commands import outcome_of
    from engine.journal.report import DECISION_TEXT

    journal = tmp_path / "journal.sqlite3"
    with running(tmp_path / "serve.log", ["--journal", str(journal)]) as server:
        context = browser.new_context(viewport={"width": 1000, "height": 1100})
        p = context.new_page()
        watch = Watch(p, server.url)
        p.goto(server.url + "/")
        answer_all_no(p, book)
        fill_basics(p)
        p.check("#q-pain-status-0")  # none
        submit(p, "button.primary")
        submit(p, "text=Log a session")
        assert p.input_value("#checkin-person") == "me"
        assert p.input_value("#checkin-date") == datetime.date.today().isoformat()
        for question in book.knowledge.screening.values():
            assert p.locator(f"#checkin-symptom-{question.id}").count() == 1
        for day, during, after in (("2026-11-28", "3", "2"), ("2026-11-30", "2", "1")):
            p.fill("#checkin-date", day)
            p.fill("#checkin-pain_during", during)
            p.fill("#checkin-pain_next_day", after)
            p.check("#checkin-done-all")
            if day == "2026-11-30":
                shot(p, "checkin.png", full=True)
            submit(p, "text=Record this session")
            assert f"Recorded the session of {day} for me" in p.inner_text(".recorded")
        p.fill("#checkin-pain_during", "12")
        submit(p, "text=Record this session")
        assert "from 0 to 10" in p.inner_text("#checkin-pain_during-error")
        submit(p, "text=See my progress and the adjusted plan")
        intake = parse_intake(expected_plan(book, active=True).intake, book.knowledge)
        outcome = outcome_of(intake, "me", str(journal), book)
        text = plan_text(p)
        assert DECISION_TEXT[outcome.decision] in text
        assert "After 2 check-ins" in text
        assert p.locator("section.journal svg").count() == 1
        for ex in outcome.plan.sessions[0].exercises:
            assert ex.name in text
        shot(p, "progress.png")
        context.close()
        assert watch.problems == []
