"""The ASGI app (Starlette) and the server (uvicorn) behind ``backplan serve``.

Routes (SPEC.md, "HTTP API"):

* ``GET /`` the questionnaire; ``POST /plan`` the printable plan (or the advice that ends the
  questionnaire, or the form again with each problem beside its question);
* ``POST /physio`` the physiotherapist's view; ``POST /download/answers.toml`` and
  ``POST /download/plan.json`` the answers file and the plan JSON (the answers travel in the page,
  never in a URL, and nothing is kept between requests);
* ``POST /checkin`` the check-in form for the carried answers (with ``record`` set: one session recorded
  in the journal the server was started with, or the form again with each problem beside its field);
  ``POST /progress`` the journal's decision, the pain trend and the adjusted plan (the only pages that
  write: the check-in, as ``backplan checkin`` records it);
* ``POST /api/plan``, ``POST /api/explain``, ``GET /api/questionnaire``, ``GET /healthz``,
  ``GET /api/openapi.json``.

The rule book is loaded and checked once, before the first request; every request then only reads it.
Nothing a person answers is logged or stored: answers arrive in request bodies, which are never
logged, and an internal error is logged by its type and place only, never its message.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import socket
import sys
import traceback
from collections.abc import Awaitable, Callable, Mapping
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from .. import evaluate, load_rulebook, recommend
from .._tomlio import decode_text
from ..errors import BackplanError, InputError, IntakeError, UnknownExerciseError, closest
from ..intake import Intake, missing_answers, parse_answers_text, parse_intake
from ..plan import Plan
from ..planner import RuleBook
from ..questionnaire import answers_text
from ..render import OUTCOME_HEADLINE
from . import shapes
from .pages import render
from .plan_page import PlanPages, with_toolbar
from .questions import ABOUT, WebQuestionnaire, message_of
from .security import (
    MAX_BODY,
    BadLength,
    BodyTooLarge,
    SecurityHeaders,
    cross_site,
    csp,
    inline_style_hashes,
    read_body,
)

log = logging.getLogger("backplan.web")

STATIC = Path(__file__).resolve().parent / "static"
_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"
MAX_FORM_FIELDS = 1000
ANSWERS_FILE = "answers"  # how errors name the answers carried by a page (physio view, downloads)

Endpoint = Callable[[Request], Awaitable[Response]]


class Problem(Exception):
    """A request refused with a status and a message (and the field at fault, for the API)."""

    def __init__(self, status: int, message: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.extra = extra


def _api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/healthz"


# The check-in form's fields, by the command line option the library's errors name.
CHECKIN_FIELDS = {
    "--date": "date",
    "--pain-during": "pain_during",
    "--pain-next-day": "pain_next_day",
    "--done": "done",
    "--symptom": "symptom",
    "--person": "person",
}


class Site:
    """Everything the app serves for one rule book, built once at start."""

    def __init__(self, book: RuleBook, journal: str | None = None) -> None:
        self.book = book
        self.journal = journal
        self.knowledge = book.knowledge
        self.questions = WebQuestionnaire(book)
        self.plans = PlanPages(book.knowledge)
        self.provenance = {
            "engine_version": _version(),
            "rules_digest": book.rules.digest,
            "knowledge_digest": book.knowledge.digest,
        }
        self.health = _json_bytes({"status": "ok", **self.provenance})
        self.questionnaire_json = _json_bytes(self.questions.data())
        self.openapi_json = _json_bytes(shapes.openapi(book))
        self.static = {p.name: p.read_bytes() for p in STATIC.iterdir() if p.suffix in _STATIC_TYPES}
        section_of = {item.id: s for s in self.questions.sections for item in s.items}
        self.labels: dict[str, str] = {s.name: s.title for s in self.questions.sections if s.screening}
        self.labels.update({i.name: i.text for i in self.questions.items.values() if i.group == ABOUT})
        # Where an error's link in the summary goes: the first control of the question.
        self.targets: dict[str, str] = {s.name: f"{s.anchor}-no" for s in self.questions.sections if s.screening}
        for item in self.questions.items.values():
            if section_of[item.id].screening:
                continue
            self.targets[item.name] = item.anchor if item.kind == "integer" else f"{item.anchor}-0"
        self.targets[""] = "questionnaire"
        self.labels[""] = "The answers"

    # -- pages -------------------------------------------------------------------------------------

    def page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(render(template, provenance=self.provenance, **context), status_code=status)

    def form_page(self, values: Mapping[str, list[str]], errors: Mapping[str, str], status: int = 200) -> HTMLResponse:
        emergency = next((s.id for s in self.questions.sections if s.screening), None)
        return self.page(
            "questionnaire.html",
            status,
            sections=self.questions.sections,
            values=values,
            errors=errors,
            labels=self.labels,
            targets=self.targets,
            emergency_group=emergency if emergency in self.questions.questionnaire.first_groups else None,
        )

    def plan_page(self, plan: Plan, intake: Intake, *, for_physio: bool = False) -> HTMLResponse:
        return self._with_actions(self.plans.document(plan, for_physio=for_physio), intake)

    def checkin_form(
        self, intake: Intake, values: Mapping[str, Any], errors: Mapping[str, str], status: int = 200
    ) -> HTMLResponse:
        return self.page(
            "checkin.html",
            status,
            answers_json=_answers_json(intake),
            values=values,
            errors=errors,
            symptoms=list(self.knowledge.screening.values()),
        )

    def progress_page(self, intake: Intake, person: str) -> HTMLResponse:
        """The page ``backplan progress --format html`` writes, with the plan page's actions above it."""
        from ..journal.commands import outcome_of
        from ..journal.progression import progression_for
        from ..journal.report import into_page, progress_html

        try:
            outcome = outcome_of(intake, person, self.journal, self.book)
        except InputError as exc:
            if exc.location not in CHECKIN_FIELDS:
                raise Problem(503, "The training journal cannot be used just now.") from None
            raise Problem(422, message_of(exc), CHECKIN_FIELDS[exc.location]) from None
        section = progress_html(outcome, progression_for(self.book), intake.pain.intensity)
        document = into_page(self.plans.document(outcome.plan), section)
        return self._with_actions(document, intake, person)

    def _with_actions(self, document: str, intake: Intake, person: str | None = None) -> HTMLResponse:
        toolbar = render("toolbar.html", answers_json=_answers_json(intake), person=person)
        head = (
            '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
            '<link rel="stylesheet" href="/static/toolbar.css"><script src="/static/app.js" defer></script>'
        )
        page = with_toolbar(document, toolbar, head)
        return HTMLResponse(page, headers={"content-security-policy": csp(style_hashes=inline_style_hashes(page))})

    def physio_page(self, intake: Intake, exercise: str | None) -> HTMLResponse:
        evaluation = evaluate(intake, self.book)
        try:
            explanation = shapes.explain(evaluation, self.book, exercise)
        except UnknownExerciseError as exc:
            raise Problem(422, message_of(exc), "exercise") from None
        plan = evaluation.plan
        k = self.knowledge
        planned = plan.exercise_ids()
        excluded = [e.id for e in plan.excluded]
        rest = [i for i in k.exercises if i not in planned and i not in excluded]
        groups = [
            ("In the plan", [k.exercises[i] for i in dict.fromkeys(planned)]),
            ("Left out for safety", [k.exercises[i] for i in excluded if i in k.exercises]),
            ("Not chosen", [k.exercises[i] for i in rest]),
        ]
        excluded_rows = [
            {"id": e.id, "name": k.exercises[e.id].name if e.id in k.exercises else e.id, "because": e.because}
            for e in plan.excluded
        ]
        return self.page(
            "physio.html",
            explanation=explanation,
            verdict=explanation["exercise"],
            exercise_groups=[(name, items) for name, items in groups if items],
            excluded=excluded_rows,
            answers_json=_answers_json(intake),
            answer_rows=_rows(intake.to_answers()),
        )

    def error_page(self, status: int, message: str) -> HTMLResponse:
        titles = {
            400: "The request could not be read",
            403: "This form was sent from another site",
            404: "Page not found",
            405: "Not allowed here",
            413: "Too much data",
            415: "Unsupported form",
            503: "The training journal is not available",
            422: "These answers could not be used",
            500: "Something went wrong",
        }
        return self.page("error.html", status, title=titles.get(status, "Error"), message=message)

    # -- reading requests ----------------------------------------------------------------------------

    async def form(self, request: Request) -> dict[str, list[str]]:
        """A same-site urlencoded form, read within the body limit."""
        reason = cross_site(request)
        if reason is not None:
            raise Problem(
                403, f"For your safety this form was not accepted: {reason}. Please use the form on this site."
            )
        if _media_type(request) != _FORM:
            raise Problem(415, "Please send the form as the page sends it (application/x-www-form-urlencoded).")
        raw = await _body(request)
        try:
            text = raw.decode("utf-8")
            return parse_qs(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FORM_FIELDS)
        except (UnicodeDecodeError, ValueError):
            raise Problem(400, "The form could not be read.") from None

    async def json_body(self, request: Request) -> Any:
        if _media_type(request) != _JSON and not _media_type(request).endswith("+json"):
            raise Problem(415, "send the body as application/json")
        raw = await _body(request)
        if not raw.strip():
            raise Problem(400, "the body is empty: expected a JSON object")
        try:
            return parse_answers_text(decode_text(raw, "request body", IntakeError), file="request body", fmt="json")
        except IntakeError as exc:
            raise Problem(400, exc.message) from None

    def intake(self, data: Any, *, file: str, prefix: str = "") -> Intake:
        """Validated answers, or a 422 naming the field (every missing key when some are missing)."""
        try:
            return parse_intake(data, self.knowledge, file=file, resumable=False)
        except IntakeError as exc:
            field = exc.location
            extra: dict[str, Any] = {}
            if field is None and isinstance(data, Mapping):
                missing = missing_answers(data, self.knowledge)
                if missing:
                    field = missing[0]
                    extra["missing"] = [prefix + m for m in missing]
            if exc.suggestion:
                extra["suggestion"] = exc.suggestion
            where = prefix + field if field else (prefix.rstrip(".") or None)
            raise Problem(422, message_of(exc), where, **extra) from None

    def carried_answers(self, form: Mapping[str, list[str]]) -> Intake:
        """The answers a page carries in its hidden ``answers`` field (JSON), validated again."""
        given = form.get("answers", [])
        if len(given) != 1:
            raise Problem(422, "These answers are missing. Please fill in the questionnaire.", "answers")
        try:
            data = parse_answers_text(given[0], file=ANSWERS_FILE, fmt="json")
        except IntakeError as exc:
            raise Problem(422, exc.message, "answers") from None
        return self.intake(data, file=ANSWERS_FILE)


