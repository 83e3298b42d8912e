"""The web app and HTTP API through Starlette's test client: every route, every status code, the same
bytes as the command line, the questionnaire the terminal asks, the security headers, and nothing kept.
"""

from __future__ import annotations

import copy
import datetime
import html
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from starlette.testclient import TestClient
from typer.testing import CliRunner

import cli
import engine
from engine.errors import EngineError
from engine.explain import fired_rules, why
from engine.intake import missing_answers, parse_intake
from engine.questionnaire import Questionnaire, answers_text
from engine.render.words import OUTCOME_WORD
from engine.web import app as web_app
from engine.web import create_app
from engine.web.questions import ABOUT_TITLE, WebQuestionnaire
from engine.web.security import MAX_BODY, inline_style_hashes
from tests import strategies
from tests.conftest import BASE_ANSWERS, EXAMPLES, ROOT, answers

SECURITY_HEADERS = (
    "content-security-policy",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "cross-origin-opener-policy",
    "permissions-policy",
    "cache-control",
)


@pytest.fixture(scope="module")
def client(book: engine.RuleBook) -> Iterator[TestClient]:
    with TestClient(create_app(book)) as c:
        yield c


def post_json(client: TestClient, path: str, data: Any, **kw: Any) -> Any:
    return client.post(path, content=json.dumps(data).encode(), headers={"content-type": "application/json"}, **kw)


def form_body(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "content": urlencode(values, doseq=True).encode(),
        "headers": {"content-type": "application/x-www-form-urlencoded"},
    }


def all_no(book: engine.RuleBook, **values: Any) -> dict[str, Any]:
    """A form as a person fills it: every group "no", the basics, and ``values`` on top."""
    q = Questionnaire(book)
    out: dict[str, Any] = {f"group.{g}": "no" for g in [*q.first_groups, *q.later_groups]}
    out.update({"age": "35", "experience": "beginner", "active": "yes", "goal": "general", "pain.status": "none"})
    out.update(values)
    return out


def cli_json(path: Path) -> bytes:
    out = subprocess.run(
        [sys.executable, "-m", "cli", "plan", str(path), "--format", "json"], cwd=ROOT, capture_output=True, check=True
    )
    return out.stdout


def example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".toml", ".json"))


def example_data(path: Path) -> Any:
    from engine.intake import parse_answers_text

    return parse_answers_text(path.read_text(encoding="utf-8"), file=str(path))


# --- POST /api/plan: the same bytes as the command line ---------------------------------------------


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_api_plan_is_byte_identical_to_the_cli_for_every_example(client: TestClient, path: Path) -> None:
    response = post_json(client, "/api/plan", example_data(path))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == cli_json(path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=strategies.answers())
def test_api_plan_is_byte_identical_to_the_cli_for_any_answers(
    client: TestClient, tmp_path_factory: pytest.TempPathFactory, data: dict[str, Any]
) -> None:
    path = tmp_path_factory.mktemp("answers") / "answers.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    result = CliRunner().invoke(cli.app, ["plan", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    response = post_json(client, "/api/plan", data)
    assert response.status_code == 200
    assert response.content == result.stdout_bytes


def test_api_plan_same_bytes_from_every_replica(book: engine.RuleBook) -> None:
    """Stateless: two apps (two replicas) answer the same request with the same bytes, and set no cookie."""
    data = answers(pain__status="chronic", pain__intensity=3, conditions=["scoliosis"])
    with TestClient(create_app(book)) as one, TestClient(create_app(book)) as two:
        a, b = post_json(one, "/api/plan", data), post_json(two, "/api/plan", data)
        assert a.content == b.content and a.status_code == 200
        assert "set-cookie" not in a.headers and "set-cookie" not in b.headers


# --- 422: the field at fault, from the library's own errors -------------------------------------------


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert {"field", "message"} <= set(body["error"])
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"screening__fever": "yes"}, "screening.fever", "true or false"),
        ({"age": 12}, "age", "16"),
        ({"age": "35"}, "age", "expected a whole number, e.g. age = 35"),
        ({"pain__intensity": 3}, "pain", "intensity must be 0"),
        ({"equipment": ["dumbels"]}, "equipment[0]", "unknown equipment"),
        ({"goal": "fitness"}, "goal", "unknown goal"),
        ({"experience": "expert"}, "experience", "beginner"),
    ],
)
def test_api_plan_422_names_the_field(client: TestClient, change: dict[str, Any], field: str, words: str) -> None:
    response = post_json(client, "/api/plan", answers(**change))
    assert response.status_code == 422
    error = error_of(response)
    assert error["field"] == field
    assert words in error["message"]


