"""The printable plan page, and the bar of actions shown above it on screen (not on paper).

``PlanPages.document`` is the one place the web app turns a plan into its printable page: the same page
as ``backplan plan --format html`` (``engine.render.render_html``), with the actions added above it.
"""

from __future__ import annotations

import datetime
import re

from ..knowledge import Knowledge
from ..plan import Plan
from ..render.html import Pictures, render_html


class PlanPages:
    """The printable plan pages of one knowledge base: ``engine.render.render_html``'s page, dated today,
    with the knowledge's pictures kept for every page (a server loads its knowledge once, at start)."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.pictures = Pictures(knowledge)

    def document(self, plan: Plan, *, for_physio: bool = False) -> str:
        """The plan as one self-contained printable HTML page, dated today: the page
        ``backplan plan --format html --date TODAY`` writes."""
        return render_html(
            plan, self.knowledge, date=datetime.date.today(), for_physio=for_physio, pictures=self.pictures
        )


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
