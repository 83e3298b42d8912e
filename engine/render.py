"""Plain-string renderings of a plan (Markdown for printing or sending to a physiotherapist)."""

from __future__ import annotations

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


def render_markdown(plan: Plan, knowledge: Knowledge) -> str:
    out: list[str] = ["# Your back training plan", ""]
    out += [f"**Safety screen: {plan.screen.outcome.upper()}** — {OUTCOME_HEADLINE[plan.screen.outcome]}", ""]
    for reason in plan.screen.reasons:
        out.append(f"- {reason.message} _(rule `{reason.rule}`)_")
    if plan.screen.reasons:
        out.append("")
    if plan.warnings:
        out += ["## Warnings", ""]
        for w in plan.warnings:
            out.append(f"- **{w.level.upper()}**: {w.message} _(rule `{w.rule}`, source: {w.source})_")
        out.append("")
    if plan.programme is None:
        out += ["No exercises are given until the advice above has been followed.", ""]
    else:
        programme = knowledge.programmes[plan.programme]
        out += [
            f"## Programme: {programme.name}",
            "",
            programme.description,
            "",
            f"Sessions per week: {plan.sessions_per_week}",
            "",
        ]
        for session in plan.sessions:
            out += [f"### {session.name}", ""]
            out += ["| Block | Exercise | Sets × reps / hold | Rest | Equipment |", "|---|---|---|---|---|"]
            for ex in session.exercises:
                out.append(
                    f"| {BLOCK_NAMES[ex.block]} | {ex.name} | {dose(ex)} | {ex.rest_seconds} s | "
                    f"{equipment_text(ex, knowledge)} |"
                )
            out.append("")
            if session.stretch_minutes:
                out += [f"Finish with about {session.stretch_minutes} minutes of stretching.", ""]
            for ex in session.exercises:
                out += [f"#### {ex.name}", ""]
                out += [f"{i}. {step}" for i, step in enumerate(ex.steps, 1)]
                out += ["", f"_Why: rules {', '.join(f'`{r}`' for r in ex.because)}; source: {ex.source}._", ""]
    if plan.excluded:
        out += ["## Left out for safety", ""]
        for item in plan.excluded:
            name = knowledge.exercises[item.id].name if item.id in knowledge.exercises else item.id
            reasons = "; ".join(f"{r.message} (`{r.rule}`)" for r in item.because)
            out.append(f"- {name}: {reasons}")
        out.append("")
    p = plan.provenance
    out += [
        "---",
        "",
        f"backplan {p.engine_version} · rules {p.rules_digest[:19]} · knowledge {p.knowledge_digest[:19]}",
        "",
    ]
    return "\n".join(out)
