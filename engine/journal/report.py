"""What the journal commands print: the decision above the adjusted plan, the trace for ``explain``, and
the progression rules as a reviewer reads them (``rules list`` / ``rules show``). Nothing here decides."""

from __future__ import annotations

from html import escape as html_escape
from pathlib import Path

from ..render import md_escape
from .chart import svg_chart, terminal_chart
from .progression import Outcome, Progression
from .rules import ProgressionRules

DECISION_TEXT = {
    "progress": "PROGRESS: one step up in dose (shown in the plan below).",
    "hold": "HOLD: keep the same dose.",
    "regress": "REGRESS: one step back in dose (never below the starting dose).",
    "stop": "STOP: no training. Do what the warnings say first.",
}


def _reasons(outcome: Outcome, progression: Progression) -> list[tuple[str, str]]:
    rules = progression.rules.by_id()
    plan_rules = progression.book.rules.by_id()
    out = []
    for rule_id in outcome.because:
        item = rules.get(rule_id)
        title = item.rule.title if item else plan_rules[rule_id].rule.title if rule_id in plan_rules else rule_id
        out.append((rule_id, title))
    return out


def _level(outcome: Outcome) -> str:
    level = outcome.steps[-1].level if outcome.steps else 0
    top = outcome.ladder.top
    if outcome.plan.programme is None:
        return "no dose: no exercises"
    if not top:
        return "every dose is at its ceiling already (the strength programme's dose for your experience)"
    return f"dose step {level} of {top} above the starting dose"


def progress_text(outcome: Outcome, progression: Progression, usual: int) -> str:
    """The decision, its reasons in words (the rule ids are in the JSON and ``explain --person``) and the
    pain trend, for the terminal (plain ASCII-safe text)."""
    lines = [f"Journal decision after {len(outcome.steps)} check-ins: {DECISION_TEXT[outcome.decision]}"]
    lines += [f"  because: {title}" for _, title in _reasons(outcome, progression)]  # ids: JSON, explain
    lines.append(f"  {_level(outcome)}")
    lines.append("")
    return "\n".join(lines) + "\n" + terminal_chart(outcome.steps, usual) + "\n"


def progress_markdown(outcome: Outcome, progression: Progression, usual: int) -> str:
    lines = [
        "# Training journal",
        "",
        f"**Decision after {len(outcome.steps)} check-ins: {outcome.decision.upper()}** — "
        f"{md_escape(DECISION_TEXT[outcome.decision].split(': ', 1)[1])}",
        "",
    ]
    lines += [f"- {md_escape(title)}" for _, title in _reasons(outcome, progression)]
    lines += [
        "",
        md_escape(_level(outcome).capitalize() + "."),
        "",
        "```text",
        terminal_chart(outcome.steps, usual).rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines) + "\n"


def progress_html(outcome: Outcome, progression: Progression, usual: int) -> str:
    """A self-contained HTML section (decision, rules, SVG chart) to put at the top of the plan's page."""
    reasons = "".join(f"<li>{html_escape(title)}</li>" for _, title in _reasons(outcome, progression))
    return (
        '<section class="journal" aria-label="Training journal">'
        f"<h2>Training journal: {html_escape(outcome.decision.upper())}</h2>"
        f"<p>{html_escape(DECISION_TEXT[outcome.decision])} After {len(outcome.steps)} check-ins; "
        f"{html_escape(_level(outcome))}.</p>"
        f"<ul>{reasons}</ul>" + svg_chart(outcome.steps, usual) + "</section>\n"
    )


def into_page(page: str, section: str) -> str:
    """``section`` placed at the start of an HTML page's body (or in front of a page without one)."""
    lower = page.lower()
    start = lower.find("<body")
    if start < 0:
        return section + page
    end = page.find(">", start)
    return page[: end + 1] + "\n" + section + page[end + 1 :]


def trace_lines(outcome: Outcome, progression: Progression) -> list[str]:
    """For ``explain --person``: at each check-in, its facts, the rules that fired and the decision."""
    lines = [f"Journal: {len(outcome.steps)} check-ins; decision {outcome.decision}"]
    for step in outcome.steps:
        c, f = step.checkin, step.fact
        lines.append(
            f"{step.seq:>3}. {c.date} during {c.pain_during}, next day {c.pain_next_day} "
            f"({f['next_day_over_usual']:+d} on usual), done {c.done}"
            + (f", symptoms {', '.join(c.symptoms)}" if c.symptoms else "")
            + (", red flag" if f["red_flag"] else "")
            + (", at ceiling" if f["at_ceiling"] else "")
        )
        lines.append(f"     fired: {', '.join(step.fired)} -> {step.decision} (dose step {step.level})")
    return lines


def rule_rows(rules: ProgressionRules) -> list[tuple[str, int, str, str]]:
    """(id, priority, title, source) for ``rules list``, in priority order."""
    return [(r.id, r.rule.priority, r.rule.title, r.rule.source) for r in rules.rules]


def describe(rule_id: str, rules: ProgressionRules, source_title: str, source_ref: str) -> str:
    item = rules.by_id()[rule_id]
    r = item.rule
    try:
        file = Path(item.file).relative_to(Path(rules.root).parent).as_posix()
    except ValueError:
        file = item.file
    return "\n".join(
        [
            f"{r.id}: {r.title}",
            f"  file:     {file}",
            f"  stage:    progression ({r.phase} phase), priority {r.priority} (lower wins)",
            "  when:     " + "\n            ".join(r.describe()),
            f"  then:     {r.effect()}",
            f"  why:      {' '.join(r.rationale.split())}",
            f"  source:   {r.source} — {source_title} ({source_ref})",
        ]
    )
