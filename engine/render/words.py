"""The plan in a person's words, shared by every format (text, markdown, html).

``reading(plan, knowledge)`` turns a finished ``Plan`` into a ``Reading``: whom it is for (from the plan's
``intake``), the screen result, the warnings not already given as the screen's reasons, each session's
exercises with their dose, steps, cautions and why, progression advice, and the sources as a reader finds
them. It never decides anything: every fact comes from the plan or the knowledge.

Plain words: no rule ids, file names, exercise ids or seed numbers reach a ``Reading``'s person-facing
fields; the rule ids are kept apart (``Reading.physio``) for the optional appendix for a physiotherapist.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from ..knowledge import Knowledge
from ..plan import Plan, PlannedExercise

OUTCOME_HEADLINE = {
    "stop": "STOP — no exercise plan. Do this instead:",
    "consult": "Plan allowed — but check with a doctor or physiotherapist first.",
    "clear": "Cleared to start slowly.",
}
OUTCOME_WORD = {"stop": "STOP", "consult": "CHECK FIRST", "clear": "CLEAR"}
LEVEL_WORD = {"urgent": "URGENT", "consult": "SEE A DOCTOR", "caution": "CAREFUL", "info": "TIP"}
BLOCK_NAMES = {"warm_up": "Warm-up", "main": "Main block", "cool_down": "Stretch"}
PAIN_WORDS = {
    "acute": "acute (less than 6 weeks)",
    "subacute": "subacute (6 to 12 weeks)",
    "chronic": "chronic (more than 12 weeks)",
}
NO_EQUIPMENT = "none (floor, mat or household items)"

# A citation left in a catalogue or rule text ("(seed 002)", "(seeds 000, 002)"): the reader gets the
# sources list instead.
_CITATION = re.compile(r"\s*\((?:see )?seeds? \d{3}[^)]*\)", re.I)


def reader_text(text: str) -> str:
    """``text`` for a person: citations by seed number removed (the sources list names them)."""
    return " ".join(_CITATION.sub("", text).split())


def dose(ex: PlannedExercise) -> str:
    """'2 × 8-12 reps' or '2 × hold 30 s'."""
    if ex.reps is None:
        work = f"hold {ex.hold_seconds} s"
    elif ex.reps.endswith(" each side"):
        work = f"{ex.reps.removesuffix(' each side')} reps each side"
    else:
        work = f"{ex.reps} reps"
    return f"{ex.sets} × {work}"


def dose_line(ex: PlannedExercise) -> str:
    """'2 × hold 30 s, rest 30 s between sets' (one set: no rest between sets to give)."""
    rest = f", rest {ex.rest_seconds} s between sets" if ex.sets > 1 and ex.rest_seconds else ""
    return dose(ex) + rest


def equipment_text(ex: PlannedExercise, knowledge: Knowledge) -> str:
    if not ex.equipment:
        return NO_EQUIPMENT
    return ", ".join(knowledge.equipment[e].name if e in knowledge.equipment else e for e in ex.equipment)


def date_text(day: _dt.date) -> str:
    return f"{day.day} {day.strftime('%B')} {day.year}"


class ExerciseReading(NamedTuple):
    id: str
    name: str
    block: str
    kind: str  # the movement pattern, in words ("Vertical pull")
    dose: str
    equipment: str
    steps: tuple[str, ...]
    cautions: tuple[str, ...]
    why: str
    first: bool  # the first time this exercise appears in the plan (steps shown in full)
    first_session: str
    because: tuple[str, ...]  # rule ids: the physiotherapist's appendix only
    dosed_by: tuple[str, ...]


class SessionReading(NamedTuple):
    name: str
    exercises: tuple[ExerciseReading, ...]
    stretch_minutes: int | None


class WarningReading(NamedTuple):
    level: str
    word: str
    message: str


class PhysioAppendix(NamedTuple):
    """Rule ids for the physiotherapist: which rule said what."""

    reasons: tuple[tuple[str, str], ...]  # (rule, message)
    warnings: tuple[tuple[str, str, str], ...]  # (rule, level, message)
    exercises: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...]  # (id, name, because, dosed_by)
    excluded: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]  # (id, name, ((rule, reason), ...))
    fired: tuple[tuple[str, str, str], ...]  # (rule, stage, title)
    provenance: str


class Reading(NamedTuple):
    title: str
    date: str | None
    whom: tuple[tuple[str, str], ...]  # (label, value)
    outcome: str  # clear | consult | stop
    outcome_word: str
    headline: str
    reasons: tuple[str, ...]
    warnings: tuple[WarningReading, ...]  # those not already given as the screen's reasons
    stopped: bool
    programme: str | None
    programme_description: str
    sessions_per_week: str | None
    sessions: tuple[SessionReading, ...]
    progression: str
    left_out: int
    sources: tuple[str, ...]
    footer: str
    physio: PhysioAppendix | None = None
    notes: tuple[str, ...] = ()


def whom(intake: Mapping[str, Any], knowledge: Knowledge) -> tuple[tuple[str, str], ...]:
    """The answers in a few lines: whom the plan is for."""
    out: list[tuple[str, str]] = []
    active = "exercising regularly" if intake.get("active") else "not exercising regularly yet"
    out.append(("Age and experience", f"{intake.get('age')} years old, {intake.get('experience')}, {active}"))
    goal = str(intake.get("goal") or "general")
    out.append(("Goal", knowledge.goals[goal].name if goal in knowledge.goals else goal))
    pain = intake.get("pain") or {}
    status = str(pain.get("status", "none"))
    if status == "none":
        out.append(("Back pain", "none"))
    else:
        leg = ", running down a leg" if pain.get("radiates_to_leg") else ""
        out.append(("Back pain", f"{PAIN_WORDS.get(status, status)}, usually {pain.get('intensity')}/10{leg}"))
    conditions = [
        knowledge.conditions[c].name if c in knowledge.conditions else c for c in intake.get("conditions", [])
    ]
    out.append(("Diagnosed conditions", ", ".join(conditions) or "none"))
    owned = [knowledge.equipment[e].name if e in knowledge.equipment else e for e in intake.get("equipment", [])]
    out.append(("Equipment", ", ".join(owned) or NO_EQUIPMENT))
    screening = intake.get("screening") or {}
    yes = [knowledge.screening[q].short if q in knowledge.screening else q for q, v in screening.items() if v]
    out.append(("Health questions answered yes", "; ".join(yes) or "none"))
    startback = intake.get("startback")
    if startback:
        out.append(("STarT Back score", f"{startback.get('total')} of 9 (distress {startback.get('distress')} of 5)"))
    return tuple(out)


WHY_SHOWN = 2  # the plan lists the most specific reasons first; a person reads the first two


def _why(ex: PlannedExercise, knowledge: Knowledge) -> str:
    """The first reasons of the plan's (most specific first), one per topic ("gentle programme: ...")."""
    topics: set[str] = set()
    reasons: list[str] = []
    for reason in (reader_text(r) for r in ex.why):
        topic = reason.split(":", 1)[0].lower() if ":" in reason else reason
        if topic not in topics and len(reasons) < WHY_SHOWN:
            topics.add(topic)
            reasons.append(reason)
    if not reasons:
        return ""
    text = "; ".join(reasons)
    return text[0].upper() + text[1:] + "."