def test_api_plan_422_unknown_key_with_suggestion(client: TestClient) -> None:
    data = answers()
    data["screening"]["fevr"] = data["screening"].pop("fever")
    error = error_of(post_json(client, "/api/plan", data))
    assert error["field"] == "screening.fevr"
    assert error["suggestion"] == "fever"
    assert "did you mean 'fever'" in error["message"]


def test_api_plan_422_names_every_missing_answer(client: TestClient, knowledge: engine.Knowledge) -> None:
    data = answers()
    del data["screening"]["fever"], data["screening"]["pregnant"], data["age"]
    response = post_json(client, "/api/plan", data)
    assert response.status_code == 422
    error = error_of(response)
    assert error["missing"] == missing_answers(data, knowledge) == ["age", "screening.fever", "screening.pregnant"]
    assert error["field"] == "age"
    assert all(key in error["message"] for key in error["missing"])
    assert "backplan intake --resume" not in error["message"]


@pytest.mark.parametrize("body", [[], "answers", 3, None])
def test_api_plan_422_not_an_object(client: TestClient, body: Any) -> None:
    response = post_json(client, "/api/plan", body)
    assert response.status_code == 422
    assert error_of(response)["field"] is None


# --- 400, 413, 415: bodies that cannot be read ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "malformed JSON"),
        (b'{"age": 35, "age": 36}', "duplicate key 'age'"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[" * 40 + b"]" * 40, "nested deeper"),
        (b'{"age": 123456789012345678901234567890}', "longer than 20 digits"),
        (b"   ", "empty"),
    ],
)
def test_api_plan_400_unreadable_body(client: TestClient, body: bytes, words: str) -> None:
    response = client.post("/api/plan", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["field"] is None and words in error["message"]


def test_api_plan_400_bad_content_length(book: engine.RuleBook) -> None:
    import asyncio

    app = create_app(book)
    sent: list[dict[str, Any]] = []

    async def run() -> None:
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/api/plan",
            "raw_path": b"/api/plan",
            "query_string": b"",
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"lots")],
            "scheme": "http",
            "server": ("127.0.0.1", 8765),
            "client": ("127.0.0.1", 1),
            "http_version": "1.1",
            "root_path": "",
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)

    asyncio.run(run())
    assert sent[0]["status"] == 400


def test_api_plan_413_over_one_mebibyte(client: TestClient) -> None:
    big = json.dumps({**answers(), "padding": "x" * MAX_BODY}).encode()
    response = client.post("/api/plan", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "1 MiB" in error_of(response)["message"]
    # exactly 1 MiB is read (and then refused as answers, not as a size)
    data = answers()
    text = json.dumps(data)
    exact = (text[:-1] + " " * (MAX_BODY - len(text)) + "}").encode()
    assert len(exact) == MAX_BODY
    assert post_raw(client, "/api/plan", exact).status_code == 200


def post_raw(client: TestClient, path: str, body: bytes) -> Any:
    return client.post(path, content=body, headers={"content-type": "application/json"})


def test_api_plan_413_chunked_body_refused_while_reading(client: TestClient) -> None:
    """No Content-Length: the body is refused at the chunk that crosses 1 MiB, the rest is never read."""
    pulled = 0

    def chunks() -> Iterator[bytes]:
        nonlocal pulled
        for _ in range(64):  # 4 MiB on offer
            pulled += 1
            yield b" " * (1 << 16)

    response = client.post("/api/plan", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_read_body_stops_at_the_limit() -> None:
    import asyncio

    from starlette.requests import Request

    from engine.web.security import BodyTooLarge, read_body

    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}  # an endless body

    request = Request({"type": "http", "method": "POST", "headers": []}, receive)
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(request, limit=10_000))
    assert pulled == 11  # the chunk that crossed the limit was the last one read

    declared = Request({"type": "http", "method": "POST", "headers": [(b"content-length", b"20000")]}, receive)
    pulled = 0
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(declared, limit=10_000))
    assert pulled == 0  # a declared length over the limit: nothing read at all


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", None])
def test_api_plan_415_not_json(client: TestClient, ctype: str | None) -> None:
    headers = {"content-type": ctype} if ctype else {}
    response = client.post("/api/plan", content=json.dumps(answers()).encode(), headers=headers)
    assert response.status_code == 415
    assert "application/json" in error_of(response)["message"]


