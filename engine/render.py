"""Plain-string renderings of a plan (Markdown for printing or sending to a physiotherapist).

Text is text: rule messages, names and steps are data, never markup. Markdown escapes them
(``md_escape``); ``plain_text`` and ``json_ascii`` make any rendering safe for an output that cannot
encode it (an ASCII-only stdout under ``LANG=C`` or ``PYTHONIOENCODING=ascii``).
"""

from __future__ import annotations

import re
import unicodedata

from .knowledge import Knowledge
from .plan import Plan, PlannedExercise

OUTCOME_HEADLINE = {
    "stop": "STOP — no exercise plan. Do this instead:",
    "consult": "Plan allowed — but check with a doctor or physiotherapist first.",
    "clear": "Cleared to start slowly.",
}
BLOCK_NAMES = {"warm_up": "Warm-up", "main": "Main block", "cool_down": "Stretch"}


def dose(ex: PlannedExercise) -> str:
    """'2 × 8-12' or '2 × hold 30 s'."""
    work = f"{ex.reps} reps" if ex.reps is not None else f"hold {ex.hold_seconds} s"
    return f"{ex.sets} × {work}"


def equipment_text(ex: PlannedExercise, knowledge: Knowledge) -> str:
    if not ex.equipment:
        return "none (floor, mat or household items)"
    return ", ".join(knowledge.equipment[e].name if e in knowledge.equipment else e for e in ex.equipment)


# What a character becomes where it cannot be encoded: the renderings' typography first.
_TYPOGRAPHY = {
    "×": "x", "•": "*", "·": "-", "—": "-", "–": "-", "‐": "-", "‑": "-", "−": "-",
    "≥": ">=", "≤": "<=", "≠": "!=", "±": "+/-", "…": "...", "→": "->", "←": "<-", "↔": "<->", "⇒": "=>",
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "“": '"', "”": '"', "„": '"', "″": '"', "«": '"', "»": '"',
    "°": " deg", "✓": "ok", "✔": "ok", "✗": "x", "✘": "x", "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE",
    "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
    "\u200b": "", "\ufeff": "",
}  # fmt: skip
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _fallback(char: str, encoding: str) -> str:
    if char in _TYPOGRAPHY:
        candidate = _TYPOGRAPHY[char]
    else:
        name = unicodedata.name(char, "")
        if name.startswith("BOX DRAWINGS"):
            horizontal, vertical = "HORIZONTAL" in name, "VERTICAL" in name
            candidate = "-" if horizontal and not vertical else "|" if vertical and not horizontal else "+"
        else:  # é -> e, ² -> 2, ﬁ -> fi
            candidate = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    try:
        candidate.encode(encoding)
    except UnicodeError:
        return "?"
    return candidate if candidate != char else "?"


def plain_text(text: str, encoding: str = "ascii") -> str:
    """``text`` with every character ``encoding`` cannot take replaced by a readable equivalent.

    '×' -> 'x', '•' -> '*', '—' -> '-', '≥' -> '>=', '…' -> '...', curly quotes -> straight, box lines -> '-|+',
    accents dropped ('é' -> 'e'); '?' as the last resort. Characters the encoding takes are kept.
    """

    def replace(match: re.Match[str]) -> str:
        char = match.group()
        try:
            char.encode(encoding)
        except UnicodeError:
            return _fallback(char, encoding)
        return char

    return _NON_ASCII.sub(replace, text)


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def json_ascii(text: str) -> str:
    """JSON text with every non-ASCII character written as a ``\\uXXXX`` escape (as ``ensure_ascii`` does).

    Outside strings JSON is ASCII, so this is the same JSON value in ASCII bytes.
    """
    return _NON_ASCII.sub(_json_escape, text)


_MD_SPECIAL = re.compile(r"[\\`*\[\]<|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|&(?=#?[A-Za-z0-9]+;)")
_MD_BLOCK_START = re.compile(r"^(?:[#>+=-]|(\d+)(?=[.)]))")


def md_escape(text: str) -> str:
    """Data as literal Markdown on one line: emphasis, links, code, HTML, entities and table pipes escaped.

    An underscore inside a word (``bird_dog``) is left alone: CommonMark never reads it as emphasis.
    """
    escaped = _MD_SPECIAL.sub(r"\\\g<0>", " ".join(text.split()))
    return _MD_BLOCK_START.sub(lambda m: f"{m.group(1)}\\" if m.group(1) else f"\\{m.group()}", escaped)


def _code(name: str) -> str:
    """An id as a code span; escaped text if it could not be one."""
    return f"`{name}`" if name and "`" not in name and name == " ".join(name.split()) else md_escape(name)


def render_markdown(plan: Plan, knowledge: Knowledge) -> str:
    """The plan as Markdown; every piece of data in it (messages, names, steps) is escaped, never markup."""
    e = md_escape
    out: list[str] = ["# Your back training plan", ""]
    out += [f"**Safety screen: {plan.screen.outcome.upper()}** — {OUTCOME_HEADLINE[plan.screen.outcome]}", ""]
    for reason in plan.screen.reasons:
        out.append(f"- {e(reason.message)} _(rule {_code(reason.rule)})_")
    if plan.screen.reasons:
        out.append("")
    if plan.warnings:
        out += ["## Warnings", ""]
        for w in plan.warnings:
            out.append(f"- **{w.level.upper()}**: {e(w.message)} _(rule {_code(w.rule)}, source: {e(w.source)})_")
        out.append("")
    if plan.programme is None:
        out += ["No exercises are given until the advice above has been followed.", ""]
    else:
        programme = knowledge.programmes[plan.programme]
        out += [
            f"## Programme: {e(programme.name)}",
            "",
            e(programme.description),
            "",
            f"Sessions per week: {e(str(plan.sessions_per_week))}",
            "",
        ]
        for session in plan.sessions:
            out += [f"### {e(session.name)}", ""]
            out += ["| Block | Exercise | Sets × reps / hold | Rest | Equipment |", "|---|---|---|---|---|"]
            for ex in session.exercises:
                out.append(
                    f"| {BLOCK_NAMES[ex.block]} | {e(ex.name)} | {e(dose(ex))} | {ex.rest_seconds} s | "
                    f"{e(equipment_text(ex, knowledge))} |"
                )
            out.append("")
            if session.stretch_minutes:
                out += [f"Finish with about {session.stretch_minutes} minutes of stretching.", ""]
            for ex in session.exercises:
                out += [f"#### {e(ex.name)}", ""]
                out += [f"{i}. {e(step)}" for i, step in enumerate(ex.steps, 1)]
                out += ["", f"_Why: rules {', '.join(_code(r) for r in ex.because)}; source: {e(ex.source)}._", ""]
    if plan.excluded:
        out += ["## Left out for safety", ""]
        for item in plan.excluded:
            name = knowledge.exercises[item.id].name if item.id in knowledge.exercises else item.id
            reasons = "; ".join(f"{e(r.message)} ({_code(r.rule)})" for r in item.because)
            out.append(f"- {e(name)}: {reasons}")
        out.append("")
    p = plan.provenance
    out += [
        "---",
        "",
        f"backplan {p.engine_version} · rules {p.rules_digest[:19]} · knowledge {p.knowledge_digest[:19]}",
        "",
    ]
    return "\n".join(out)
