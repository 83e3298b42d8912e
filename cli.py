"""backplan command line: a thin typer app over the ``engine`` library.

The CLI only parses arguments, calls the library, renders results and maps errors to exit codes:
0 a result was produced (whatever the screen outcome), 2 bad input (one line on stderr naming the
file, field or rule), 1 internal error (and then nothing is printed on stdout or written to --out).
"""

from __future__ import annotations

import copy
import datetime
import gc
import io
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

import engine
from engine.errors import BackplanError, EngineError, InputError, IntakeError

# rich, the renderers and the reviewer tools are imported where used: `plan --format json` and
# `batch` never pay for them at start-up.


def _plain_help() -> None:
    """Help as people read it: ``ANSWERS`` rather than ``{ANSWERS}``, ``FILE`` rather than ``<path>``, and no
    ``<bool>`` after a flag. Recent typer versions decorate metavars; older ones lack these hooks (no-op)."""
    core: Any = getattr(typer, "core", None)
    argument, option = getattr(core, "TyperArgument", None), getattr(core, "TyperOption", None)
    if argument is not None and hasattr(argument, "_usage_display_name"):

        def usage_name(self: Any) -> str:
            name = str(self.metavar or self.name).upper()
            name = name if self.required else f"[{name}]"
            return name + ("..." if self.nargs != 1 else "")

        argument._usage_display_name = usage_name
        argument._rich_display_name = lambda self: str(self.metavar or self.name).upper()
        argument.display_type_rich = lambda self, ctx: None
    if option is not None and hasattr(option, "display_type"):
        shown = option.display_type

        def display_type(self: Any, ctx: Any) -> str:
            label = str(shown(self, ctx)).strip("<>")
            if "|" in label:
                return f"[{label}]"
            return {"path": "PATH", "int": "N", "text": "TEXT", "str": "TEXT", "bool": ""}.get(label, label.upper())

        option.display_type = display_type


_plain_help()

app = typer.Typer(
    name="backplan",
    help="Rule-based back-training plans with a safety screen. Every decision cites a rule and a source.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: no '<bool>' or '{ARG}' metavars, no boxes cut at 80 columns
)
rules_app = typer.Typer(help="Validate and read the rule files.", no_args_is_help=True)
scenarios_app = typer.Typer(help="Run reviewer-written scenario files.", no_args_is_help=True)
exercises_app = typer.Typer(help="Browse the exercise catalogue.", invoke_without_command=True)
app.add_typer(rules_app, name="rules")
new_app = typer.Typer(help="Scaffold data files for an extension (a new condition).", no_args_is_help=True)
app.add_typer(scenarios_app, name="scenarios")
app.add_typer(new_app, name="new")
app.add_typer(exercises_app, name="exercises")
journal_app = typer.Typer(help="Export or delete a person's training journal.", no_args_is_help=True)
app.add_typer(journal_app, name="journal")

RulesOpt = Annotated[
    Path | None, typer.Option("--rules", help="Rules folder (default: the bundled rules).", show_default=False)
]
KnowledgeOpt = Annotated[
    Path | None,
    typer.Option("--knowledge", help="Knowledge folder (default: the bundled knowledge).", show_default=False),
]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write the result to this file instead of stdout.")]
JournalOpt = Annotated[
    str | None,
    typer.Option(
        "--journal",
        help="The journal: a SQLite file, or a database URL (postgresql://...). Default: journal.sqlite3 in "
        "$BACKPLAN_DATA_DIR, else in the user's data folder ($XDG_DATA_HOME/backplan).",
        show_default=False,
    ),
]
PersonOpt = Annotated[str, typer.Option("--person", help="Whose journal (an id of your choice).")]


class DiffFormat(str, Enum):
    text = "text"
    json = "json"


class Format(str, Enum):
    text = "text"
    markdown = "markdown"
    html = "html"
    json = "json"


class Reader(str, Enum):
    person = "person"
    physio = "physio"


T = TypeVar("T")


