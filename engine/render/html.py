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
def exercise_pictures(knowledge: Knowledge, exercises: Mapping[str, str]) -> dict[str, str | None]:
    """Inline SVG for each exercise id (``exercises``: id -> name as a person reads it); None: no figure."""
    from ..figures import FIGURE_DIR, exercise_svg, load_figures

    if not (Path(knowledge.root) / FIGURE_DIR).is_dir():
        return dict.fromkeys(exercises)
    figures = load_figures(Path(knowledge.root))
    return {
        ex_id: exercise_svg(figures, ex_id, name) if ex_id in figures else None for ex_id, name in exercises.items()
    }


def render_html(plan: Plan, knowledge: Knowledge, *, date: _dt.date | None = None, for_physio: bool = False) -> str:
    """The plan as one self-contained HTML page (inline CSS and SVG pictures; nothing fetched)."""
    r = reading(plan, knowledge, date=date, for_physio=for_physio)
    names = {ex.id: ex.name for s in r.sessions for ex in s.exercises}
    return html_of(r, exercise_pictures(knowledge, names))


def html_of(r: Reading, pictures: dict[str, str | None]) -> str:
    from markupsafe import Markup

    safe = {k: Markup(v) if v else None for k, v in pictures.items()}  # SVG drawn by engine.figures
    appendix = physio_lines(r.physio) if r.physio is not None else None
    return str(_template().render(r=r, pictures=safe, appendix=appendix))
