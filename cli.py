"""backplan command line: a thin typer app over the ``engine`` library.

The CLI only parses arguments, calls the library, renders results and maps errors to exit codes:
0 a result was produced (whatever the screen outcome), 2 bad input (one line on stderr naming the
file, field or rule), 1 internal error (and then nothing is printed on stdout or written to --out).
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

import engine
from engine.errors import BackplanError, EngineError, InputError, IntakeError
from engine.intake import parse_answers_text

# rich, the renderers and the reviewer tools are imported where used: `plan --format json` and
# `batch` never pay for them at start-up.

app = typer.Typer(
    name="backplan",
    help="Rule-based back-training plans with a safety screen. Every decision cites a rule and a source.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(help="Validate and read the rule files.", no_args_is_help=True)
scenarios_app = typer.Typer(help="Run reviewer-written scenario files.", no_args_is_help=True)
exercises_app = typer.Typer(help="Browse the exercise catalogue.", invoke_without_command=True)
app.add_typer(rules_app, name="rules")
app.add_typer(scenarios_app, name="scenarios")
app.add_typer(exercises_app, name="exercises")

RulesOpt = Annotated[
    Path | None, typer.Option("--rules", help="Rules folder (default: the bundled rules).", show_default=False)
]
KnowledgeOpt = Annotated[
    Path | None,
    typer.Option("--knowledge", help="Knowledge folder (default: the bundled knowledge).", show_default=False),
]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write the result to this file instead of stdout.")]


class Format(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"


T = TypeVar("T")


def _fail(code: int, message: str) -> NoReturn:
    typer.echo(f"backplan: error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Library errors become one line on stderr and an exit code; never a traceback."""
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


def _book(rules: Path | None, knowledge: Path | None) -> engine.RuleBook:
    return engine.load_rulebook(rules, knowledge)


def _write(text: str, out: Path | None) -> None:
    """All or nothing: stdout gets the whole text at once; a file is written beside and renamed."""
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    target = out
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=str(target.parent or Path(".")))
    except OSError as exc:
        raise IntakeError(f"cannot write: {exc.strerror}", file=str(out), location="--out") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise IntakeError(f"cannot write: {exc.strerror}", file=str(out), location="--out") from None


# --- rendering -------------------------------------------------------------------------------------

_LEVEL_STYLE = {"urgent": "bold white on red", "consult": "bold yellow", "caution": "yellow", "info": "cyan"}
_OUTCOME_STYLE = {"stop": "bold white on red", "consult": "bold black on yellow", "clear": "bold black on green"}


def _render_text(plan: engine.Plan, knowledge: engine.Knowledge, *, width: int | None = None) -> str:
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    from engine.render import BLOCK_NAMES, OUTCOME_HEADLINE, dose, equipment_text

    console = Console(record=True, width=width or 100, force_terminal=False, color_system=None, file=io.StringIO())
    outcome = plan.screen.outcome
    body = "\n".join([OUTCOME_HEADLINE[outcome], *[f"• {r.message}" for r in plan.screen.reasons]])
    console.print(Panel(body, title=f"SAFETY SCREEN: {outcome.upper()}", style=_OUTCOME_STYLE[outcome]))
    if plan.warnings:
        console.print("[bold]Warnings[/bold]")
        for w in plan.warnings:
            console.print(f"  [{_LEVEL_STYLE[w.level]}]{w.level.upper()}[/] {w.message} [dim](rule {w.rule})[/dim]")
        console.print()
    if plan.programme is None:
        console.print("[bold red]No exercises until the advice above has been followed.[/bold red]")
    else:
        programme = knowledge.programmes[plan.programme]
        console.print(f"[bold]Programme: {programme.name}[/bold] — {plan.sessions_per_week} sessions a week")
        console.print(programme.description)
        for session in plan.sessions:
            table = Table(title=session.name, title_justify="left", show_lines=False)
            for column in ("Block", "Exercise", "Sets × reps / hold", "Rest", "Equipment", "Why (rules)"):
                table.add_column(column)
            for ex in session.exercises:
                table.add_row(
                    BLOCK_NAMES[ex.block],
                    ex.name,
                    dose(ex),
                    f"{ex.rest_seconds} s",
                    equipment_text(ex, knowledge),
                    ", ".join(ex.because),
                )
            console.print(table)
            if session.stretch_minutes:
                console.print(f"  Finish with about {session.stretch_minutes} minutes of stretching.")
        console.print()
        console.print("[bold]How to do each exercise[/bold]")
        seen: set[str] = set()
        for session in plan.sessions:
            for ex in session.exercises:
                if ex.id in seen:
                    continue
                seen.add(ex.id)
                console.print(f"[bold]{ex.name}[/bold] [dim]({ex.id}, source {ex.source})[/dim]")
                for number, step in enumerate(ex.steps, 1):
                    console.print(f"  {number}. {step}")
    if plan.excluded:
        console.print()
        console.print(
            f"[bold]Left out for safety:[/bold] {len(plan.excluded)} exercises "
            "(see `backplan explain ANSWERS EXERCISE_ID`)"
        )
    p = plan.provenance
    console.print(
        f"[dim]backplan {p.engine_version} · rules {p.rules_digest[:19]} · knowledge {p.knowledge_digest[:19]}[/dim]"
    )
    return console.export_text(styles=_styled())


