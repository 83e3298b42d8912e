"""The stage pipeline, declared once: what runs, in which order, and when a stage runs at all.

    answers -> screen -> (a stop ends here: no plan) -> route -> (a programme is chosen) -> select -> assemble

The planner (``stages.decide``) walks ``PIPELINE`` to evaluate real intakes with durable_rules; the
solver encoding (``symbolic.Logic``, used by ``rules check`` and ``verify``) reads the same declaration
to say, for every possible intake, when a rule of a stage can fire. Neither has its own copy of the
order, of "a stop ends the screen", or of how the programme is chosen among several.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, NamedTuple

Gate = Literal["always", "not_stopped", "planned"]


class StageSpec(NamedTuple):
    name: Literal["screen", "route", "select"]
    runs: Gate  # always; unless the screen stopped; only once a programme is chosen (hence not stopped)
    sees_programme: bool  # the stage's fact carries ``programme``
    purpose: str


PIPELINE: tuple[StageSpec, ...] = (
    StageSpec("screen", "always", False, "danger: stop (no plan, what to do instead), consult and caution warnings"),
    StageSpec("route", "not_stopped", False, "which programme: the most conservative one chosen wins"),
    StageSpec("select", "planned", True, "which exercises: include, exclude, prefer, prescribe, limit"),
)


def programme_order(ranks: dict[str, int]) -> list[str]:
    """Programme ids, the most conservative first: ``caution_rank``, then id (a fixed order for ties)."""
    return sorted(ranks, key=lambda p: (ranks[p], p))


def choose_programme(chosen: Iterable[str], ranks: dict[str, int]) -> str | None:
    """Of the programmes the route rules chose, the one the select stage sees (None: none was chosen)."""
    wanted = set(chosen)
    return next((p for p in programme_order(ranks) if p in wanted), None)
