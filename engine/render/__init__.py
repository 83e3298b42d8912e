"""Renderings of a finished ``Plan``: terminal text, Markdown and one printable HTML page.

``render_text``, ``render_markdown`` and ``render_html`` share the person's words (``words.reading``); none
of them decides anything. ``jinja2`` (html) is imported only when that format is used, so the other formats
never pay for it; terminal text needs no library beyond the standard one.
"""

from __future__ import annotations

from .escape import json_ascii, md_escape, plain_text
from .html import render_html
from .markdown import render_markdown
from .text import render_text, terminal_width
from .words import BLOCK_NAMES, OUTCOME_HEADLINE, Reading, dose, equipment_text, reader_text, reading

__all__ = [
    "BLOCK_NAMES",
    "OUTCOME_HEADLINE",
    "Reading",
    "dose",
    "equipment_text",
    "json_ascii",
    "md_escape",
    "plain_text",
    "reader_text",
    "reading",
    "render_html",
    "render_markdown",
    "render_text",
    "terminal_width",
]