def _styled() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _render(plan: engine.Plan, knowledge: engine.Knowledge, fmt: Format) -> str:
    if fmt is Format.json:
        return plan.to_json()
    if fmt is Format.markdown:
        from engine.render import render_markdown

        return render_markdown(plan, knowledge)
    return _render_text(plan, knowledge)


# --- commands --------------------------------------------------------------------------------------


@app.command()
def plan(
    answers: Annotated[Path, typer.Argument(help="Answers file (TOML or JSON).", show_default=False)],
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    out: OutOpt = None,
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """Make a plan from an answers file."""
    with _errors():
        book = _book(rules, knowledge)
        intake = engine.load_intake(answers, book.knowledge)
        result = engine.recommend(intake, book)
        _write(_render(result, book.knowledge, format), out)


@app.command()
def explain(
    answers: Annotated[Path, typer.Argument(help="Answers file (TOML or JSON).", show_default=False)],
    exercise_id: Annotated[str | None, typer.Argument(help="Exercise id: why is it in the plan, or why not.")] = None,
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
                for rule_id in verdict.because:
                    item = book.rules.by_id().get(rule_id)
                    title = item.rule.title if item else rule_id
                    lines.append(f"  because {rule_id}: {title}")
            for reason in verdict.reasons:
                lines.append(f"  - {reason.rule}: {reason.message}")
        _write("\n".join(lines) + "\n", None)


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


@app.command()
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
    from engine.questionnaire import Questionnaire, answers_text, load_answers, render_stop

    with _errors():
        book = _book(rules, knowledge)
        progress = load_answers(resume) if resume is not None else {}
        target = save or resume
        unanswered = len(missing_answers(progress, book.knowledge))
        try:
            result = Questionnaire(book).run(
                prompt=lambda text, default: typer.prompt(text, default=default, show_default=bool(default), err=True),
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


@app.command()
def batch(
    intakes: Annotated[Path, typer.Argument(help="JSON Lines file: one answers object per line.", show_default=False)],
    out: OutOpt = None,
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """One answers object a line in, one plan (or error record) a line out, in order."""
    with _errors():
        book = _book(rules, knowledge)
        try:
            text = intakes.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise IntakeError("file not found", file=str(intakes)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise IntakeError(f"cannot read: {exc}", file=str(intakes)) from None
        # Only "\n" ends a line: str.splitlines() would also split at U+2028 and friends, which JSON allows
        # raw inside strings, and the line numbers in the records would drift.
        lines = [line.removesuffix("\r") for line in text.split("\n")]
        if lines and lines[-1] == "":
            lines.pop()
        show_progress = sys.stderr.isatty()
        results: list[str] = []
        counts = {"plans": 0, "errors": 0}
        with (
            typer.progressbar(length=len(lines), label="planning", file=sys.stderr)
            if show_progress
            else _nullbar() as bar
        ):
            for number, line in enumerate(lines, 1):
                results.append(_batch_line(number, line, str(intakes), book, counts))
                bar.update(1)
        _write("".join(results), out)
        typer.echo(f"{counts['plans']} plans, {counts['errors']} error records", err=True)


class _NullBar:
    def update(self, n: int) -> None:
        return None

    def __enter__(self) -> _NullBar:
        return self

    def __exit__(self, *args: object) -> None:
        return None


def _nullbar() -> _NullBar:
    return _NullBar()


def _batch_line(number: int, line: str, file: str, book: engine.RuleBook, counts: dict[str, int]) -> str:
    if not line.strip():
        counts["errors"] += 1
        error = IntakeError("empty line, expected an answers object", file=f"{file}:{number}").as_dict()
        return json.dumps({"line": number, "error": error}, separators=(",", ":")) + "\n"
    try:
        data = parse_answers_text(line, file=f"{file}:{number}", fmt="json")
        answers = engine.parse_intake(data, book.knowledge, file=f"{file}:{number}", resumable=False)
        result = engine.recommend(answers, book)
    except InputError as exc:
        counts["errors"] += 1
        return json.dumps({"line": number, "error": exc.as_dict()}, separators=(",", ":")) + "\n"
    counts["plans"] += 1
    return json.dumps({"line": number, "plan": result.model_dump(mode="json")}, separators=(",", ":")) + "\n"


EquipmentOpt = Annotated[
    str | None, typer.Option(help="Only exercises doable with this equipment id ('none' = no equipment).")
]
TagOpt = Annotated[str | None, typer.Option(help="Only exercises with this movement/safety tag.")]
LevelOpt = Annotated[str | None, typer.Option(help="Only this level: beginner, intermediate or advanced.")]
MuscleOpt = Annotated[str | None, typer.Option(help="Only exercises working this muscle.")]
CategoryOpt = Annotated[str | None, typer.Option(help="Only this category: mobility, stabilisation or strength.")]


@exercises_app.callback()
def exercises(
    ctx: typer.Context,
    equipment: EquipmentOpt = None,
    tag: TagOpt = None,
    level: LevelOpt = None,
    muscle: MuscleOpt = None,
    category: CategoryOpt = None,
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """List the catalogue (filter with the options), or `exercises show ID`."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"knowledge": knowledge, "rules": rules}
        return
    _list_exercises(equipment, tag, level, muscle, category, knowledge)


@exercises_app.command("list")
def exercises_list(
    equipment: EquipmentOpt = None,
    tag: TagOpt = None,
    level: LevelOpt = None,
    muscle: MuscleOpt = None,
    category: CategoryOpt = None,
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """The same as `backplan exercises`: list and filter the catalogue."""
    _list_exercises(equipment, tag, level, muscle, category, knowledge)


def _list_exercises(
    equipment: str | None,
    tag: str | None,
    level: str | None,
    muscle: str | None,
    category: str | None,
    knowledge: Path | None,
) -> None:
    from rich.console import Console
    from rich.table import Table

    from engine.catalogue import filter_exercises

    with _errors():
        k = engine.load_knowledge(knowledge or engine.default_knowledge_dir())
        found = filter_exercises(k, equipment=equipment, tag=tag, level=level, muscle=muscle, category=category)
        console = Console(record=True, width=120, file=io.StringIO())
        table = Table(title=f"{len(found)} exercises", title_justify="left")
        for column in ("id", "name", "category", "level", "equipment", "tags"):
            table.add_column(column)
        for ex in found:
            options = " or ".join("+".join(o) for o in ex.equipment) or "none"
            name = ex.name + (" (never recommended)" if ex.never_recommend else "")
            table.add_row(ex.id, name, ex.category, ex.level, options, ", ".join(ex.tags))
        console.print(table)
        _write(console.export_text(), None)


@exercises_app.command("show")
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
        book = _book(rules or (ctx.obj or {}).get("rules"), folder)
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
            lines += ["cautions:", *[f"  - {c}" for c in ex.contraindications]]
        named = rules_selecting(ex, book)
        lines += ["rules that select it:", *[f"  - {rule_id}: {verb}" for rule_id, verb in named]] if named else []
        _write("\n".join(lines) + "\n", None)


@rules_app.command("check")
def rules_check(rules: RulesOpt = None, knowledge: KnowledgeOpt = None) -> None:
    """Validate rule and knowledge files: exit 2 with `file: rule id: problem` lines on any defect."""
    from engine.check import problems

    with _errors():
        k = engine.load_knowledge(knowledge or engine.default_knowledge_dir())
        ruleset = engine.load_rules(rules or engine.default_rules_dir(), k)
        found = problems(ruleset, k)
        if found:
            for problem in found:
                typer.echo(problem.line(), err=True)
            raise typer.Exit(2)
        stages = {s: len(ruleset.stage(s)) for s in ("screen", "route", "select")}
        _write(
            f"ok: {len(ruleset.rules)} rules ({', '.join(f'{n} {s}' for s, n in stages.items())}), "
            f"{len(k.exercises)} exercises, {len(k.conditions)} conditions, {len(k.screening)} screening questions\n",
            None,
        )


@rules_app.command("list")
def rules_list(rules: RulesOpt = None, knowledge: KnowledgeOpt = None) -> None:
    """Every rule, in evaluation order: id, stage, priority, title, source."""
    with _errors():
        book = _book(rules, knowledge)
        lines = [f"{'id':<34} {'stage':<7} {'pri':>4}  title [source]"]
        for item in book.rules.rules:
            r = item.rule
            lines.append(f"{r.id:<34} {r.stage:<7} {r.priority:>4}  {r.title} [{r.source}]")
        _write("\n".join(lines) + "\n", None)


@rules_app.command("show")
def rules_show(
    rule_id: Annotated[str, typer.Argument(help="Rule id.", show_default=False)],
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """One rule as a reviewer reads it: when, then, why, source."""
    from engine.catalogue import describe_rule

    with _errors():
        book = _book(rules, knowledge)
        _write(describe_rule(rule_id, book) + "\n", None)


@scenarios_app.command("run")
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
        _write(report.render(), None)
    if not report.passed:
        raise typer.Exit(1)


@app.command()
def verify(
    out: Annotated[Path | None, typer.Option("--out", help="Folder for answers files reproducing violations.")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (default: all cores).")] = 0,
    rules: RulesOpt = None,
    knowledge: KnowledgeOpt = None,
) -> None:
    """Check the safety invariants over every equivalence class of intake the rules distinguish."""
    from engine.verify import verify_rulebook

    with _errors():
        book = _book(rules, knowledge)
        report = verify_rulebook(book, workers=workers or (os.cpu_count() or 1), out_dir=out)
        _write(report.render(), None)
    if not report.passed:
        raise typer.Exit(1)


@app.command()
def diff(
    intakes: Annotated[Path, typer.Argument(help="JSON Lines cohort of answers objects.", show_default=False)],
    after: Annotated[Path, typer.Option("--after", help="Rules folder after the change.")],
    before: Annotated[
        Path | None, typer.Option("--before", help="Rules folder before the change (default: --rules, else bundled).")
    ] = None,
    knowledge: KnowledgeOpt = None,
    rules: RulesOpt = None,
) -> None:
    """What a rule change changes for a cohort: outcome, programme, warnings, exercises."""
    from engine.diff import diff_cohort

    with _errors():
        old = _book(before or rules, knowledge)
        new = _book(after, knowledge)
        report = diff_cohort(intakes, old, new)
        _write(report.render(), None)


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
