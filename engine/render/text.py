"""The plan for a terminal: wrapped to the terminal's width, never wider, colour only where asked.

Data (messages, names, steps) goes in as ``rich`` ``Text``, never as markup: only the fixed styles written
here are interpreted. ``ascii`` gives ASCII frames and typography for a stdout that cannot encode the box
characters, '•', '×' or '—'. ``styled`` keeps ANSI colour (the CLI asks for it on a TTY without NO_COLOR).
"""

from __future__ import annotations

import datetime as _dt
import io
import os
import shutil
from typing import Any

from ..knowledge import Knowledge
from ..plan import Plan
from .escape import plain_text
from .words import Reading, physio_lines, reading

DEFAULT_WIDTH = 80
MIN_WIDTH = 40
MAX_WIDTH = 120  # wider lines are hard to read: the text never spreads beyond this

_LEVEL_STYLE = {"urgent": "bold white on red", "consult": "bold yellow", "caution": "yellow", "info": "cyan"}
_OUTCOME_STYLE = {"stop": "bold white on red", "consult": "bold black on yellow", "clear": "bold black on green"}


def terminal_width(environ: dict[str, str] | None = None) -> int:
    """The width to render for: ``COLUMNS`` if set, else the terminal's, else 80; kept within 40..120."""
    env = os.environ if environ is None else environ
    width = 0
    columns = env.get("COLUMNS", "")
    if columns.isdigit():
        width = int(columns)
    if not width:
        width = shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    return max(MIN_WIDTH, min(width, MAX_WIDTH))


def render_text(
    plan: Plan,
    knowledge: Knowledge,
    *,
    width: int | None = None,
    ascii: bool = False,
    styled: bool = False,
    date: _dt.date | None = None,
    for_physio: bool = False,
) -> str:
    """The plan as terminal text, ``width`` columns at most (default: ``terminal_width()``)."""
    return text_of(
        reading(plan, knowledge, date=date, for_physio=for_physio),
        width=width or terminal_width(),
        ascii=ascii,
        styled=styled,
    )


def text_of(r: Reading, *, width: int, ascii: bool = False, styled: bool = False) -> str:
    from rich import box
    from rich.padding import Padding
    from rich.panel import Panel
    from rich.text import Text

    def t(value: object) -> str:
        return plain_text(str(value)) if ascii else str(value)

    def line(*parts: str | tuple[str, str]) -> Text:
        return Text.assemble(*[(t(p[0]), p[1]) if isinstance(p, tuple) else t(p) for p in parts])

    def indented(text: Text, left: int) -> Any:
        return Padding(text, (0, 0, 0, left))

    bullet = "*" if ascii else "•"
    console = _console(width)
    say = console.print

    say(
        Panel(
            line((r.headline, "bold")),
            title=line(f"SAFETY SCREEN: {r.outcome_word}"),
            title_align="left",
            border_style=_OUTCOME_STYLE[r.outcome],
            box=box.ASCII if ascii else box.ROUNDED,
            expand=False,
        )
    )
    for reason in r.reasons:  # outside the frame: a message reads (and copies) as one piece of text
        say(indented(line(f"{bullet} ", (reason, "bold" if r.stopped else "")), 2))
    title = r.title + (f" — {r.date}" if r.date else "")
    say()
    say(line((title, "bold")))
    say(
        line(
            ("For: ", "bold"),
            " · ".join(value if i == 0 else f"{label.lower()}: {value}" for i, (label, value) in enumerate(r.whom[:4])),
        )
    )
    for w in r.warnings:
        say(indented(line((w.word, _LEVEL_STYLE.get(w.level, "")), f" {w.message}"), 2))
    say()
    if r.stopped or r.programme is None:
        say(line(("No exercises until the advice above has been followed.", "bold red")))
    else:
        say(line((r.programme, "bold"), f" — {r.sessions_per_week} sessions a week"))
        say(line(r.programme_description))
        for session in r.sessions:
            say()
            rule = "=" if ascii else "━"
            say(line((f"{session.name} ", "bold"), (rule * max(0, min(width, 60) - len(session.name) - 1), "dim")))
            for n, ex in enumerate(session.exercises, 1):
                say(line((f"{n:>2}. {ex.name}", "bold"), f"  {ex.dose}"))
                say(indented(line((f"{ex.block} · {ex.kind} · {ex.equipment}", "dim")), 4))
                if ex.why:
                    say(indented(line(("Why: ", "italic"), ex.why), 4))
                if ex.first:
                    for i, step in enumerate(ex.steps, 1):
                        say(indented(line(f"{i}. {step}"), 4))
                else:
                    say(indented(line(f"Steps as in {ex.first_session}."), 4))
                for c in ex.cautions:
                    say(indented(line(("! ", "bold yellow"), c), 4))
            if session.stretch_minutes:
                say(indented(line(f"Finish with about {session.stretch_minutes} minutes of stretching."), 2))
        if r.progression:
            say()
            say(line(("How to progress", "bold")))
            say(indented(line(r.progression), 2))
        if r.left_out:
            say()
            say(line(f"{r.left_out} exercises of the catalogue were left out for your safety."))
    if r.sources:
        say()
        say(line(("Sources", "bold")))
        for i, source in enumerate(r.sources, 1):
            say(indented(line(f"{i}. {source}"), 2))
    if r.physio is not None:
        say()
        say(line(("Appendix for the physiotherapist: the rules behind this plan", "bold")))
        for heading, lines in physio_lines(r.physio):
            say(line((heading, "underline")))
            for item in lines:
                say(indented(line(item), 2))
    say(line((r.footer, "dim")))
    text = "\n".join(row.rstrip() for row in console.export_text(styles=styled).split("\n"))
    return plain_text(text) if ascii else text  # anything rich added itself


def _console(width: int) -> Any:
    """A recording console: no terminal, no emoji codes, no highlighting; colour only on export."""
    from rich.console import Console

    return Console(
        record=True,
        width=width,
        force_terminal=True,
        color_system="standard",
        file=io.StringIO(),
        emoji=False,
        highlight=False,
        safe_box=True,
        legacy_windows=False,
    )
