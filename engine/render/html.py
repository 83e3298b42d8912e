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
from functools import cache
from importlib import resources
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


# --- PICTURES: the call site for the exercise figures -------------------------------------------------
# The figures (a start and an end position per exercise, drawn from joint angles in knowledge/figures/)
# are the figures developer's ``engine.figures``: ``load_figures(knowledge_root) -> Figures`` and
# ``exercise_svg(figures, exercise_id) -> str`` (inline SVG). Until that module is merged, every exercise
# gets its name in the picture's place; after, its picture, with no change here.
def exercise_pictures(knowledge: Knowledge, exercise_ids: list[str]) -> dict[str, str | None]:
    """Inline SVG for each exercise id (None where no picture can be drawn)."""
    try:
        from .. import figures as _figures  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return dict.fromkeys(exercise_ids)
    drawn = _figures.load_figures(knowledge.root)
    out: dict[str, str | None] = {}
    for ex_id in exercise_ids:
        try:
            out[ex_id] = str(_figures.exercise_svg(drawn, ex_id))
        except (KeyError, LookupError, ValueError):
            out[ex_id] = None
    return out


def render_html(plan: Plan, knowledge: Knowledge, *, date: _dt.date | None = None, for_physio: bool = False) -> str:
    """The plan as one self-contained HTML page (inline CSS and SVG pictures; nothing fetched)."""
    r = reading(plan, knowledge, date=date, for_physio=for_physio)
    ids = list(dict.fromkeys(ex.id for s in r.sessions for ex in s.exercises))
    return html_of(r, exercise_pictures(knowledge, ids))


def html_of(r: Reading, pictures: dict[str, str | None]) -> str:
    from markupsafe import Markup

    safe = {k: Markup(v) if v else None for k, v in pictures.items()}  # SVG drawn by engine.figures
    appendix = physio_lines(r.physio) if r.physio is not None else None
    return str(_template().render(r=r, pictures=safe, appendix=appendix))