# --- 404, 405, 500 ------------------------------------------------------------------------------------


def test_404_and_405(client: TestClient) -> None:
    api = client.get("/api/nothing")
    assert api.status_code == 404 and error_of(api)["field"] is None
    page = client.get("/nothing")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert client.get("/static/nothing.js").status_code == 404
    wrong = client.get("/api/plan")
    assert wrong.status_code == 405 and "POST" in wrong.headers["allow"]
    assert error_of(wrong)["field"] is None
    assert client.delete("/").status_code == 405
    assert client.get("/plan").status_code == 405


def test_500_internal_error_gives_no_plan_and_logs_no_answers(
    book: engine.RuleBook, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(intake: engine.Intake, book: engine.RuleBook) -> engine.Plan:
        raise EngineError(f"the rule engine failed on {intake.to_answers()}")

    monkeypatch.setattr(web_app, "recommend", broken)
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(book), raise_server_exceptions=False) as c:
        data = answers(age=77)
        api = post_json(c, "/api/plan", data)
        page = c.post("/plan", **form_body(all_no(book, age="77")))
    assert api.status_code == 500
    assert error_of(api) == {"field": None, "message": "internal error, no plan produced"}
    assert page.status_code == 500 and "no plan was made" in page.text
    assert "EngineError" in caplog.text
    assert "77" not in caplog.text and "screening" not in caplog.text


# --- /api/explain ---------------------------------------------------------------------------------------


def test_api_explain_fired_rules_in_order(client: TestClient, book: engine.RuleBook) -> None:
    data = answers(pain__status="chronic", pain__intensity=4, screening__pregnant=True)
    response = post_json(client, "/api/explain", {"answers": data, "exercise": None})
    assert response.status_code == 200
    body = response.json()
    evaluation = engine.evaluate(parse_intake(data, book.knowledge), book)
    expected = fired_rules(evaluation, book)
    assert [f["id"] for f in body["fired"]] == [f.entry.rule for f in expected]
    for got, want in zip(body["fired"], expected, strict=True):
        assert got["matched"] == want.entry.matched
        assert got["effects"] == list(want.entry.effects)
        assert got["source"] == want.entry.source
        assert got["rationale"] == " ".join(want.rationale.split())
    assert body["exercise"] is None
    assert body["screen"]["outcome"] == evaluation.plan.screen.outcome


def test_api_explain_why_in_and_why_not(client: TestClient, book: engine.RuleBook) -> None:
    data = answers(screening__pregnant=True, equipment=["barbell", "dumbbells", "bench"])
    intake = parse_intake(data, book.knowledge)
    evaluation = engine.evaluate(intake, book)
    planned = evaluation.plan.exercise_ids()[0]
    excluded = evaluation.plan.excluded[0].id
    inside = post_json(client, "/api/explain", {"answers": data, "exercise": planned}).json()["exercise"]
    assert inside["in_plan"] is True and inside["sessions"]
    assert [b["rule"] for b in inside["because"]] == list(why(planned, evaluation, book).because)
    outside = post_json(client, "/api/explain", {"answers": data, "exercise": excluded}).json()["exercise"]
    assert outside["in_plan"] is False
    assert [r["rule"] for r in outside["reasons"]] == [r.rule for r in why(excluded, evaluation, book).reasons]