def _fail(code: int, message: str) -> NoReturn:
    typer.echo(f"backplan: error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Library errors become one line on stderr and an exit code; never a traceback."""
    _collector_on()
    try:
        yield
    except typer.Exit:
        raise
    except InputError as exc:
        _fail(2, exc.line())
    except EngineError as exc:
        _fail(1, f"internal error, no plan produced: {exc.line()}")
    except BackplanError as exc:  # pragma: no cover - every error is one of the two above
        _fail(1, exc.line())
    except KeyboardInterrupt:
        _fail(1, "interrupted")
    except Exception as exc:
        _fail(1, f"internal error, no plan produced: {type(exc).__name__}: {exc}")


def _collector_on() -> None:
    """Python's cyclic garbage collector, which ``main`` held off while typer read the command line, back on
    as the command starts. Typer imports pydantic and builds its validators then: tens of thousands of objects,
    none of them garbage, that the collector's passes went over for nothing (2% of a cold ``plan``). Those
    objects are moved out of its sight for good (``gc.freeze``), as Python's documentation suggests for what a
    program makes at start-up. Every command's body runs inside ``_errors``, which calls this; where the
    collector is on already (a test driving ``app``), nothing changes."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _book(rules: Path | None, knowledge: Path | None) -> engine.RuleBook:
    return engine.load_rulebook(rules, knowledge)  # the journal's progression rules too: refused if defective


def _write(text: str, out: Path | None) -> None:
    """All or nothing: stdout gets the whole text at once; a file is replaced atomically (engine.output)."""
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from engine.output import write_atomic

    write_atomic(out, text, option=_option_naming(out))


def _option_naming(path: Path) -> str:
    """The command-line option that gave ``path`` (``--out``, ``--save``, ``--resume``), for error lines."""
    import importlib

    ctx: Any = None
    for module in ("typer._click.globals", "click"):  # typer vendors click in recent versions
        try:
            ctx = importlib.import_module(module).get_current_context(silent=True)
            break
        except (ImportError, AttributeError):
            continue
    if ctx is not None:
        for param in ctx.command.params:
            value = ctx.params.get(param.name or "")
            if getattr(param, "param_type_name", "") == "option" and value is not None and value == path:
                return str(max(param.opts, key=len))
    return "--out"


# --- rendering: engine.render does it; here only the choice of format, width, colour and encoding ---


def _list_width() -> int:
    """Tables for a terminal: its width (COLUMNS or the terminal's), never more."""
    from engine.render import terminal_width

    return terminal_width()


def _styled() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _stdout_encoding() -> str:
    import codecs

    try:
        return codecs.lookup(getattr(sys.stdout, "encoding", None) or "utf-8").name
    except LookupError:
        return "utf-8"


def _stdout_takes(text: str) -> bool:
    """Whether stdout can encode ``text`` (LANG=C or PYTHONIOENCODING=ascii make it ASCII-only)."""
    try:
        text.encode(_stdout_encoding())
    except UnicodeError:
        return False
    return True


def _for_stdout(text: str, fmt: Format = Format.text) -> str:
    """``text`` unchanged if stdout can encode it; else JSON with ``\\uXXXX`` escapes (the same JSON), or
    text with readable replacements ('×' -> 'x', '—' -> '-', '?' as the last resort)."""
    if _stdout_takes(text):
        return text
    from engine.render import json_ascii, plain_text

    return json_ascii(text) if fmt is Format.json else plain_text(text, _stdout_encoding())


def _render(
    plan: engine.Plan,
    knowledge: engine.Knowledge,
    fmt: Format,
    *,
    to_stdout: bool = True,
    date: datetime.date | None = None,
    for_physio: bool = False,
) -> str:
    """The plan in ``fmt``; ``to_stdout``: fit for this stdout (its width, colour and encoding); --out files are
    UTF-8 at 100 columns, without colour. JSON has no date: it stays clock-free."""
    from engine import render

    if fmt is Format.json:
        text = plan.to_json()
    elif fmt is Format.markdown:
        text = render.render_markdown(plan, knowledge, date=date, for_physio=for_physio)
    elif fmt is Format.html:
        text = render.render_html(plan, knowledge, date=date, for_physio=for_physio)
    else:
        width = render.terminal_width() if to_stdout else FILE_WIDTH
        options: dict[str, Any] = {"width": width, "date": date, "for_physio": for_physio}
        text = render.render_text(plan, knowledge, styled=to_stdout and _styled(), **options)
        if to_stdout and not _stdout_takes(text):
            text = render.render_text(plan, knowledge, ascii=True, **options)
    return _for_stdout(text, fmt) if to_stdout else text


FILE_WIDTH = 100


def _date(value: str | None) -> datetime.date | None:
    """--date YYYY-MM-DD, or bad input naming the option."""
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"expected a date as YYYY-MM-DD, got '{value}'", location="--date") from None


def _prompt(text: str, default: str | None) -> str:
    """Ask on stderr, read a line from stdin: stdout holds only the result (``intake --format json > f``).

    click's prompt writes the prompt's last character (a space) to stdout for readline's sake, so it is
    used only when both stdin and stdout are a terminal (line editing); Ctrl-C or end of input aborts.
    """
    if sys.stdin.isatty() and sys.stdout.isatty():
        return str(typer.prompt(text, default=default, show_default=bool(default), err=True))
    shown = f"{text} [{default}]: " if default else f"{text}: "
    while True:
        sys.stderr.write(shown)
        sys.stderr.flush()
        try:
            line = sys.stdin.readline()
        except KeyboardInterrupt:
            raise typer.Abort() from None
        if not line:
            raise typer.Abort()
        value = line.rstrip("\r\n")
        if value:
            return value
        if default is not None:
            return default


# --- commands --------------------------------------------------------------------------------------


def _version(value: bool) -> None:
    if value:
        typer.echo(f"backplan {engine.__version__}")
        raise typer.Exit(0)


@app.callback(epilog="Example: backplan plan examples/chronic_pain_office_worker.toml --format html --out plan.html")
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True),
    ] = False,
) -> None:
    """Rule-based back-training plans with a safety screen. Every decision cites a rule and a source."""