def _kind(ex_id: str, knowledge: Knowledge) -> str:
    entry = knowledge.exercises.get(ex_id)
    pattern = knowledge.patterns.get(entry.pattern) if entry is not None else None
    return pattern.name if pattern is not None else ""


def _sources(plan: Plan, knowledge: Knowledge) -> tuple[str, ...]:
    ids: list[str] = []
    if plan.programme is not None:
        ids.append(knowledge.programmes[plan.programme].source)
    ids += [w.source for w in plan.warnings]
    ids += [ex.source for s in plan.sessions for ex in s.exercises]
    seen = dict.fromkeys(i for i in ids if i in knowledge.sources)
    return tuple(knowledge.sources[i].citation() for i in seen)


def reading(plan: Plan, knowledge: Knowledge, *, date: _dt.date | None = None, for_physio: bool = False) -> Reading:
    """The plan for a person (and, with ``for_physio``, the rule ids in an appendix)."""
    stopped = plan.screen.outcome == "stop"
    reasons = tuple(reader_text(r.message) for r in plan.screen.reasons)
    given = {r.message for r in plan.screen.reasons}
    warnings = tuple(
        WarningReading(w.level, LEVEL_WORD.get(w.level, w.level.upper()), reader_text(w.message))
        for w in plan.warnings
        if w.message not in given
    )
    sessions: list[SessionReading] = []
    first_seen: dict[str, str] = {}
    for s in plan.sessions:
        exercises = []
        for ex in s.exercises:
            first = ex.id not in first_seen
            first_seen.setdefault(ex.id, s.name)
            exercises.append(
                ExerciseReading(
                    id=ex.id,
                    name=reader_text(ex.name),
                    block=BLOCK_NAMES[ex.block],
                    kind=_kind(ex.id, knowledge),
                    dose=dose_line(ex),
                    equipment=equipment_text(ex, knowledge),
                    steps=tuple(reader_text(step) for step in ex.steps),
                    cautions=tuple(reader_text(c) for c in ex.cautions),
                    why=_why(ex, knowledge),
                    first=first,
                    first_session=first_seen[ex.id],
                    because=ex.because,
                    dosed_by=ex.dosed_by,
                )
            )
        sessions.append(SessionReading(s.name, tuple(exercises), s.stretch_minutes))
    programme = knowledge.programmes[plan.programme] if plan.programme else None
    p = plan.provenance
    footer = f"backplan {p.engine_version} · rules {p.rules_digest[:19]} · knowledge {p.knowledge_digest[:19]}"
    physio = None
    if for_physio:
        names = {ex.id: ex.name for ex in knowledge.exercises.values()}
        physio = PhysioAppendix(
            reasons=tuple((r.rule, r.message) for r in plan.screen.reasons),
            warnings=tuple((w.rule, w.level, w.message) for w in plan.warnings),
            exercises=tuple(
                dict.fromkeys((ex.id, ex.name, ex.because, ex.dosed_by) for s in plan.sessions for ex in s.exercises)
            ),
            excluded=tuple(
                (x.id, names.get(x.id, x.id), tuple((r.rule, r.message) for r in x.because)) for x in plan.excluded
            ),
            fired=tuple((e.rule, e.stage, e.title) for e in plan.trace),
            provenance=footer,
        )
    return Reading(
        title="Your back training plan",
        date=date_text(date) if date else None,
        whom=whom(plan.intake, knowledge),
        outcome=plan.screen.outcome,
        outcome_word=OUTCOME_WORD[plan.screen.outcome],
        headline=OUTCOME_HEADLINE[plan.screen.outcome],
        reasons=reasons,
        warnings=warnings,
        stopped=stopped,
        programme=programme.name if programme else None,
        programme_description=reader_text(programme.description) if programme else "",
        sessions_per_week=plan.sessions_per_week,
        sessions=tuple(sessions),
        progression=reader_text(programme.progression) if programme else "",
        left_out=len(plan.excluded),
        sources=_sources(plan, knowledge),
        footer=footer,
        physio=physio,
    )


def physio_lines(appendix: PhysioAppendix) -> Sequence[tuple[str, list[str]]]:
    """The appendix as (heading, lines), the same in every format."""
    sections: list[tuple[str, list[str]]] = []
    if appendix.reasons:
        sections.append(("Screen reasons", [f"{rule}: {message}" for rule, message in appendix.reasons]))
    if appendix.warnings:
        sections.append(("Warnings", [f"{rule} ({level}): {message}" for rule, level, message in appendix.warnings]))
    if appendix.exercises:
        sections.append(
            (
                "Exercises: selected by / dosed by",
                [
                    f"{ex_id} ({name}): {', '.join(because)}" + (f" / {', '.join(dosed)}" if dosed else "")
                    for ex_id, name, because, dosed in appendix.exercises
                ],
            )
        )
    if appendix.excluded:
        sections.append(
            (
                "Left out by rules",
                [
                    f"{ex_id} ({name}): " + "; ".join(f"{r}: {m}" for r, m in why)
                    for ex_id, name, why in appendix.excluded
                ],
            )
        )
    sections.append(("Rules fired, in order", [f"{rule} [{stage}] {title}" for rule, stage, title in appendix.fired]))
    return sections
