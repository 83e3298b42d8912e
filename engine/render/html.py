"""The plan as one self-contained, printable HTML page (``backplan plan --format html``, and ``backplan serve``).

Everything is inline: the style sheet (with a print style sheet) and the exercise pictures (SVG); nothing is
fetched from the network. The page is a Jinja2 template (``templates/plan.html``) with autoescaping on: every
piece of data (messages, names, steps) is escaped, never markup. Only the pictures, drawn by
``engine.figures`` as SVG, are inserted as markup.

``render_html(plan, knowledge)`` needs nothing from the command line: whom the plan is for comes from the
plan's ``intake`` and the knowledge, so a web app can call it as it is.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..knowledge import Knowledge
from ..plan import Plan
from .words import Reading, physio_lines, reading

TEMPLATE = "plan.html"


@cache
def _template() -> Any:
    import jinja2

    source = resources.files(__package__).joinpath("templates").joinpath(TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(source)


# --- PICTURES: the exercise figures ------------------------------------------------------------------------
# A start and an end position per exercise, drawn by ``engine.figures`` from the joint angles in
# knowledge/figures/ as inline SVG. A knowledge folder without figures/ gives the exercise's name in the
# picture's place; a defective figure file is an error (KnowledgeError), as for any knowledge file.
class Pictures:
    """The exercise pictures of one knowledge base: its figures read and checked once (about 35 ms), each
    exercise drawn once per name it is shown under. ``render_html`` makes one per page; a server keeps
    one for every page it makes (``engine.web.plan_page``)."""

    def __init__(self, knowledge: Knowledge) -> None:
        from ..figures import FIGURE_DIR, load_figures

        root = Path(knowledge.root)
        self.figures = load_figures(root) if (root / FIGURE_DIR).is_dir() else None
        self._drawn: dict[tuple[str, str], str | None] = {}  # at most one entry per exercise and name

    def of(self, exercises: Mapping[str, str]) -> dict[str, str | None]:
        """Inline SVG for each exercise id (``exercises``: id -> name as a person reads it); None: no figure."""
        return {ex_id: self._picture(ex_id, name) for ex_id, name in exercises.items()}

    def _picture(self, exercise_id: str, name: str) -> str | None:
        key = (exercise_id, name)
        if key not in self._drawn:
            from ..figures import exercise_svg

            figures = self.figures
            if figures is not None and exercise_id in figures:
                self._drawn[key] = exercise_svg(figures, exercise_id, name)
            else:
                self._drawn[key] = None
        return self._drawn[key]


def render_html(
    plan: Plan,
    knowledge: Knowledge,
    *,
    date: _dt.date | None = None,
    for_physio: bool = False,
    pictures: Pictures | None = None,
) -> str:
    """The plan as one self-contained HTML page (inline CSS and SVG pictures; nothing fetched).
    ``pictures``: the knowledge's, kept by a caller making many pages (else read for this one)."""
    r = reading(plan, knowledge, date=date, for_physio=for_physio)
    names = {ex.id: ex.name for s in r.sessions for ex in s.exercises}
    return html_of(r, (pictures or Pictures(knowledge)).of(names))


def html_of(r: Reading, pictures: dict[str, str | None]) -> str:
    from markupsafe import Markup

    safe = {k: Markup(v) if v else None for k, v in pictures.items()}  # SVG drawn by engine.figures
    appendix = physio_lines(r.physio) if r.physio is not None else None
    return str(_template().render(r=r, pictures=safe, appendix=appendix))
