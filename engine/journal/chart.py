"""The pain trend as pictures: a terminal chart (plain ASCII text) and an SVG chart (a string).

Both take the steps of a progression (``progression.Step``: date, pain during, pain next day, decision)
and the usual intensity from the answers; neither decides anything. The SVG is self-contained (no
scripts, no external references), so a web page or a printed report can embed it as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from .progression import Step

DECISION_MARK = {"progress": "+", "hold": "=", "regress": "-", "stop": "!"}
DECISION_COLOUR = {"progress": "#1a7f37", "hold": "#57606a", "regress": "#bc4c00", "stop": "#cf222e"}
MAX_COLUMNS = 40  # the terminal chart shows the last 40 check-ins


def terminal_chart(steps: Sequence[Step], usual: int, width: int = MAX_COLUMNS) -> str:
    """Pain 0-10 (rows) at each check-in (columns, oldest left): ``*`` during, ``o`` next day, ``#`` both;
    the usual intensity as a line of ``-``; the decision under each column."""
    if not steps:
        return "No check-ins yet: record one with `backplan checkin`.\n"
    shown = list(steps)[-width:]
    lines = [f"Pain trend, {len(shown)} of {len(steps)} check-ins (* during, o next day, # both, - usual {usual}/10)"]
    for level in range(10, -1, -1):
        cells = []
        for step in shown:
            during = step.checkin.pain_during == level
            next_day = step.checkin.pain_next_day == level
            mark = (
                "#" if during and next_day else "*" if during else "o" if next_day else "-" if level == usual else " "
            )
            cells.append(mark + " ")
        lines.append(f"{level:>2} |" + "".join(cells).rstrip())
    lines.append("   +" + "--" * len(shown))
    lines.append("    " + "".join(DECISION_MARK[s.decision] + " " for s in shown).rstrip())
    first, last = shown[0].checkin.date.isoformat(), shown[-1].checkin.date.isoformat()
    lines.append(f"    {first}" + (f" .. {last}" if last != first else ""))
    lines.append("    decisions: + progress, = hold, - regress, ! stop")
    return "\n".join(lines) + "\n"


def svg_chart(steps: Sequence[Step], usual: int, *, width: int = 640, height: int = 260) -> str:
    """An SVG line chart of pain during and next day over the check-ins, with the usual intensity, the
    regression threshold (above 5) and each check-in's decision; an empty chart says there is no data."""
    left, right, top, bottom = 44, 16, 28, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(steps)

    def x(i: int) -> float:
        return left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y(pain: float) -> float:
        return top + plot_h * (10 - pain) / 10

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'role="img" aria-labelledby="pain-trend-title" font-family="sans-serif" font-size="11">',
        '<title id="pain-trend-title">Pain trend: pain during training and the next day, 0 to 10, at each check-in'
        "</title>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#ffffff" stroke="#d0d7de"/>',
    ]
    for level in (0, 2, 4, 6, 8, 10):
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(level):.1f}" y2="{y(level):.1f}" stroke="#eaeef2"/>')
        out.append(f'<text x="{left - 6}" y="{y(level) + 4:.1f}" text-anchor="end" fill="#57606a">{level}</text>')
    out.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{y(5):.1f}" y2="{y(5):.1f}" stroke="#cf222e" '
        'stroke-dasharray="2 3"><title>above 5 during training: one step back</title></line>'
    )
    out.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{y(usual):.1f}" y2="{y(usual):.1f}" stroke="#8250df" '
        f'stroke-dasharray="6 3"><title>usual intensity {usual}/10</title></line>'
    )
    out.append(f'<text x="{left}" y="16" fill="#24292f" font-size="13">Pain trend ({n} check-ins)</text>')
    if not steps:
        out.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" text-anchor="middle" fill="#57606a">'
            "No check-ins yet</text>"
        )
    else:
        during = " ".join(f"{x(i):.1f},{y(s.checkin.pain_during):.1f}" for i, s in enumerate(steps))
        next_day = " ".join(f"{x(i):.1f},{y(s.checkin.pain_next_day):.1f}" for i, s in enumerate(steps))
        out.append(f'<polyline points="{during}" fill="none" stroke="#bc4c00" stroke-width="2"/>')
        out.append(
            f'<polyline points="{next_day}" fill="none" stroke="#0969da" stroke-width="2" stroke-dasharray="5 3"/>'
        )
        for i, s in enumerate(steps):
            c = s.checkin
            tip = escape(
                f"{c.date.isoformat()}: during {c.pain_during}, next day {c.pain_next_day}, done {c.done}"
                + (f", symptoms {', '.join(c.symptoms)}" if c.symptoms else "")
                + f"; decision {s.decision}"
            )
            dot = f'<circle cx="{x(i):.1f}" cy="{y(c.pain_during):.1f}" r="3" fill="#bc4c00">'
            out.append(f"{dot}<title>{tip}</title></circle>")
            out.append(
                f'<rect x="{x(i) - 3:.1f}" y="{top + plot_h + 6}" width="6" height="6" '
                f'fill="{DECISION_COLOUR[s.decision]}"><title>{tip}</title></rect>'
            )
        first, last = steps[0].checkin.date.isoformat(), steps[-1].checkin.date.isoformat()
        out.append(f'<text x="{left}" y="{top + plot_h + 26}" fill="#57606a">{first}</text>')
        if n > 1:
            out.append(
                f'<text x="{left + plot_w}" y="{top + plot_h + 26}" text-anchor="end" fill="#57606a">{last}</text>'
            )
    legend = [
        ("#bc4c00", "during training", ""),
        ("#0969da", "next day", ' stroke-dasharray="5 3"'),
        ("#8250df", "usual", ' stroke-dasharray="6 3"'),
    ]
    lx = left
    ly = height - 12
    for colour, label, dash in legend:
        out.append(
            f'<line x1="{lx}" x2="{lx + 18}" y1="{ly - 4}" y2="{ly - 4}" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        out.append(f'<text x="{lx + 22}" y="{ly}" fill="#24292f">{label}</text>')
        lx += 30 + 7 * len(label)
    for decision, colour in DECISION_COLOUR.items():
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="8" height="8" fill="{colour}"/>')
        out.append(f'<text x="{lx + 11}" y="{ly}" fill="#24292f">{decision}</text>')
        lx += 20 + 7 * len(decision)
    out.append("</svg>")
    return "\n".join(out) + "\n"
