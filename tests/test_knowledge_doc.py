"""docs/knowledge.md documents every field of every knowledge entry model: the models are the list."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

import engine.knowledge as knowledge_module
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "knowledge.md").read_text(encoding="utf-8")
MODELS = sorted(
    name
    for name, obj in vars(knowledge_module).items()
    if isinstance(obj, type)
    and issubclass(obj, BaseModel)
    and obj.__module__ == knowledge_module.__name__
    and not name.startswith("_")
    and name != "Knowledge"
)


def _sections(model: str) -> str:
    """The text of every section whose heading names ``model`` in its closing parentheses."""
    out = ""
    for match in re.finditer(r"^(#+) .*\(([A-Za-z, ]+)\)\s*$", DOC, re.M):
        if model in [name.strip() for name in match[2].split(",")]:
            rest = DOC[match.end() :]
            end = re.search(rf"^#{{1,{len(match[1])}}} ", rest, re.M)
            out += rest[: end.start()] if end else rest
    return out


def test_the_models_are_found() -> None:
    assert {"Exercise", "Prescription", "MedicalCondition", "ScreeningQuestion", "Programme"} <= set(MODELS)


@pytest.mark.parametrize("model", MODELS)
def test_every_field_is_documented(model: str) -> None:
    cls = getattr(knowledge_module, model)
    text = _sections(model)
    assert text, f"docs/knowledge.md has no section headed '... ({model})'"
    # a field is documented in the model's own section or in the section of the model it extends
    text += "".join(_sections(base.__name__) for base in cls.__mro__[1:] if base.__name__ in MODELS)
    missing = [field for field in cls.model_fields if f"| `{field}` |" not in text]
    assert not missing, f"docs/knowledge.md, ({model}): fields not documented: {missing}"
