"""Hypothesis strategies for valid intakes over the bundled vocabularies."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from engine import default_knowledge_dir, load_knowledge

_K = load_knowledge(default_knowledge_dir())
EQUIPMENT = sorted(_K.equipment)
CONDITIONS = sorted(_K.conditions)
SCREENING = list(_K.screening)
GOALS = sorted(_K.goals)


@st.composite
def answers(draw: st.DrawFn, red_flag_rate: float = 0.1) -> dict[str, Any]:
    status = draw(st.sampled_from(["none", "acute", "subacute", "chronic"]))
    intensity = 0 if status == "none" and draw(st.booleans()) else draw(st.integers(0, 10))
    return {
        "age": draw(st.integers(16, 100)),
        "experience": draw(st.sampled_from(["beginner", "intermediate", "advanced"])),
        "goal": draw(st.sampled_from(GOALS)),
        "equipment": draw(st.lists(st.sampled_from(EQUIPMENT), unique=True)),
        "conditions": draw(st.lists(st.sampled_from(CONDITIONS), unique=True)),
        "pain": {"status": status, "intensity": intensity, "radiates_to_leg": draw(st.booleans())},
        "screening": {q: draw(st.booleans()) if draw(st.floats(0, 1)) < red_flag_rate else False for q in SCREENING},
    }