def test_api_explain_422s(client: TestClient) -> None:
    def err(body: Any) -> dict[str, Any]:
        response = post_json(client, "/api/explain", body)
        assert response.status_code == 422
        return error_of(response)

    assert err({"answers": answers(), "exercise": "pul_up"})["field"] == "exercise"
    assert err({"answers": answers(), "exercise": "pul_up"})["suggestion"] == "pull_up"
    assert err({"answers": answers(), "excercise": "pull_up"}) == {
        "field": "excercise",
        "message": "unknown key",
        "suggestion": "exercise",
    }
    assert err({"exercise": "pull_up"})["field"] == "answers"
    assert err({"answers": answers(screening__fever=1)})["field"] == "answers.screening.fever"
    assert err({"answers": answers(), "exercise": 3})["field"] == "exercise"
    assert err([1, 2])["field"] is None
    missing = answers()
    del missing["screening"]["fever"]
    assert err({"answers": missing})["missing"] == ["answers.screening.fever"]


# --- GET /api/questionnaire, /healthz, /api/openapi.json -------------------------------------------------


def test_api_questionnaire_is_the_terminal_questionnaire(client: TestClient, book: engine.RuleBook) -> None:
    """Every question with id, text, help, kind and allowed values, in the order asked, from the knowledge."""
    q = Questionnaire(book)
    data = client.get("/api/questionnaire").json()
    groups = [g["id"] for g in data["groups"]]
    assert groups == [*q.first_groups, "about", *q.later_groups]
    k = book.knowledge
    screening = [item for item in data["questions"] if item["id"].startswith("screening.")]
    assert [item["id"] for item in screening] == [
        f"screening.{sq.id}" for g in [*q.first_groups, *q.later_groups] for sq in q.members[g]
    ]
    for item in screening:
        question = k.screening[item["id"].split(".", 1)[1]]
        assert item["text"] == " ".join(question.text.split())
        assert item["help"] == " ".join(question.help.split())
        assert item["kind"] == "boolean" and item["values"] == [True, False]
    basics = [item for item in data["questions"] if item["group"] == "about"]
    assert [item["id"] for item in basics] == list(q.fields)
    for item in basics:
        field = q.fields[item["id"]]
        assert {"id", "text", "help", "kind"} <= set(item)
        if field.kind in ("choice", "many"):
            assert item["values"] == list(field.choices)
        if field.kind == "int":
            assert (item["minimum"], item["maximum"]) == (field.low, field.high)


def test_questionnaire_order_matches_the_terminal(book: engine.RuleBook) -> None:
    """The web asks in the order `backplan intake` asks: the terminal's run, recorded, names the groups."""
    q = Questionnaire(book)
    said: list[str] = []
    typed = {"age": "35", "experience": "beginner", "active": "y", "goal": "", "pain.status": "none"}
    prompts = {" ".join(f.prompt_text().split()): name for name, f in q.fields.items() if f.kind != "many"}
    lists = {" ".join(f.text.split()): name for name, f in q.fields.items() if f.kind == "many"}
    titles = {g.title: g.id for g in book.knowledge.groups.values()}

    def prompt(text: str, default: str | None) -> str:
        if text in prompts:
            said.append(prompts[text])
            return typed.get(prompts[text], "")
        return "" if text.startswith("Numbers or ids") else "n"

    def say(text: str) -> None:
        if text in titles:
            said.append(titles[text])
        elif text in lists:
            said.append(lists[text])

    q.run(prompt, say)
    web = WebQuestionnaire(book)
    sequence: list[str] = []
    for section in web.sections:
        if section.screening:
            sequence.append(section.id)
        else:
            sequence += [item.id for item in section.items if item.id in said]
    assert sequence == said
    assert [s.title for s in web.sections if not s.screening] == [ABOUT_TITLE]


def test_healthz(client: TestClient, book: engine.RuleBook) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["rules_digest"] == book.rules.digest and body["knowledge_digest"] == book.knowledge.digest


def test_openapi_describes_the_api(client: TestClient, book: engine.RuleBook) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    assert {"/api/plan", "/api/explain", "/api/questionnaire", "/healthz"} <= set(doc["paths"])
    plan = doc["paths"]["/api/plan"]["post"]
    assert {"200", "400", "413", "415", "422", "500"} <= set(plan["responses"])
    schemas = doc["components"]["schemas"]
    screening = schemas["Answers"]["properties"]["screening"]
    assert screening["required"] == list(book.knowledge.screening)
    assert schemas["Answers"]["properties"]["equipment"]["items"]["enum"] == list(book.knowledge.equipment)
    assert set(schemas["Plan"]["required"]) >= {"screen", "programme", "warnings", "sessions", "excluded", "provenance"}
    text = json.dumps(doc)
    for ref in set(re.findall(r'"#/components/schemas/([^"]+)"', text)):
        assert ref in schemas, ref