@app.command(epilog="Example: backplan plan answers.toml --format html --date 2026-03-01 --out plan.html")
def plan(
    answers: Annotated[
        Path, typer.Argument(metavar="ANSWERS", help="Answers file (TOML or JSON).", show_default=False)
    ],
    format: Annotated[
        Format, typer.Option("--format", "-f", help="text, markdown, html (a printable page) or json.")
    ] = Format.text,
    out: OutOpt = None,
    date: Annotated[
        str | None,
        typer.Option(
            "--date", metavar="YYYY-MM-DD", help="Put this date on the plan (text, markdown, html).", show_default=False
        ),
    ] = None,
    for_reader: Annotated[
        Reader,
        typer.Option("--for", help="physio: add an appendix with the rules behind the plan.", show_default=False),
    ] = Reader.person,
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """Make a plan from an answers file."""
    with _errors():
        day = _date(date)
        book = _book(rules, knowledge)
        intake = engine.load_intake(answers, book.knowledge)
        result = engine.recommend(intake, book)
        text = _render(
            result, book.knowledge, format, to_stdout=out is None, date=day, for_physio=for_reader is Reader.physio
        )
        _write(text, out)


@app.command(epilog="Example: backplan explain answers.toml bird_dog")
def explain(
    answers: Annotated[Path, typer.Argument(help="Answers file (TOML or JSON).", show_default=False)],
    exercise_id: Annotated[str | None, typer.Argument(help="Exercise id: why is it in the plan, or why not.")] = None,
    person: Annotated[
        str | None, typer.Option("--person", help="Also the journal's progression rules, check-in by check-in.")
    ] = None,
    journal: JournalOpt = None,
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """Which rules fired, in order, with the facts they matched, their reasons and sources."""
    from engine.explain import fired_rules, status_text, why

    with _errors():
        book = _book(rules, knowledge)
        intake = engine.load_intake(answers, book.knowledge)
        evaluation = engine.evaluate(intake, book)
        lines: list[str] = []
        if exercise_id is None:
            p = evaluation.plan
            lines.append(f"Screen: {p.screen.outcome}; programme: {p.programme or 'none'}")
            lines.append(f"{len(p.trace)} rules fired, in order:")
            for n, fired in enumerate(fired_rules(evaluation, book), 1):
                e = fired.entry
                matched = ", ".join(f"{k}={_show(v)}" for k, v in e.matched.items()) or "always"
                lines.append(f"{n:>2}. {e.rule} [{e.stage}, priority {e.priority}] {e.title}")
                lines.append(f"    matched: {matched}")
                lines.append(f"    then:    {'; '.join(e.effects)}")
                lines.append(f"    why:     {' '.join(fired.rationale.split())}")
                lines.append(f"    source:  {e.source} ({book.knowledge.sources[e.source].title}); file {e.file}")
        else:
            verdict = why(exercise_id, evaluation, book)
            lines.append(f"{verdict.name} ({verdict.id}): {status_text(verdict.status)}")
            if verdict.in_plan:
                lines.append(f"  in: {', '.join(verdict.sessions)}")
                steps = {f"dosing:{step.id}": step.title for step in book.knowledge.dosing.step}
                for rule_id in verdict.because:
                    item = book.rules.by_id().get(rule_id)
                    title = item.rule.title if item else steps.get(rule_id, rule_id)
                    lines.append(f"  because {rule_id}: {title}")
            for reason in verdict.reasons:
                lines.append(f"  - {reason.rule}: {reason.message}")
        if person is not None:
            from engine.journal.commands import explain_journal

            lines += ["", *explain_journal(intake, book, person, journal)]
        _write(_for_stdout("\n".join(lines) + "\n"), None)


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


@app.command(epilog="Example: backplan intake --save answers.toml")
def intake(
    save: Annotated[
        Path | None,
        typer.Option("--save", help="Save the answers as an answers file (TOML; JSON if the name ends in .json)."),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            help="Continue an answers file (partial, or from an older version): ask only what it leaves "
            "unanswered, then save it (to --save if given, else back to this file).",
        ),
    ] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format of the plan.")] = Format.text,
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """Answer the questionnaire interactively, then get the plan."""
    from engine.intake import missing_answers
    from engine.output import check_target
    from engine.questionnaire import Questionnaire, answers_text, load_answers, render_stop

    with _errors():
        book = _book(rules, knowledge)
        progress = load_answers(resume) if resume is not None else {}
        target = save or resume
        if target is not None:  # refused before the first question, not after the last
            check_target(target, "--save" if save is not None else "--resume")
        unanswered = len(missing_answers(progress, book.knowledge))
        try:
            result = Questionnaire(book).run(
                prompt=_prompt,
                say=lambda text: typer.echo(text, err=True),
                answers=progress,
                source=str(resume) if resume is not None else None,
            )
        except typer.Abort:
            typer.echo("", err=True)  # the error starts on its own line, not after the open prompt
            saved = ""
            if target is not None and len(missing_answers(progress, book.knowledge)) < unanswered:
                _write(answers_text(progress, book.knowledge, name=target.name), target)
                saved = f"; the answers so far are saved: continue with backplan intake --resume {target}"
            raise IntakeError(f"the questionnaire was not completed (input ended){saved}", file="<stdin>") from None
        if result.intake is None:  # an emergency answer ended the questionnaire: the advice is the result
            if target is not None:
                _write(answers_text(result.answers, book.knowledge, name=target.name), target)
                typer.echo(
                    f"Answers so far saved to {target} (continue with: backplan intake --resume {target})", err=True
                )
            _write(render_stop(result, book, format.value), None)
            return
        plan = engine.recommend(result.intake, book)
        if target is not None:
            _write(answers_text(result.intake.to_answers(), book.knowledge, name=target.name), target)
            typer.echo(f"Answers saved to {target}", err=True)
        _write(_render(plan, book.knowledge, format), None)


MAX_JOBS = 256


@app.command(epilog="Example: backplan batch examples/cohort.jsonl --out plans.jsonl --jobs 2")
def batch(
    intakes: Annotated[
        Path, typer.Argument(help="JSON Lines file (or a pipe): one answers object per line.", show_default=False)
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the records to this file instead of stdout (to FILE.partial until the run is complete).",
        ),
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="Plan in this many worker processes (1: in this process).")
    ] = 1,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue an interrupted run from the records kept in FILE.partial (--out)."),
    ] = False,
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """One answers object a line in, one plan (or error record) a line out, in input order, streaming."""
    from engine.batch import Interrupted, run_batch

    with _errors():
        if not 1 <= jobs <= MAX_JOBS:
            _fail(2, f"--jobs: expected 1 to {MAX_JOBS} worker processes, got {jobs}")
        try:
            with _batch_progress(intakes) as progress:
                summary = run_batch(
                    intakes,
                    out,
                    book=lambda: _book(rules, knowledge),  # loaded while the workers start
                    stdout=_stdout_bytes(),
                    jobs=jobs,
                    resume=resume,
                    rules_dir=rules,
                    knowledge_dir=knowledge,
                    progress=progress,
                )
        except Interrupted as stopped:
            _batch_interrupted(stopped, intakes, out)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            _fail(1, "stdout was closed before the batch was complete")
        kept = f"; {summary.resumed} of them kept from the interrupted run" if summary.resumed else ""
        typer.echo(f"{summary.plans} plans, {summary.errors} error records{kept}", err=True)