def _version() -> str:
    from .._version import __version__

    return __version__


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _answers_json(intake: Intake) -> str:
    return json.dumps(intake.to_answers(), ensure_ascii=False, separators=(",", ":"))


def _rows(answers: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in answers.items():
        if isinstance(value, Mapping):
            out += _rows(value, f"{prefix}{key}.")
        else:
            out.append((prefix + key, value))
    return out


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _body(request: Request) -> bytes:
    try:
        return await read_body(request, MAX_BODY)
    except BodyTooLarge:
        raise Problem(413, f"the body is larger than {MAX_BODY // (1 << 20)} MiB") from None
    except BadLength:
        raise Problem(400, "the Content-Length header is not a number") from None


# --- endpoints ---------------------------------------------------------------------------------------


def guarded(site: Site) -> Callable[[Endpoint], Endpoint]:
    """Problems become their status (JSON under /api, a page elsewhere); any other exception a 500 that
    gives no plan and is logged by type and place only (its message could quote the answers)."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        @wraps(endpoint)
        async def run(request: Request) -> Response:
            try:
                return await endpoint(request)
            except Problem as p:
                if _api(request):
                    return JSONResponse(shapes.error(p.field, p.message, **p.extra), status_code=p.status)
                return site.error_page(p.status, p.message)
            except Exception as exc:
                where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
                place = f" at {Path(where.filename).name}:{where.lineno}" if where else ""
                log.error("internal error in %s %s: %s%s", request.method, request.url.path, type(exc).__name__, place)
                message = "internal error, no plan produced"
                if _api(request):
                    return JSONResponse(shapes.error(None, message), status_code=500)
                return site.error_page(500, "Something went wrong on our side, and no plan was made. Please try again.")

        return run

    return wrap


def create_app(book: RuleBook, journal: str | None = None) -> ASGIApp:
    """The app for one loaded, checked rule book (``engine.load_rulebook``); ``journal`` is where the
    check-in pages record (as ``--journal`` of ``backplan checkin``; None: the same default)."""
    site = Site(book, journal)
    guard = guarded(site)

    @guard
    async def home(request: Request) -> Response:
        return site.form_page({}, {})

    @guard
    async def plan_page(request: Request) -> Response:
        form = await site.form(request)
        if "answers" in form:  # the answers a page carries (the physiotherapist's view, back to the plan)
            intake = site.carried_answers(form)
            for_physio = form.get("for", [""])[-1] == "physio"  # the printable page with the rules appendix
            return site.plan_page(recommend(intake, book), intake, for_physio=for_physio)
        reading = site.questions.read(form)
        if reading.intake is not None:
            return site.plan_page(recommend(reading.intake, book), reading.intake)
        if reading.emergency:
            missing = missing_answers(reading.answers, book.knowledge)
            return site.page(
                "emergency.html", headline=OUTCOME_HEADLINE["stop"], advice=reading.emergency, missing=missing
            )
        return site.form_page(form, reading.errors, status=422)

    @guard
    async def physio(request: Request) -> Response:
        form = await site.form(request)
        intake = site.carried_answers(form)
        chosen = [e for e in form.get("exercise", []) if e.strip()]
        return site.physio_page(intake, chosen[-1] if chosen else None)

    @guard
    async def checkin(request: Request) -> Response:
        from ..journal.commands import record_checkin
        from ..journal.progression import make_checkin

        form = await site.form(request)
        intake = site.carried_answers(form)
        date = _last(form, "date") or datetime.date.today().isoformat()
        pain_during, pain_next_day, done = (_last(form, n) for n in ("pain_during", "pain_next_day", "done"))
        symptoms = form.get("symptom", [])
        person = _last(form, "person") or "me"
        values: dict[str, Any] = {
            "date": date,
            "pain_during": pain_during,
            "pain_next_day": pain_next_day,
            "done": done,
            "symptom": symptoms,
            "person": person,
        }
        if "record" not in form:  # opened from the plan page: the empty form
            return site.checkin_form(intake, values, {})
        try:
            item = make_checkin(date, pain_during, pain_next_day, done, symptoms, book.knowledge)
            count, _ = record_checkin(intake, item, person, site.journal, book)
        except InputError as exc:
            field = CHECKIN_FIELDS.get(exc.location or "")
            if field is None:  # the journal itself (the server's --journal): not the person's to fix
                raise Problem(503, "The training journal cannot be used just now; nothing was recorded.") from None
            return site.checkin_form(intake, values, {field: message_of(exc)}, status=422)
        sessions = "session" if count == 1 else "sessions"
        return site.page(
            "checkin.html",
            answers_json=_answers_json(intake),
            values=values,
            errors={},
            symptoms=list(book.knowledge.screening.values()),
            recorded=f"Recorded the session of {item.date} for {person} ({count} {sessions} so far).",
        )

    @guard
    async def progress_page(request: Request) -> Response:
        form = await site.form(request)
        intake = site.carried_answers(form)
        return site.progress_page(intake, _last(form, "person") or "me")

    @guard
    async def download_answers(request: Request) -> Response:
        intake = site.carried_answers(await site.form(request))
        text = answers_text(intake.to_answers(), book.knowledge, name="answers.toml")
        return Response(
            text.encode("utf-8"),
            media_type="application/toml; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="answers.toml"'},
        )

    @guard
    async def download_plan(request: Request) -> Response:
        intake = site.carried_answers(await site.form(request))
        return Response(
            recommend(intake, book).to_json().encode("utf-8"),
            media_type=_JSON,
            headers={"content-disposition": 'attachment; filename="plan.json"'},
        )

    @guard
    async def api_plan(request: Request) -> Response:
        data = await site.json_body(request)
        plan = recommend(site.intake(data, file="request body"), book)
        return Response(plan.to_json().encode("utf-8"), media_type=_JSON)

    @guard
    async def api_explain(request: Request) -> Response:
        data = await site.json_body(request)
        if not isinstance(data, dict):
            raise Problem(422, f"expected an object with answers and exercise, got {_json_type(data)}")
        for key in data:
            if key not in ("answers", "exercise"):
                hint = closest(str(key), ["answers", "exercise"])
                raise Problem(422, "unknown key", str(key), **({"suggestion": hint} if hint else {}))
        if "answers" not in data:
            raise Problem(422, "is required but missing", "answers")
        exercise = data.get("exercise")
        if exercise is not None and not isinstance(exercise, str):
            raise Problem(422, f"expected an exercise id or null, got {_json_type(exercise)}", "exercise")
        intake = site.intake(data["answers"], file="request body", prefix="answers.")
        evaluation = evaluate(intake, book)
        try:
            explanation = shapes.explain(evaluation, book, exercise)
        except UnknownExerciseError as exc:
            extra = {"suggestion": exc.suggestion} if exc.suggestion else {}
            raise Problem(422, message_of(exc), "exercise", **extra) from None
        return Response(_json_bytes(explanation), media_type=_JSON)

    @guard
    async def api_questionnaire(request: Request) -> Response:
        return Response(site.questionnaire_json, media_type=_JSON)

    @guard
    async def openapi(request: Request) -> Response:
        return Response(site.openapi_json, media_type="application/vnd.oai.openapi+json")

    @guard
    async def healthz(request: Request) -> Response:
        return Response(site.health, media_type=_JSON)

    @guard
    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in site.static:
            raise Problem(404, "There is no such file.")
        return Response(site.static[name], media_type=_STATIC_TYPES[Path(name).suffix])

    @guard
    async def favicon(request: Request) -> Response:
        return Response(site.static["favicon.svg"], media_type=_STATIC_TYPES[".svg"])

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = {404: "There is nothing at this address.", 405: "This address does not take that method."}.get(
            status, "The request could not be handled."
        )
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        if _api(request):
            return JSONResponse(shapes.error(None, message.lower().rstrip(".")), status_code=status, headers=headers)
        response = site.error_page(status, message)
        response.headers.update(headers)
        return response

    routes = [
        Route("/", home, methods=["GET"]),
        Route("/plan", plan_page, methods=["POST"]),
        Route("/physio", physio, methods=["POST"]),
        Route("/checkin", checkin, methods=["POST"]),
        Route("/progress", progress_page, methods=["POST"]),
        Route("/download/answers.toml", download_answers, methods=["POST"]),
        Route("/download/plan.json", download_plan, methods=["POST"]),
        Route("/api/plan", api_plan, methods=["POST"]),
        Route("/api/explain", api_explain, methods=["POST"]),
        Route("/api/questionnaire", api_questionnaire, methods=["GET"]),
        Route("/api/openapi.json", openapi, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/static/{name}", static, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.state.site = site
    return SecurityHeaders(app)


def _last(form: Mapping[str, list[str]], name: str) -> str:
    values = form.get(name, [])
    return values[-1].strip() if values else ""


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


# --- the server ---------------------------------------------------------------------------------------

ENV_RULES = "BACKPLAN_SERVE_RULES"
ENV_KNOWLEDGE = "BACKPLAN_SERVE_KNOWLEDGE"
ENV_DIGESTS = "BACKPLAN_SERVE_DIGESTS"
ENV_JOURNAL = "BACKPLAN_SERVE_JOURNAL"
STARTUP_FAILURE = 3  # uvicorn's: a worker that cannot start stops the whole server


def app_from_environment() -> ASGIApp:
    """The app in a worker process of ``serve --workers N``: the folders the parent checked, loaded and
    checked again, and refused unless they are still the ones the parent checked (same digests)."""
    rules = os.environ.get(ENV_RULES) or None
    knowledge = os.environ.get(ENV_KNOWLEDGE) or None
    try:
        book = load_rulebook(Path(rules) if rules else None, Path(knowledge) if knowledge else None)
    except BackplanError as exc:
        print(f"backplan: error: {exc.line()}", file=sys.stderr, flush=True)
        sys.exit(STARTUP_FAILURE)
    expected = os.environ.get(ENV_DIGESTS)
    if expected and expected != _digests(book):
        print(
            "backplan: error: the rules or knowledge changed after they were checked at start; restart the server",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(STARTUP_FAILURE)
    return create_app(book, os.environ.get(ENV_JOURNAL) or None)


def _digests(book: RuleBook) -> str:
    return f"{book.rules.digest} {book.knowledge.digest}"


def check_listen(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port`` (None when it can), found before it starts."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        return f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def _listening_socket(host: str, port: int) -> socket.socket:
    """The socket the workers share. Made here, not by uvicorn's ``Config.bind_socket``: that one is made
    without ``IPPROTO_TCP``, so asyncio does not set ``TCP_NODELAY`` on the connections it accepts, and
    each keep-alive response then waits about 40 ms for a delayed ACK (measured: 22 requests/s instead
    of several hundred on one connection)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    shown = f"[{host}]" if ":" in host else host
    logging.getLogger("uvicorn.error").info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)", shown, port)
    return sock


