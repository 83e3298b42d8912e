"""The plan as Markdown: a document to print or send to a physiotherapist. Every piece of data is escaped."""

from __future__ import annotations

import datetime as _dt

from ..knowledge import Knowledge
from ..plan import Plan
from .escape import md_escape
from .words import Reading, physio_lines, reading


def render_markdown(plan: Plan, knowledge: Knowledge, *, date: _dt.date | None = None, for_physio: bool = False) -> str:
    """The plan as Markdown; messages, names and steps are escaped, never markup."""
    return markdown_of(reading(plan, knowledge, date=date, for_physio=for_physio))


def markdown_of(r: Reading) -> str:
    e = md_escape
    out: list[str] = [f"# {e(r.title)}", ""]
    if r.date:
        out += [f"Made on {e(r.date)}.", ""]
    out += ["## Whom it is for", ""]
    out += [f"- **{e(label)}:** {e(value)}" for label, value in r.whom]
    out += ["", f"## Safety screen: {e(r.outcome_word)}", "", f"**{e(r.headline)}**", ""]
    out += [f"- {e(reason)}" for reason in r.reasons]
    if r.reasons:
        out.append("")
    if r.warnings:
        out += ["## Before and while you train" if not r.stopped else "## Also", ""]
        out += [f"- **{e(w.word)}:** {e(w.message)}" for w in r.warnings]
        out.append("")
    if r.stopped or r.programme is None:
        out += ["No exercises are given until the advice above has been followed.", ""]
    else:
        out += [f"## {e(r.programme)}", "", e(r.programme_description), ""]
        out += [f"Sessions per week: {e(r.sessions_per_week or '')}", ""]
        for session in r.sessions:
            out += [f"### {e(session.name)}", ""]
            for n, ex in enumerate(session.exercises, 1):
                out += [f"#### {n}. {e(ex.name)} — {e(ex.dose)}", ""]
                out += [f"*{e(ex.block)} · {e(ex.kind)} · equipment: {e(ex.equipment)}*", ""]
                if ex.why:
                    out += [f"Why: {e(ex.why)}", ""]
                if ex.first:
                    out += [f"{i}. {e(step)}" for i, step in enumerate(ex.steps, 1)]
                else:
                    out.append(f"Steps as in {e(ex.first_session)}.")
                out.append("")
                if ex.cautions:
                    out += [f"> **Careful:** {e(c)}" for c in ex.cautions]
                    out.append("")
            if session.stretch_minutes:
                out += [f"Finish with about {session.stretch_minutes} minutes of stretching.", ""]
        if r.progression:
            out += ["## How to progress", "", e(r.progression), ""]
        if r.left_out:
            out += [f"{r.left_out} exercises of the catalogue were left out for your safety.", ""]
    if r.sources:
        out += ["## Sources", ""]
        out += [f"{i}. {e(source)}" for i, source in enumerate(r.sources, 1)]
        out.append("")
    if r.physio is not None:
        out += ["## Appendix for the physiotherapist: the rules behind this plan", ""]
        for heading, lines in physio_lines(r.physio):
            out += [f"### {e(heading)}", ""]
            out += [f"- {e(line)}" for line in lines]
            out.append("")
    out += ["---", "", e(r.footer), ""]
    return "\n".join(out)