def _stdout_bytes() -> Any:
    """stdout as a binary stream: records are bytes (plain ASCII JSON)."""
    sys.stdout.flush()
    return getattr(sys.stdout, "buffer", None) or _TextSink()


class _TextSink:
    def write(self, data: bytes) -> None:
        sys.stdout.write(data.decode("utf-8"))

    def flush(self) -> None:
        sys.stdout.flush()


@contextmanager
def _batch_progress(intakes: Path) -> Iterator[Any]:
    """A progress bar over the input's bytes on an interactive stderr; else no progress callback."""
    try:
        size = intakes.stat().st_size if sys.stderr.isatty() and intakes.is_file() else 0
    except OSError:
        size = 0
    if not size:
        yield None
        return
    with typer.progressbar(length=size, label="planning", file=sys.stderr) as bar:
        done = 0

        def update(consumed: int) -> None:
            nonlocal done
            bar.update(consumed - done)
            done = consumed

        yield update


def _batch_interrupted(stopped: Any, intakes: Path, out: Path | None) -> NoReturn:
    """One line saying what was kept; SIGINT exits 1, SIGTERM and SIGHUP end the process as they would."""
    import shlex
    import signal

    name = signal.Signals(stopped.signum).name
    done = stopped.summary.records
    if stopped.kept is not None:
        again = shlex.join(["backplan", "batch", str(intakes), "--out", str(out), "--resume"])
        message = f"interrupted by {name}: {done} records kept in {stopped.kept} (continue with: {again})"
    else:
        message = f"interrupted by {name} after {done} records"
    typer.echo(f"backplan: error: {message}", err=True)
    if stopped.signum != signal.SIGINT:
        signal.signal(stopped.signum, signal.SIG_DFL)
        os.kill(os.getpid(), stopped.signum)
    raise typer.Exit(1)


MAX_WORKERS = 64


@app.command(epilog="Example: backplan serve --port 8080 --workers 2")
def serve(
    host: Annotated[
        str,
        typer.Option(
            "--host",
            metavar="ADDRESS",
            help="Address to listen on (default: 127.0.0.1, this machine only).",
            show_default=False,
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", metavar="N", help="Port to listen on (default: 8765).", show_default=False)
    ] = 8765,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            metavar="N",
            help="Worker processes, each with its own rule book (default: 1).",
            show_default=False,
        ),
    ] = 1,
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
    journal: JournalOpt = None,
) -> None:
    """The questionnaire as a web page (at /) and the HTTP API (/api/...); see docs/deploy.md."""
    with _errors():
        if not 1 <= workers <= MAX_WORKERS:
            _fail(2, f"--workers: expected 1 to {MAX_WORKERS} worker processes, got {workers}")
        if not 1 <= port <= 65535:
            _fail(2, f"--port: expected a port from 1 to 65535, got {port}")
        book = _book(rules, knowledge)  # loaded and checked once, before anything listens
        from engine.journal.store import resolve
        from engine.web.app import check_listen
        from engine.web.app import serve as run_server

        resolve(journal)  # a --journal that cannot be a journal: exit 2 before anything listens
        problem = check_listen(host, port)
        if problem is not None:
            _fail(2, f"--host/--port: {problem}")
    code = run_server(
        book, host=host, port=port, workers=workers, rules_dir=rules, knowledge_dir=knowledge, journal=journal
    )
    raise typer.Exit(code)


EquipmentOpt = Annotated[
    str | None, typer.Option(help="Only exercises doable with this equipment id ('none' = no equipment).")
]
TagOpt = Annotated[str | None, typer.Option(help="Only exercises with this movement/safety tag.")]
LevelOpt = Annotated[str | None, typer.Option(help="Only this level: beginner, intermediate or advanced.")]
MuscleOpt = Annotated[str | None, typer.Option(help="Only exercises working this muscle.")]
CategoryOpt = Annotated[str | None, typer.Option(help="Only this category: mobility, stabilisation or strength.")]