# --- the security headers, the cross-site check, nothing kept ---------------------------------------


def test_security_headers_on_every_response(client: TestClient, book: engine.RuleBook) -> None:
    responses = [
        client.get("/"),
        client.get("/static/app.css"),
        client.get("/static/app.js"),
        client.get("/healthz"),
        client.get("/nothing"),
        post_json(client, "/api/plan", answers()),
        post_json(client, "/api/plan", {"age": 3}),
        client.post("/plan", **form_body(all_no(book))),
    ]
    for response in responses:
        for header in SECURITY_HEADERS:
            assert header in response.headers, (response.request.url, header)
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "http" not in policy
        assert "set-cookie" not in response.headers
    assert responses[0].headers["cache-control"] == "no-store"
    assert responses[5].headers["cache-control"] == "no-store"
    assert "max-age" in responses[1].headers["cache-control"]


def test_pages_have_no_inline_script_or_outside_resource(client: TestClient, book: engine.RuleBook) -> None:
    pages = [
        client.get("/").text,
        client.post("/plan", **form_body(all_no(book))).text,
        client.post("/plan", **form_body({"screening.saddle_numbness": "yes"})).text,
        client.post("/plan", **form_body({"age": "x"})).text,
    ]
    for page in pages:
        for script in re.findall(r"<script\b[^>]*>", page):
            assert 'src="/static/' in script
        assert re.search(r"<script\b[^>]*>(?!</script>)", page) is None
        assert re.search(r"""(?:src|href|action)=["'](?:https?:)?//""", page) is None
        for tag in re.findall(r"<[a-z][^>]*>", page):
            assert re.search(r"\son[a-z]+\s*=", tag) is None, tag  # no inline event handler


def test_plan_page_styles_are_hashed_into_its_policy(client: TestClient, book: engine.RuleBook) -> None:
    response = client.post("/plan", **form_body(all_no(book)))
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    hashes = inline_style_hashes(response.text)
    assert all(f"'{h}'" in policy for h in hashes)
    assert re.search(r'\sstyle="', response.text) is None  # no style attribute: a hash cannot allow one


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"sec-fetch-site": "cross-site"}, 403),
        ({"sec-fetch-site": "same-site"}, 403),
        ({"origin": "http://evil.example"}, 403),
        ({"origin": "null"}, 403),
        ({"sec-fetch-site": "same-origin", "origin": "http://proxy.example"}, 200),
        ({"origin": "http://testserver"}, 200),
        ({}, 200),
    ],
)
def test_form_posts_refused_from_other_sites(
    client: TestClient, book: engine.RuleBook, headers: dict[str, str], status: int
) -> None:
    body = form_body(all_no(book))
    body["headers"].update(headers)
    for path in ("/plan", "/physio", "/download/answers.toml", "/download/plan.json"):
        sent = body if path == "/plan" else form_body({"answers": json.dumps(BASE_ANSWERS)})
        sent["headers"].update(headers)
        response = client.post(path, **sent)
        assert response.status_code == status, path
        if status == 403:
            assert "another site" in response.text or "no origin" in response.text or "came from" in response.text