def serve(
    book: RuleBook,
    *,
    host: str,
    port: int,
    workers: int,
    rules_dir: Path | None,
    knowledge_dir: Path | None,
    journal: str | None = None,
) -> int:
    """Run the server until it is stopped (SIGINT or SIGTERM); the exit status: 0, or 1 if it failed."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "access_log": False,  # paths only, but a reverse proxy keeps its own log; see docs/deploy.md
        "server_header": False,
        "proxy_headers": True,
        "log_level": "info",
        "timeout_graceful_shutdown": 10,
    }
    if workers == 1:
        server = uvicorn.Server(uvicorn.Config(create_app(book, journal), **options))
        server.run()
        return 0 if server.started else 1
    os.environ[ENV_RULES] = str(Path(rules_dir).resolve()) if rules_dir is not None else ""
    os.environ[ENV_KNOWLEDGE] = str(Path(knowledge_dir).resolve()) if knowledge_dir is not None else ""
    os.environ[ENV_DIGESTS] = _digests(book)
    os.environ[ENV_JOURNAL] = journal or ""
    config = uvicorn.Config("engine.web.app:app_from_environment", factory=True, workers=workers, **options)
    supervisor = Multiprocess(config, sockets=[_listening_socket(host, port)])
    supervisor.run()
    failed = any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
    return 1 if failed else 0