@exercises_app.callback(epilog="Example: backplan exercises --equipment none --category stabilisation")
def exercises(
    ctx: typer.Context,
    equipment: EquipmentOpt = None,
    tag: TagOpt = None,
    level: LevelOpt = None,
    muscle: MuscleOpt = None,
    category: CategoryOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """List the catalogue (filter with the options), or `exercises show ID`."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"knowledge": knowledge}
        return
    _list_exercises(equipment, tag, level, muscle, category, knowledge)


@exercises_app.command("list", epilog="Example: backplan exercises list --level beginner")
def exercises_list(
    equipment: EquipmentOpt = None,
    tag: TagOpt = None,
    level: LevelOpt = None,
    muscle: MuscleOpt = None,
    category: CategoryOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """The same as `backplan exercises`: list and filter the catalogue (it reads knowledge only)."""
    _list_exercises(equipment, tag, level, muscle, category, knowledge)


def _list_exercises(
    equipment: str | None,
    tag: str | None,
    level: str | None,
    muscle: str | None,
    category: str | None,
    knowledge: Path | None,
) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from engine.catalogue import filter_exercises
    from engine.render import plain_text

    def render(ascii: bool) -> str:
        """The table; every cell is data, given as Text (never markup). ``ascii``: ASCII frame and text."""

        def t(value: str) -> Text:
            return Text(plain_text(value) if ascii else value)

        from rich.console import Console

        console = Console(
            record=True,
            width=_list_width(),
            color_system=None,
            file=io.StringIO(),
            emoji=False,
            highlight=False,
            safe_box=True,
        )
        table = Table(
            title=Text(f"{len(found)} exercises", style="table.title"),
            title_justify="left",
            box=box.ASCII if ascii else box.HEAVY_HEAD,
        )
        for column in ("id", "name", "category", "level", "equipment", "tags"):
            table.add_column(column, overflow="fold")  # nothing cut: long names and tags wrap in their cell
        for ex in found:
            options = " or ".join("+".join(o) for o in ex.equipment) or "none"
            name = ex.name + (" (never recommended)" if ex.never_recommend else "")
            table.add_row(*map(t, (ex.id, name, ex.category, ex.level, options, ", ".join(ex.tags))))
        console.print(table)
        return str(console.export_text())

    with _errors():
        k = engine.load_knowledge(knowledge or engine.default_knowledge_dir())
        found = filter_exercises(k, equipment=equipment, tag=tag, level=level, muscle=muscle, category=category)
        text = render(ascii=False)
        _write(text if _stdout_takes(text) else _for_stdout(render(ascii=True)), None)


@exercises_app.command("show", epilog="Example: backplan exercises show dead_hang")
def exercises_show(
    ctx: typer.Context,
    exercise_id: Annotated[str, typer.Argument(help="Exercise id.", show_default=False)],
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """Everything about one exercise: steps, tags, prerequisites, source, and the rules that name it."""
    from engine.catalogue import rules_selecting

    with _errors():
        folder = knowledge or (ctx.obj or {}).get("knowledge")
        book = _book(rules, folder)
        k = book.knowledge
        ex = k.exercise(exercise_id)
        lines = [f"{ex.name} ({ex.id})"]
        if ex.never_recommend:
            lines.append(f"NEVER RECOMMENDED: {ex.never_recommend_reason}")
        lines += [
            f"aliases:        {', '.join(ex.aliases) or '-'}",
            f"category:       {ex.category}; pattern {ex.pattern}; level {ex.level}",
            f"muscles:        {', '.join(ex.muscles)}",
            f"equipment:      {' or '.join(' + '.join(o) for o in ex.equipment) or 'none (household items only)'}",
            f"tags:           {', '.join(ex.tags)}",
            f"blocks:         {', '.join(ex.blocks)}",
            "default dose:   "
            + f"{ex.prescription.sets} × "
            + (f"{ex.prescription.reps} reps" if ex.prescription.reps else f"hold {ex.prescription.hold_seconds} s")
            + f", rest {ex.prescription.rest_seconds} s",
            f"prerequisites:  {' or '.join(ex.prerequisites) or '-'}",
            f"source:         {ex.source} ({k.sources[ex.source].title})",
            "steps:",
            *[f"  {n}. {step}" for n, step in enumerate(ex.steps, 1)],
        ]
        if ex.contraindications:
            lines += [
                "cautions:",
                *[
                    f"  - {c}" if isinstance(c, str) else f"  - {c.text} (when {c.when.describe()})"
                    for c in ex.contraindications
                ],
            ]
        named = rules_selecting(ex, book)
        lines += ["rules that select it:", *[f"  - {rule_id}: {verb}" for rule_id, verb in named]] if named else []
        _write(_for_stdout("\n".join(lines) + "\n"), None)


@rules_app.command("check", epilog="Example: backplan rules check --rules my-rules/")
def rules_check(rules: RulesOpt = None, knowledge: KnowledgeOpt = None) -> None:
    """Validate rule and knowledge files: exit 2 with `file: rule id: problem` lines on any defect."""
    from engine.check import problems

    with _errors():
        k = engine.load_knowledge(knowledge or engine.default_knowledge_dir())
        ruleset = engine.load_rules(rules or engine.default_rules_dir(), k)
        lines = [p.line() for p in problems(ruleset, k)]
        if lines:
            for line in lines:
                typer.echo(line, err=True)
            raise typer.Exit(2)
        from engine.journal.commands import check as check_journal  # the progression rules (rules/progression)

        journal_summary = check_journal(ruleset, k)
        stages = {s: len(ruleset.stage(s)) for s in ("screen", "route", "select")}
        _write(
            f"ok: {len(ruleset.rules)} rules ({', '.join(f'{n} {s}' for s, n in stages.items())}), "
            f"{len(k.exercises)} exercises, {len(k.conditions)} conditions, {len(k.screening)} screening questions, "
            f"{journal_summary}\n",
            None,
        )


@rules_app.command("list", epilog="Example: backplan rules list")
def rules_list(rules: RulesOpt = None, knowledge: KnowledgeOpt = None) -> None:
    """Every rule, in evaluation order: id, stage, priority, title, source."""
    with _errors():
        book = _book(rules, knowledge)
        lines = [f"{'id':<34} {'stage':<7} {'pri':>4}  title [source]"]
        for item in book.rules.rules:
            r = item.rule
            lines.append(f"{r.id:<34} {r.stage:<7} {r.priority:>4}  {r.title} [{r.source}]")
        from engine.journal.commands import list_lines  # then the journal's progression rules

        lines += list_lines(book)
        _write(_for_stdout("\n".join(lines) + "\n"), None)


class TableFormat(str, Enum):
    markdown = "markdown"
    csv = "csv"


@rules_app.command("table")
def rules_table(
    format: Annotated[TableFormat, typer.Option("--format", "-f", help="markdown or csv.")] = TableFormat.markdown,
    out: OutOpt = None,
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """The condition rules as a decision table: one row per condition with its consult, excluded tags and
    exercises, preferred exercises, rules and sources.

    Example: backplan rules table --format csv --out conditions.csv
    """
    from engine.decision_table import condition_table, to_csv, to_markdown

    with _errors():
        rows = condition_table(_book(rules, knowledge))
        text = to_csv(rows) if format is TableFormat.csv else to_markdown(rows)
        _write(_for_stdout(text) if out is None else text, out)


@rules_app.command("show", epilog="Example: backplan rules show gentle_pool")
def rules_show(
    rule_id: Annotated[str, typer.Argument(help="Rule id.", show_default=False)],
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """One rule as a reviewer reads it: when, then, why, source."""
    from engine.catalogue import describe_rule

    with _errors():
        book = _book(rules, knowledge)
        from engine.journal.commands import describe_rule as describe_journal_rule

        text = describe_journal_rule(rule_id, book) or describe_rule(rule_id, book)
        _write(_for_stdout(text + "\n"), None)


@new_app.command("condition")
def new_condition(
    condition: Annotated[
        str, typer.Argument(help="The new condition's id, e.g. ankylosing_spondylitis.", show_default=False)
    ],
    source: Annotated[str, typer.Option("--source", help="Source id from knowledge/sources.toml.", show_default=False)],
    name: Annotated[
        str | None, typer.Option("--name", help="The name a person reads (default: from the id).", show_default=False)
    ] = None,
    exclude_tag: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude-tag", help="A tag never planned with the condition (repeat for more).", show_default=False
        ),
    ] = None,
    scenarios: Annotated[
        Path | None,
        typer.Option(
            "--scenarios", help="Scenario folder (default: scenarios/ beside the rules folder).", show_default=False
        ),
    ] = None,
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """Scaffold a new medical condition: its knowledge entry, consult rule, exclusion rule (or stub) and a
    scenario, checked to load before anything is written.

    Example: backplan new condition ankylosing_spondylitis --source nice_ng65 --exclude-tag heavy_load
    """
    from engine.resources import default_knowledge_dir, default_rules_dir
    from engine.scaffold import new_condition as scaffold

    with _errors():
        rules_dir = rules or default_rules_dir()
        result = scaffold(
            condition,
            source=source,
            name=name,
            exclude_tags=tuple(exclude_tag or ()),
            rules_dir=rules_dir,
            knowledge_dir=knowledge or default_knowledge_dir(),
            scenarios_dir=scenarios or rules_dir.parent / "scenarios",
        )
        for path, how in result.files:
            typer.echo(f"{how}: {path}")
        typer.echo(
            f"next: replace each TODO, then run backplan scenarios run {scenarios or rules_dir.parent / 'scenarios'}"
        )


@scenarios_app.command("run", epilog="Example: backplan scenarios run scenarios/")
def scenarios_run(
    folder: Annotated[Path, typer.Argument(help="Folder of scenario files.", show_default=False)],
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """Run scenario files: a pass/fail table, a rule-coverage report; exit 1 on any failure."""
    from engine.scenarios import run_scenarios

    with _errors():
        book = _book(rules, knowledge)
        report = run_scenarios(folder, book)
        _write(_for_stdout(report.render()), None)
    if not report.passed:
        raise typer.Exit(1)


# --- the training journal (engine.journal) -------------------------------------------------------------


@app.command(
    epilog="Example: backplan checkin answers.toml --date 2026-12-01 --pain-during 2 --pain-next-day 1 --done all"
)
def checkin(
    answers: Annotated[Path, typer.Argument(help="Answers file (TOML or JSON).", show_default=False)],
    date: Annotated[str, typer.Option("--date", help="The day of the session, YYYY-MM-DD.", show_default=False)],
    pain_during: Annotated[str, typer.Option("--pain-during", help="Pain during training, 0-10.", show_default=False)],
    pain_next_day: Annotated[
        str, typer.Option("--pain-next-day", help="Pain the next morning, 0-10.", show_default=False)
    ],
    done: Annotated[
        str, typer.Option("--done", help="How much of the session: all, some or none.", show_default=False)
    ],
    symptom: Annotated[
        list[str] | None,
        typer.Option("--symptom", help="A screening question (id) that has become 'yes' since the intake; repeat."),
    ] = None,
    person: PersonOpt = "me",
    journal: JournalOpt = None,
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """Record one training session in the journal (the same date again replaces it)."""
    from engine.journal.commands import record

    with _errors():
        book = _book(rules, knowledge)
        line = record(
            answers,
            date=date,
            pain_during=pain_during,
            pain_next_day=pain_next_day,
            done=done,
            symptoms=symptom or [],
            person=person,
            journal=journal,
            book=book,
        )
        _write(_for_stdout(line), None)


@app.command(epilog="Example: backplan progress answers.toml --format html --out progress.html")
def progress(
    answers: Annotated[Path, typer.Argument(help="Answers file (TOML or JSON).", show_default=False)],
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    out: OutOpt = None,
    person: PersonOpt = "me",
    journal: JournalOpt = None,
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """The journal's decision (progress, hold, regress or stop), the pain trend and the adjusted plan."""
    from engine.journal.commands import load
    from engine.journal.progression import progression_for
    from engine.journal.report import into_page, progress_html, progress_markdown, progress_text

    with _errors():
        book = _book(rules, knowledge)
        intake, outcome = load(answers, person, journal, book)
        to_stdout = out is None
        usual = intake.pain.intensity
        prog = progression_for(book)
        if format is Format.json:
            text = outcome.to_json()
            text = _for_stdout(text, format) if to_stdout else text
        else:  # the decision and the pain trend above the plan, as the format has them
            page = _render(outcome.plan, book.knowledge, format, to_stdout=to_stdout)
            if format.value == "html":
                text = into_page(page, progress_html(outcome, prog, usual))
            else:
                header = (progress_markdown if format is Format.markdown else progress_text)(outcome, prog, usual)
                text = (_for_stdout(header, format) if to_stdout else header) + page
        _write(text, out)


@journal_app.command("export", epilog="Example: backplan journal export --person me > journal.json")
def journal_export(person: PersonOpt = "me", journal: JournalOpt = None) -> None:
    """A person's check-ins as JSON (person, schema version, the check-ins in date order)."""
    from engine.journal.commands import export_json

    with _errors():
        _write(export_json(person, journal), None)


@journal_app.command("delete", epilog="Example: backplan journal delete --person me")
def journal_delete(person: PersonOpt = "me", journal: JournalOpt = None) -> None:
    """Delete every check-in of a person (other people's journals are kept)."""
    from engine.journal.commands import delete

    with _errors():
        _write(_for_stdout(delete(person, journal)), None)


@app.command(epilog="Example: backplan verify --out violations/")
def verify(
    out: Annotated[Path | None, typer.Option("--out", help="Folder for answers files reproducing violations.")] = None,
    workers: Annotated[
        int, typer.Option(metavar="N", help="Worker processes (default: all cores).", show_default=False)
    ] = 0,
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """Check the safety invariants over every equivalence class of intake the rules distinguish."""
    from engine.verify import verify_rulebook

    with _errors():
        book = _book(rules, knowledge)
        report = verify_rulebook(book, workers=workers or (os.cpu_count() or 1), out_dir=out)
        # --- the journal's progression invariants (engine.journal.invariants) ---
        from engine.journal.invariants import verify_journal

        journal_report = verify_journal(book, workers=workers or (os.cpu_count() or 1))
        _write(_for_stdout(report.render() + "\n" + journal_report.render()), None)
        # --- end of the journal's part ---
    if not (report.passed and journal_report.passed):
        raise typer.Exit(1)


@app.command(epilog="Example: backplan diff examples/cohort.jsonl --after my-rules/")
def diff(
    intakes: Annotated[Path, typer.Argument(help="JSON Lines cohort of answers objects.", show_default=False)],
    after: Annotated[Path, typer.Option("--after", help="Rules folder after the change.", show_default=False)],
    before: Annotated[
        Path | None,
        typer.Option(
            "--before",
            help="Rules folder before the change (default: --rules, else the bundled rules).",
            show_default=False,
        ),
    ] = None,
    before_knowledge: Annotated[
        Path | None,
        typer.Option(
            "--before-knowledge", help="Knowledge folder before the change (default: --knowledge).", show_default=False
        ),
    ] = None,
    after_knowledge: Annotated[
        Path | None,
        typer.Option(
            "--after-knowledge", help="Knowledge folder after the change (default: --knowledge).", show_default=False
        ),
    ] = None,
    format: Annotated[DiffFormat, typer.Option("--format", "-f", help="text or json.")] = DiffFormat.text,
    out: OutOpt = None,
    knowledge: KnowledgeOpt = None,
    rules: RulesOpt = None,
) -> None:
    """What a change of rules or knowledge changes for a cohort: outcome, programme, warnings and their
    words, exercises, doses, equipment, cautions, exclusions.

    Example: backplan cohort --out cohort.jsonl && backplan diff --after my-rules/ cohort.jsonl
    """
    from engine.diff import diff_cohort, load_side

    with _errors():
        old = load_side("--before", lambda: _book(before or rules, before_knowledge or knowledge))
        new = load_side("--after", lambda: _book(after, after_knowledge or knowledge))
        report = diff_cohort(intakes, old, new)
        if format is DiffFormat.json:
            _write(json.dumps(report.as_dict(), indent=2) + "\n", out)
        else:
            _write(_for_stdout(report.render()) if out is None else report.render(), out)


@app.command()
def cohort(out: OutOpt = None, rules: RulesOpt = None, knowledge: KnowledgeOpt = None) -> None:
    """Write one answers object per class of intake the rules distinguish (JSON Lines), for ``diff``.

    The stop region (a minimal intake per declared stop and per stop rule), a minimal intake on which each
    rule fires, and one intake per combination of select rules some intake fires, per experience and
    programme, with no equipment and with every item.

    Example: backplan cohort --out cohort.jsonl
    """
    from engine.space import cohort as make_cohort

    with _errors():
        book = _book(rules, knowledge)
        lines = [json.dumps(answers, sort_keys=True, separators=(",", ":")) for answers in make_cohort(book)]
        _write("\n".join(lines) + "\n", out)
        typer.echo(f"{len(lines)} intakes", err=True)


def _stdout_never_fails() -> None:
    """The last resort for output no renderer fitted to stdout's encoding (``_render`` and ``_for_stdout``
    do that): a character stdout cannot encode is replaced instead of ending in a UnicodeEncodeError. In
    JSON (a document, or JSON lines) by its ``\\uXXXX`` escape, the same value; in text by a readable
    equivalent ('—' -> '-')."""
    import codecs
    from contextlib import suppress

    last: list[Any] = [None, False]  # the text being written and whether it is JSON: judged once

    def replace(exc: UnicodeError) -> tuple[str, int]:
        if not isinstance(exc, UnicodeEncodeError):
            raise exc
        from engine.render import json_ascii, plain_text  # only when a character does not fit: not at start

        if exc.object is not last[0]:
            last[:] = [exc.object, _is_json(exc.object)]
        chunk = exc.object[exc.start : exc.end]
        return (json_ascii(chunk) if last[1] else plain_text(chunk, exc.encoding)), exc.end

    codecs.register_error("backplan-replace", replace)
    reconfigure = getattr(sys.stdout, "reconfigure", None)  # not there on a stream that is no text file
    if reconfigure is not None:
        with suppress(ValueError, OSError, LookupError):
            reconfigure(errors="backplan-replace")


def _is_json(text: str) -> bool:
    """Whether ``text`` is a JSON document or JSON lines: escaping keeps its value."""
    if not text.lstrip().startswith(("{", "[")):
        return False
    try:
        json.loads(text)
    except ValueError:
        try:
            for line in text.split("\n"):
                if line.strip():
                    json.loads(line)
        except ValueError:
            return False
    return True


def main() -> None:
    """Console entry point."""
    _stdout_never_fails()
    gc.disable()  # while typer reads the command line: see _collector_on
    # No pydantic plugins (observability hooks installed in the same environment): backplan's models are its
    # own business, and looking them up reads the metadata of every installed distribution at each start.
    # Typer turns them off for its own validators the same way. A value the user set is kept.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    _no_plugin_scan()
    try:
        _app_for(sys.argv[1:2])()
    except SystemExit as done:
        _leave(done.code)


_PLUGIN_LOADER = "pydantic.plugin._loader"
_PLUGINS_OFF = ("__all__", "1", "true")  # the values with which pydantic's get_plugins() loads none


def _no_plugin_scan() -> None:
    """With every pydantic plugin turned off (``PYDANTIC_DISABLE_PLUGINS=__all__``), pydantic still imports its
    plugin loader when it builds its first validator, and the loader imports ``importlib.metadata`` and, through
    it, the ``email`` package: 4% of a cold ``backplan plan`` (40 M instructions), to learn that there is nothing
    to load. Until something imports the real loader, a stand-in answers ``get_plugins()`` as the real one does
    with that setting (no plugins); a change of the setting, or any other name asked of it, loads the real
    loader in its place. tests/test_cli.py checks the stand-in against the real loader."""
    if _PLUGIN_LOADER in sys.modules or os.environ.get("PYDANTIC_DISABLE_PLUGINS") not in _PLUGINS_OFF:
        return
    import types

    stand_in = types.ModuleType(_PLUGIN_LOADER, "pydantic's plugin loader, until it is needed (cli._no_plugin_scan)")

    def real() -> types.ModuleType:
        if sys.modules.get(_PLUGIN_LOADER) is stand_in:
            del sys.modules[_PLUGIN_LOADER]
        import importlib

        return importlib.import_module(_PLUGIN_LOADER)

    def get_plugins() -> Any:
        if os.environ.get("PYDANTIC_DISABLE_PLUGINS") in _PLUGINS_OFF:  # (typer sets "1" for its own)
            return ()
        return real().get_plugins()

    def other(name: str) -> Any:
        if name.startswith("__"):  # the import system's questions (is it a package?): the stand-in's answers
            raise AttributeError(name)
        return getattr(real(), name)

    stand_in.get_plugins = get_plugins  # type: ignore[attr-defined]
    stand_in.__getattr__ = other  # type: ignore[method-assign]
    sys.modules[_PLUGIN_LOADER] = stand_in


def _app_for(first: list[str]) -> typer.Typer:
    """``app`` holding only the command (or command group) that the first argument names.

    Typer turns every registered command into a click command, inspecting each parameter, every time it
    runs: a tenth of a cold ``backplan plan`` went to the 19 commands it was not asked for. Once the first
    argument names a command, no other one can be reached, so the rest are left out. Anything else (no
    argument, an option such as ``--help`` or ``--version``, a misspelt name) gets the whole app, with its
    command list and its "did you mean"."""
    if not first or first[0].startswith("-"):
        return app
    commands = [c for c in app.registered_commands if _command_name(c) == first[0]]
    groups = [g for g in app.registered_groups if g.name == first[0]]
    if not commands and not groups:
        return app
    lean = copy.copy(app)
    lean.registered_commands, lean.registered_groups = commands, groups
    return lean


def _command_name(command: typer.models.CommandInfo) -> str | None:
    if command.name:
        return command.name
    return None if command.callback is None else typer.main.get_command_name(command.callback.__name__)


def _leave(code: object) -> NoReturn:
    """Exit without tearing down, one by one, the thousands of objects a command built: a tenth of a cold
    ``plan`` went to that. Only once everything is finished: the output flushed, no other thread running,
    the exit handlers run. Anything else (a closed pipe, a thread still at work) exits the usual way."""
    import atexit
    import threading

    if code is not None and not isinstance(code, int):
        raise SystemExit(code)  # SystemExit("message"): Python prints it, as always
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        raise SystemExit(code) from None
    if threading.active_count() > 1:
        raise SystemExit(code)
    atexit._run_exitfuncs()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
