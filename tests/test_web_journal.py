"""The web app's journal pages (POST /checkin, POST /progress) through Starlette's test client: the form,
errors beside their field with nothing written, the refusal of other sites, and the progress page as
``backplan progress --format html`` makes it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

import engine
from engine.intake import parse_intake
from engine.journal.commands import export_json, outcome_of
from engine.journal.progression import progression_for
from engine.journal.report import into_page, progress_html
from engine.web import create_app
from engine.web.plan_page import PlanPages
from engine.web.security import inline_style_hashes
from tests.conftest import BASE_ANSWERS


@pytest.fixture
def journal(tmp_path: Path) -> str:
    return str(tmp_path / "journal.sqlite3")


@pytest.fixture
def client(book: engine.RuleBook, journal: str) -> Iterator[TestClient]:
    with TestClient(create_app(book, journal)) as c:
        yield c


def post(client: TestClient, path: str, values: dict[str, Any], **headers: str) -> Any:
    return client.post(
        path,
        content=urlencode(values, doseq=True).encode(),
        headers={"content-type": "application/x-www-form-urlencoded", **headers},
    )


def checkin(**values: Any) -> dict[str, Any]:
    base = {
        "answers": json.dumps(BASE_ANSWERS),
        "record": "1",
        "date": "2026-12-01",
        "pain_during": "2",
        "pain_next_day": "1",
        "done": "all",
        "person": "me",
    }
    base.update(values)
    return base


def stored(journal: str, person: str = "me") -> list[Any]:
    if not Path(journal).exists():
        return []
    data: Any = json.loads(export_json(person, journal))
    return list(data["checkins"])


def test_the_plan_page_offers_to_log_a_session(client: TestClient) -> None:
    response = post(client, "/plan", {"answers": json.dumps(BASE_ANSWERS)})
    assert response.status_code == 200
    assert re.search(r'<form method="post" action="/checkin">', response.text)
    assert "Log a session" in response.text


def test_the_empty_form_writes_nothing(client: TestClient, book: engine.RuleBook, journal: str) -> None:
    response = post(client, "/checkin", {"answers": json.dumps(BASE_ANSWERS)})
    assert response.status_code == 200
    for key in book.knowledge.screening:
        assert f'name="symptom" value="{key}"' in response.text
    assert 'name="person" value="me"' in response.text
    assert not Path(journal).exists()


def test_a_checkin_is_recorded(client: TestClient, journal: str, book: engine.RuleBook) -> None:
    symptom = next(iter(book.knowledge.screening))
    response = post(client, "/checkin", checkin(symptom=[symptom]))
    assert response.status_code == 200
    assert "Recorded the session of 2026-12-01 for me (1 session so far)." in response.text
    rows = stored(journal)
    assert len(rows) == 1
    assert rows[0]["date"] == "2026-12-01"
    assert rows[0]["symptoms"] == [symptom]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("date", "1.12.2026", "'1.12.2026' is not a date: write YYYY-MM-DD"),
        ("pain_during", "11", "pain is a whole number from 0 to 10, got '11'"),
        ("pain_next_day", "x", "pain is a whole number from 0 to 10, got 'x'"),
        ("done", "al", "'al' is not one of: all, some, none (did you mean 'all'?)"),
        ("symptom", "nope", "unknown symptom 'nope': name a screening question"),
        ("person", "-bad", "a person id is 1 to 64 letters, digits or . _ @ + - (starting with a letter or digit)"),
    ],
)
def test_bad_input_is_shown_beside_its_field_and_nothing_is_written(
    client: TestClient, journal: str, field: str, value: str, message: str
) -> None:
    response = post(client, "/checkin", checkin(**{field: value}))
    assert response.status_code == 422
    assert f'<p class="error" id="checkin-{field}-error">' in response.text
    assert message.replace("'", "&#39;") in response.text
    assert stored(journal) == []


@pytest.mark.parametrize("path", ["/checkin", "/progress"])
def test_other_sites_are_refused_and_nothing_is_written(client: TestClient, journal: str, path: str) -> None:
    response = post(client, path, checkin(), **{"sec-fetch-site": "cross-site"})
    assert response.status_code == 403
    assert stored(journal) == []


def test_the_progress_page_is_the_progress_html_with_the_actions(
    client: TestClient, journal: str, book: engine.RuleBook
) -> None:
    for day, during in (("2026-12-01", "2"), ("2026-12-03", "1")):
        assert post(client, "/checkin", checkin(date=day, pain_during=during)).status_code == 200
    response = post(client, "/progress", {"answers": json.dumps(BASE_ANSWERS), "person": "me"})
    assert response.status_code == 200
    intake = parse_intake(BASE_ANSWERS, book.knowledge)
    outcome = outcome_of(intake, "me", journal, book)
    section = progress_html(outcome, progression_for(book), intake.pain.intensity)
    assert section in response.text
    assert "<svg" in response.text
    expected = into_page(PlanPages(book.knowledge).document(outcome.plan), section)
    body = re.sub(r'<nav class="bp-toolbar".*?</nav>', "", response.text, flags=re.S)
    body = body.replace(
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
        '<link rel="stylesheet" href="/static/toolbar.css"><script src="/static/app.js" defer></script>',
        "",
    )
    assert body == expected
    policy = response.headers["content-security-policy"]
    assert all(f"'{h}'" in policy for h in inline_style_hashes(response.text))
    assert re.search(r'\sstyle="', response.text) is None


@pytest.mark.parametrize("path", ["/checkin", "/progress"])
def test_a_journal_that_fails_while_serving_is_a_503_and_records_nothing(
    book: engine.RuleBook, journal: str, path: str
) -> None:
    """The server's journal (not the person's input) breaks at request time: 503 in plain words, no trace."""
    with TestClient(create_app(book, journal), raise_server_exceptions=False) as c:
        assert post(c, "/checkin", checkin()).status_code == 200
        broken = b"not a database: " * 512
        with open(journal, "r+b") as f:  # the same file, its pages overwritten
            f.write(broken)
        response = post(
            c, path, checkin(date="2026-12-02") if path == "/checkin" else {"answers": json.dumps(BASE_ANSWERS)}
        )
    assert response.status_code == 503
    assert "The training journal cannot be used just now" in response.text
    assert "Traceback" not in response.text and "sqlite" not in response.text.lower()
    assert Path(journal).read_bytes().startswith(broken)
