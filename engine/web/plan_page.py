"""The printable plan page, and the bar of actions shown above it on screen (not on paper).

``PlanPages.document`` is the one place the web app turns a plan into its printable page: the same page
as ``backplan plan --format html`` (``engine.render.render_html``), with the actions added above it.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

from ..figures import FIGURE_DIR, exercise_svg, load_figures
from ..knowledge import Knowledge
from ..plan import Plan
from ..render import reading
from ..render.html import html_of


class PlanPages:
    """The printable plan pages of one knowledge base, as ``engine.render.render_html`` makes them.

    ``render_html`` reads and checks ``knowledge/figures/`` for every page it makes (about 35 ms); a server
    loads its knowledge once, at start, so here the figures are loaded once and each exercise's picture
    is drawn once, and the page is made from the same parts (``reading``, ``exercise_svg``, ``html_of``).
    The tests hold the result to ``backplan plan --format html``, byte for byte."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        root = Path(knowledge.root)
        self.figures = load_figures(root) if (root / FIGURE_DIR).is_dir() else None
        self._pictures: dict[tuple[str, str], str | None] = {}  # at most one entry per exercise and name

    def _picture(self, exercise_id: str, name: str) -> str | None:
        key = (exercise_id, name)
        if key not in self._pictures:
            figures = self.figures
            drawn = figures is not None and exercise_id in figures
            self._pictures[key] = exercise_svg(figures, exercise_id, name) if figures is not None and drawn else None
        return self._pictures[key]

    def document(self, plan: Plan, *, for_physio: bool = False) -> str:
        """The plan as one self-contained printable HTML page, dated today: the page
        ``backplan plan --format html --date TODAY`` writes."""
        r = reading(plan, self.knowledge, date=datetime.date.today(), for_physio=for_physio)
        names = {ex.id: ex.name for s in r.sessions for ex in s.exercises}
        return html_of(r, {ex_id: self._picture(ex_id, name) for ex_id, name in names.items()})


_HEAD_END = re.compile(r"</head\s*>", re.I)
_BODY_START = re.compile(r"<body\b[^>]*>", re.I)


def with_toolbar(document: str, toolbar: str, head: str) -> str:
    """``document`` with ``head`` (links to the toolbar's style and script) at the end of its head and
    ``toolbar`` at the start of its body; a fragment is wrapped in a document first."""
    if not _BODY_START.search(document):
        document = f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"></head><body>{document}</body></html>'
    if _HEAD_END.search(document):
        document = _HEAD_END.sub(lambda m: head + m.group(0), document, count=1)
    return _BODY_START.sub(lambda m: m.group(0) + toolbar, document, count=1)
