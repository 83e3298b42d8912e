"""The plan for a terminal: wrapped to the terminal's width, never wider, colour only where asked.

Data (messages, names, steps) is only ever text here: it is wrapped and measured, never interpreted, and
control characters are taken out of it, so a message can neither style nor move the terminal. Only the
fixed styles written in this module become ANSI codes, and only with ``styled`` (the CLI asks for it on a
TTY without NO_COLOR). ``ascii`` gives ASCII frames and typography for a stdout that cannot encode the box
characters, '•', '×' or '—'.

Written without a terminal library: a plan is a framed headline and wrapped, indented paragraphs, and
importing one cost more than a third of a cold ``backplan plan``.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import os
import re
import shutil
import unicodedata
from collections.abc import Iterator

from ..errors import CONTROL_IN_TEXT
from ..knowledge import Knowledge
from ..plan import Plan
from .escape import plain_text
from .words import Reading, physio_lines, reading

DEFAULT_WIDTH = 80
MIN_WIDTH = 40
MAX_WIDTH = 120  # wider lines are hard to read: the text never spreads beyond this

_LEVEL_STYLE = {"urgent": "bold white on red", "consult": "bold yellow", "caution": "yellow", "info": "cyan"}
_OUTCOME_STYLE = {"stop": "bold white on red", "consult": "bold black on yellow", "clear": "bold black on green"}

# SGR codes of the few styles above (the 8 standard colours: every terminal has them).
_ATTRIBUTES = {"bold": "1", "dim": "2", "italic": "3", "underline": "4"}
_COLOURS = {"black": 0, "red": 1, "green": 2, "yellow": 3, "blue": 4, "magenta": 5, "cyan": 6, "white": 7}

_WORD = re.compile(r"\s*\S+\s*")

Span = tuple[str, str]  # (text, style); style "" is plain


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
    page = _Page(width, ascii=ascii, styled=styled)
    say = page.say
    bullet = "*" if ascii else "•"

    page.panel(title=f"SAFETY SCREEN: {r.outcome_word}", body=(r.headline, "bold"), frame=_OUTCOME_STYLE[r.outcome])
    for reason in r.reasons:  # outside the frame: a message reads (and copies) as one piece of text
        say(f"{bullet} ", (reason, "bold" if r.stopped else ""), indent=2)
    title = r.title + (f" — {r.date}" if r.date else "")
    say()
    say((title, "bold"))
    say(
        ("For: ", "bold"),
        " · ".join(value if i == 0 else f"{label.lower()}: {value}" for i, (label, value) in enumerate(r.whom[:4])),
    )
    for w in r.warnings:
        say((w.word, _LEVEL_STYLE.get(w.level, "")), f" {w.message}", indent=2)
    say()
    if r.stopped or r.programme is None:
        say(("No exercises until the advice above has been followed.", "bold red"))
    else:
        say((r.programme, "bold"), f" — {r.sessions_per_week} sessions a week")
        say(r.programme_description)
        for session in r.sessions:
            say()
            rule = "=" if ascii else "━"
            say((f"{session.name} ", "bold"), (rule * max(0, min(width, 60) - len(session.name) - 1), "dim"))
            for n, ex in enumerate(session.exercises, 1):
                say((f"{n:>2}. {ex.name}", "bold"), f"  {ex.dose}")
                say((f"{ex.block} · {ex.kind} · {ex.equipment}", "dim"), indent=4)
                if ex.why:
                    say(("Why: ", "italic"), ex.why, indent=4)
                if ex.first:
                    for i, step in enumerate(ex.steps, 1):
                        say(f"{i}. {step}", indent=4)
                else:
                    say(f"Steps as in {ex.first_session}.", indent=4)
                for c in ex.cautions:
                    say(("! ", "bold yellow"), c, indent=4)
            if session.stretch_minutes:
                say(f"Finish with about {session.stretch_minutes} minutes of stretching.", indent=2)
        if r.progression:
            say()
            say(("How to progress", "bold"))
            say(r.progression, indent=2)
        if r.left_out:
            say()
            say(f"{r.left_out} exercises of the catalogue were left out for your safety.")
    if r.sources:
        say()
        say(("Sources", "bold"))
        for i, source in enumerate(r.sources, 1):
            say(f"{i}. {source}", indent=2)
    if r.physio is not None:
        say()
        say(("Appendix for the physiotherapist: the rules behind this plan", "bold"))
        for heading, lines in physio_lines(r.physio):
            say((heading, "underline"))
            for item in lines:
                say(item, indent=2)
    say((r.footer, "dim"))
    return page.text()


class _Page:
    """Lines of text, each at most ``width`` cells; styles become ANSI codes only when ``styled``."""

    def __init__(self, width: int, *, ascii: bool, styled: bool) -> None:
        self.width = width
        self.ascii = ascii
        self.styled = styled
        self.lines: list[str] = []

    def _clean(self, text: str) -> str:
        text = CONTROL_IN_TEXT.sub("", text).replace("\t", "    ")
        return plain_text(text) if self.ascii else text

    def say(self, *parts: str | Span, indent: int = 0) -> None:
        """One paragraph: ``parts`` run together, wrapped at word boundaries within the width, indented."""
        spans = [(self._clean(p), "") if isinstance(p, str) else (self._clean(p[0]), p[1]) for p in parts]
        for paragraph in _split_lines(spans):
            for line in _wrap(paragraph, max(1, self.width - indent)):
                self.lines.append(" " * indent + self._styled(line) if line else "")

    def panel(self, *, title: str, body: Span, frame: str) -> None:
        """A frame that fits its contents (as wide as the wider of the body and the title), title on top."""
        h, v, corners = ("-", "|", "++++") if self.ascii else ("─", "│", "╭╮╰╯")
        label = f" {self._clean(title)} "
        text = self._clean(body[0])
        inner = min(self.width - 2, max(_cells(text) + 2, _cells(label) + 2))
        rows = _wrap([(text, body[1])], max(1, inner - 2))
        label = _cut(label, inner - 2)
        self.lines.append(
            self._paint(corners[0] + h, frame)
            + self._paint(label + h * (inner - 2 - _cells(label)), frame)
            + self._paint(h + corners[1], frame)
        )
        for row in rows:
            pad = " " * (inner - 2 - _cells("".join(t for t, _ in row)))
            self.lines.append(self._paint(v, frame) + " " + self._styled(row) + pad + " " + self._paint(v, frame))
        self.lines.append(self._paint(corners[2] + h * inner + corners[3], frame))

    def _paint(self, text: str, style: str) -> str:
        if not (self.styled and style and text):
            return text
        return f"\x1b[{_sgr(style)}m{text}\x1b[0m"

    def _styled(self, spans: list[Span]) -> str:
        return "".join(self._paint(text, style) for text, style in spans)

    def text(self) -> str:
        return "".join(line.rstrip() + "\n" for line in self.lines)


def _sgr(style: str) -> str:
    """'bold white on red' -> '1;37;41'."""
    codes: list[str] = []
    words = style.split()
    for i, word in enumerate(words):
        if word in _ATTRIBUTES:
            codes.append(_ATTRIBUTES[word])
        elif word in _COLOURS:
            codes.append(str((40 if i > 0 and words[i - 1] == "on" else 30) + _COLOURS[word]))
    return ";".join(codes)


def _char_cells(char: str) -> int:
    if char.isascii():
        return 1
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _cells(text: str) -> int:
    """The columns ``text`` takes on a terminal (wide East Asian characters take two)."""
    return len(text) if text.isascii() else sum(_char_cells(c) for c in text)


def _cut(text: str, cells: int) -> str:
    """The longest start of ``text`` that fits in ``cells`` columns."""
    used = 0
    for i, char in enumerate(text):
        used += _char_cells(char)
        if used > cells:
            return text[:i]
    return text


def _split_lines(spans: list[Span]) -> Iterator[list[Span]]:
    """The spans of each line of a paragraph that contains newlines."""
    line: list[Span] = []
    for text, style in spans:
        pieces = text.split("\n")
        for k, piece in enumerate(pieces):
            if k:
                yield line
                line = []
            if piece:
                line.append((piece, style))
    yield line


def _wrap(spans: list[Span], width: int) -> list[list[Span]]:
    """Greedy word wrap of styled spans: a word goes to the next line when it does not fit; a word longer
    than a whole line is cut; spaces at the end of a line are dropped."""
    plain = "".join(text for text, _ in spans)
    breaks: list[int] = []
    offset = 0
    for match in _WORD.finditer(plain):
        start, word = match.start(), match.group()
        length = _cells(word.rstrip())
        if width - offset >= length:
            offset += _cells(word)
        elif length > width:  # fold a word wider than the line
            piece = word
            if start and offset:
                breaks.append(start)
            while _cells(piece.rstrip()) > width:
                head = _cut(piece, width)
                start += len(head)
                piece = piece[len(head) :]
                breaks.append(start)
            offset = _cells(piece)
        else:
            breaks.append(start)
            offset = _cells(word)
    rows = [_slice(spans, a, b) for a, b in itertools.pairwise([0, *breaks, len(plain)])]
    for row in rows:  # trailing spaces go
        while row and not row[-1][0].rstrip():
            row.pop()
        if row:
            row[-1] = (row[-1][0].rstrip(), row[-1][1])
    return rows


def _slice(spans: list[Span], a: int, b: int) -> list[Span]:
    """The styled spans covering characters ``a``..``b`` of the spans' joined text."""
    out: list[Span] = []
    pos = 0
    for text, style in spans:
        end = pos + len(text)
        lo, hi = max(a, pos), min(b, end)
        if lo < hi:
            out.append((text[lo - pos : hi - pos], style))
        pos = end
    return out