def test_nothing_is_logged(book: engine.RuleBook, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    marker = 87  # an age nobody else uses in this test
    with TestClient(create_app(book)) as c:
        post_json(c, "/api/plan", answers(age=marker))
        post_json(c, "/api/explain", {"answers": answers(age=marker), "exercise": "plank"})
        post_json(c, "/api/plan", answers(age=marker, screening__fevr=True))
        c.post("/plan", **form_body(all_no(book, age=str(marker))))
    assert str(marker) not in caplog.text
    assert "fevr" not in caplog.text


# --- the form, as a browser without JavaScript sends it ----------------------------------------------


def test_form_clear_plan(client: TestClient, book: engine.RuleBook) -> None:
    response = client.post("/plan", **form_body(all_no(book)))
    assert response.status_code == 200
    plan = engine.recommend(parse_intake(answers(), book.knowledge), book)
    for ex in plan.sessions[0].exercises:
        assert ex.name in response.text
    assert OUTCOME_WORD["clear"] in response.text
    carried = re.search(r'name="answers" value="([^"]*)"', response.text)
    assert carried is not None
    assert json.loads(carried.group(1).replace("&#34;", '"').replace("&quot;", '"')) == answers()


def test_form_pain_details_ignored_without_pain(client: TestClient, book: engine.RuleBook) -> None:
    """As the terminal: no back pain, no pain questions; what was left in them does not count."""
    response = client.post("/plan", **form_body(all_no(book, **{"pain.intensity": "7", "pain.radiates_to_leg": "yes"})))
    assert response.status_code == 200


def test_form_errors_beside_each_question(client: TestClient, book: engine.RuleBook) -> None:
    values = all_no(book, age="ninety", experience="expert")
    del values["group.bone"], values["active"]
    values["pain.status"] = "acute"
    response = client.post("/plan", **form_body(values))
    assert response.status_code == 422
    page = response.text
    for anchor, words in [
        ("q-age", "whole number from 16 to 100"),
        ("q-experience", "not one of"),
        ("q-active", "please answer"),
        ("g-bone", "please answer: no, or tick"),
        ("q-pain-intensity", "please answer"),
    ]:
        assert re.search(rf'id="{anchor}-error"><span class="visually-hidden">Problem: </span>[^<]*{words}', page), (
            anchor
        )
    assert 'value="ninety"' in page  # what was typed is kept


def test_form_group_answers_must_agree(client: TestClient, book: engine.RuleBook) -> None:
    yes_none = client.post("/plan", **form_body(all_no(book, **{"group.bone": "yes"})))
    assert yes_none.status_code == 422 and "tick each one that applies" in yes_none.text
    no_but_ticked = client.post("/plan", **form_body(all_no(book, **{"screening.pregnant": "yes"})))
    assert no_but_ticked.status_code == 422 and "you answered no, but ticked" in no_but_ticked.text
    ticked = all_no(book, **{"screening.pregnant": "yes"})
    del ticked["group.surgery_pregnancy"]
    assert client.post("/plan", **form_body(ticked)).status_code == 200  # a tick answers its group


def test_form_emergency_answer_ends_the_questionnaire(client: TestClient, book: engine.RuleBook) -> None:
    """An emergency answer shows its advice whatever else the form lacks, as the terminal stops at once."""
    alone = client.post("/plan", **form_body({"screening.walking_difficulty": "yes"}))
    assert alone.status_code == 200
    q = Questionnaire(book)
    advice = q.emergency({"screening": {"walking_difficulty": True}})
    assert advice
    for a in advice:
        assert a.message in html.unescape(alone.text)
    assert "please answer" not in alone.text
    complete = client.post(
        "/plan", **form_body(all_no(book, **{"screening.saddle_numbness": "yes", "group.emergency": "yes"}))
    )
    assert complete.status_code == 200 and OUTCOME_WORD["stop"] in complete.text
    plan = engine.recommend(parse_intake(answers(screening__saddle_numbness=True), book.knowledge), book)
    assert plan.screen.outcome == "stop"
    assert " ".join(plan.warnings[0].message.split()) in " ".join(html.unescape(complete.text).split())


def test_form_415_and_400(client: TestClient) -> None:
    assert client.post("/plan", content=b"{}", headers={"content-type": "application/json"}).status_code == 415
    for body in (b"age=\xff", b"age=%ff"):
        bad = client.post("/plan", content=body, headers={"content-type": "application/x-www-form-urlencoded"})
        assert bad.status_code == 400


def test_form_413(client: TestClient) -> None:
    big = b"age=" + b"1" * MAX_BODY
    response = client.post("/plan", content=big, headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413 and "text/html" in response.headers["content-type"]


# --- the pages that carry the answers: physiotherapist's view, downloads -------------------------------


def carried(data: dict[str, Any], **extra: str) -> dict[str, Any]:
    return form_body({"answers": json.dumps(data), **extra})


def test_physio_view(client: TestClient, book: engine.RuleBook) -> None:
    data = answers(pain__status="subacute", pain__intensity=3, conditions=["disc_herniation"])
    intake = parse_intake(data, book.knowledge)
    evaluation = engine.evaluate(intake, book)
    page = client.post("/physio", **carried(data))
    assert page.status_code == 200
    for fired in fired_rules(evaluation, book):
        assert f'id="rule-{fired.entry.rule}"' in page.text
        assert fired.entry.source in page.text
    excluded = evaluation.plan.excluded[0].id
    verdict = client.post("/physio", **carried(data, exercise=excluded))
    assert 'id="verdict"' in verdict.text and excluded in verdict.text
    unknown = client.post("/physio", **carried(data, exercise="plnk"))
    assert unknown.status_code == 422 and "plank" in unknown.text


def test_downloads(client: TestClient, book: engine.RuleBook) -> None:
    data = answers(conditions=["scoliosis"], equipment=["dumbbells"])
    intake = parse_intake(data, book.knowledge)
    toml = client.post("/download/answers.toml", **carried(data))
    assert toml.status_code == 200
    assert toml.headers["content-disposition"] == 'attachment; filename="answers.toml"'
    assert toml.text == answers_text(intake.to_answers(), book.knowledge, name="answers.toml")
    path = ROOT / "examples" / "scoliosis_teen_gym.toml"
    assert parse_intake(example_data(path), book.knowledge)  # the same layout as the examples parse
    plan = client.post("/download/plan.json", **carried(data))
    assert plan.content == engine.recommend(intake, book).to_json().encode()


def test_carried_answers_are_validated_again(client: TestClient) -> None:
    tampered = client.post("/download/plan.json", **carried(answers(age=5)))
    assert tampered.status_code == 422
    assert client.post("/physio", **form_body({"answers": "{"})).status_code == 422
    assert client.post("/physio", **form_body({})).status_code == 422


TOOLBAR = re.compile(
    r'<link rel="icon"[^>]*><link rel="stylesheet" href="/static/toolbar.css">'
    r'<script src="/static/app.js" defer></script>|<nav class="bp-toolbar".*?</nav>',
    re.S,
)


@pytest.mark.parametrize("for_physio", [False, True])
def test_plan_page_is_the_cli_html_page(client: TestClient, tmp_path: Path, for_physio: bool) -> None:
    """The printable page is `backplan plan --format html --date TODAY` (plus the actions, not printed)."""
    data = answers(pain__status="chronic", pain__intensity=3, equipment=["dumbbells"])
    if for_physio:
        response = client.post("/plan", **carried(data, **{"for": "physio"}))
    else:
        response = client.post("/plan", **carried(data))
    assert response.status_code == 200
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    args = ["plan", str(path), "--format", "html", "--date", datetime.date.today().isoformat()]
    result = CliRunner().invoke(cli.app, [*args, *(["--for", "physio"] if for_physio else [])])
    assert result.exit_code == 0, result.output
    assert len(TOOLBAR.findall(response.text)) == 2
    assert TOOLBAR.sub("", response.text) == result.stdout


def test_plan_pages_read_the_figures_once(book: engine.RuleBook, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server reads and checks knowledge/figures/ once, not for every page (about 35 ms a page); a
    one-off ``render_html`` reads them for its page. Both give the same page."""
    import engine.figures
    from engine.render.html import render_html
    from engine.web.plan_page import PlanPages

    loads: list[object] = []
    load = engine.figures.load_figures

    def counting(root: Path) -> object:
        loads.append(root)
        return load(root)

    monkeypatch.setattr(engine.figures, "load_figures", counting)
    plans = [
        engine.recommend(engine.parse_intake(answers(pain__status=status), book.knowledge), book)
        for status in ("none", "chronic", "acute")
    ]
    pages = PlanPages(book.knowledge)
    made = [pages.document(plan) for plan in plans]
    assert len(loads) == 1
    today = datetime.date.today()
    assert made == [render_html(plan, book.knowledge, date=today) for plan in plans]
    assert len(loads) == 1 + len(plans)


def test_answers_copy_is_untouched(book: engine.RuleBook) -> None:
    before = copy.deepcopy(BASE_ANSWERS)
    with TestClient(create_app(book)) as c:
        post_json(c, "/api/plan", BASE_ANSWERS)
    assert before == BASE_ANSWERS
