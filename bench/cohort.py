"""A deterministic, realistic mixed cohort of answers (plain dicts, as read from an answers file).

The mix roughly follows who would use the tool: about half without back pain, the rest acute,
subacute or chronic (some with leg symptoms); a minority with scoliosis or osteochondrosis; every
experience level, most beginners not yet exercising regularly (``active`` false) and most
advanced people active; equipment from "nothing at home" to a full gym; and a few red flags and PAR-Q
answers so the screen's stop and consult paths are exercised too. Vocabularies come from the
knowledge folder, so the cohort stays valid when vocabularies grow.
"""

from __future__ import annotations

import random
from typing import Any

import engine

RED_FLAGS = (
    "saddle_numbness",
    "bladder_bowel_change",
    "progressive_leg_weakness",
    "fever",
    "unexplained_weight_loss",
    "cancer_history",
    "recent_trauma",
    "night_pain",
)
PARQ = ("chest_pain", "heart_condition", "dizziness")
# Share of people exercising regularly, by experience (the inactive are dosed as the table says).
ACTIVE_SHARE = {"beginner": 0.4, "intermediate": 0.75, "advanced": 0.9}
HOME_KIT = ("resistance_band", "gym_ball", "dumbbells", "pull_up_bar", "wall_bars")
GYM_KIT = (
    "pull_up_bar",
    "dumbbells",
    "barbell",
    "bench",
    "cable_machine",
    "row_machine",
    "back_extension_bench",
    "parallel_bars",
    "assisted_pull_up_machine",
)


def _pick(rng: random.Random, items: tuple[str, ...] | list[str], known: set[str]) -> list[str]:
    return sorted(x for x in items if x in known and rng.random() < 0.5)


def answers(rng: random.Random, knowledge: engine.Knowledge) -> dict[str, Any]:
    """One person's answers."""
    equipment_vocab = set(knowledge.equipment)
    roll = rng.random()
    if roll < 0.3:
        equipment: list[str] = []
    elif roll < 0.7:
        equipment = _pick(rng, HOME_KIT, equipment_vocab)
    else:
        equipment = sorted(set(_pick(rng, GYM_KIT, equipment_vocab)) | {"pull_up_bar", "dumbbells"} & equipment_vocab)
    pain_roll = rng.random()
    if pain_roll < 0.5:
        pain = {"status": "none", "intensity": 0, "radiates_to_leg": False}
    else:
        status = rng.choice(["acute", "subacute", "chronic", "chronic"])
        pain = {"status": status, "intensity": rng.randint(1, 9), "radiates_to_leg": rng.random() < 0.2}
    conditions = [c for c in knowledge.conditions if rng.random() < 0.15]
    screening = {q: False for q in knowledge.screening}
    flag_roll = rng.random()
    if flag_roll < 0.04:
        screening[rng.choice([q for q in RED_FLAGS if q in screening])] = True
    elif flag_roll < 0.10:
        screening[rng.choice([q for q in PARQ if q in screening])] = True
    experience = rng.choice(["beginner", "beginner", "intermediate", "advanced"])
    return {
        "age": rng.choice([rng.randint(16, 30), rng.randint(30, 60), rng.randint(60, 85)]),
        "experience": experience,
        "active": rng.random() < ACTIVE_SHARE[experience],
        "goal": rng.choice(sorted(knowledge.goals)),
        "equipment": equipment,
        "conditions": conditions,
        "pain": pain,
        "screening": screening,
    }


def cohort(n: int, knowledge: engine.Knowledge, seed: int = 20240601) -> list[dict[str, Any]]:
    """``n`` answers dicts, the same for the same ``n``, seed and vocabularies."""
    rng = random.Random(seed)
    return [answers(rng, knowledge) for _ in range(n)]
