"""The knowledge base: exercise catalogue, vocabularies and questionnaire text, loaded from data files.

Everything is validated when loaded (pydantic per file, then cross-file references); loading either
returns a complete ``Knowledge`` or raises ``KnowledgeError`` naming the file, the entry and the
closest valid name. It never half-succeeds.
"""

# Annotations are objects here, not strings (no ``from __future__ import annotations``): pydantic would
# otherwise compile each field's annotation from its text at every start (docs/performance.md).

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from ._tomlio import folder_digest, load_toml_file, pydantic_to_error
from .conditions import Condition
from .dosing import DosingTable, load_dosing
from .dosing import check_references as _check_dosing
from .errors import KnowledgeError, closest

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
LEVELS: tuple[str, ...] = ("beginner", "intermediate", "advanced")
CATEGORIES: tuple[str, ...] = ("mobility", "stabilisation", "strength")
BLOCKS: tuple[str, ...] = ("warm_up", "main", "cool_down")
PAIN_STATUSES: tuple[str, ...] = ("none", "acute", "subacute", "chronic")
# Every intake field that is not a screening question has its wording in questionnaire.toml.
QUESTION_FIELDS: tuple[str, ...] = (
    "age",
    "experience",
    "active",
    "goal",
    "equipment",
    "conditions",
    "pain.status",
    "pain.intensity",
    "pain.radiates_to_leg",
)

Level = Literal["beginner", "intermediate", "advanced"]
Category = Literal["mobility", "stabilisation", "strength"]
Block = Literal["warm_up", "main", "cool_down"]


class _Strict(BaseModel):
    # Lax containers (TOML/JSON give lists) but strict scalars: no "35" -> 35, no 1 -> True.
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class Source(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=3)
    kind: Literal["seed", "guideline", "convention"]
    reference: str = Field(min_length=3, description="seed file name, or the guideline's citation")
    # How a reader finds it: author(s), publisher (or journal) and year, where known.
    author: str = ""
    publisher: str = ""
    year: StrictInt | None = Field(default=None, ge=1900, le=2100)

    def citation(self) -> str:
        """The source as a reader would look it up: title, author, publisher, year."""
        parts = [p for p in (self.author, self.publisher) if p]
        parts.append(str(self.year) if self.year else "no date given")
        return f"{self.title} — {', '.join(parts)}"


class VocabEntry(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=2)
    description: str = ""
    source: str | None = None


class Equipment(VocabEntry):
    pass


class Meaning(_Strict):
    """What an answer means for the plan: an obligation the rules must meet, proved by ``rules check``.

    ``decision``: ``stop`` (no plan; a stop warning of at least ``level``), ``consult`` (a warning of
    level consult or urgent) or ``caution`` (a warning of level caution or above). ``when`` narrows it
    (e.g. "with pain"); ``exclude_tags``: exercises carrying any of these tags are never planned.
    """

    decision: Literal["stop", "consult", "caution"]
    level: Literal["urgent", "consult"] | None = None
    when: Condition | None = None
    exclude_tags: tuple[str, ...] = ()
    note: str = ""

    @field_validator("level")
    @classmethod
    def _level_with_stop(cls, level: str | None, info: Any) -> str | None:
        if (info.data.get("decision") == "stop") != (level is not None):
            raise ValueError("give a level (urgent or consult) with decision = 'stop', and only then")
        return level


class MedicalCondition(VocabEntry):
    """A diagnosed condition. Any condition means a consult; ``exclude_tags`` are never planned with it."""

    question: str = Field(min_length=5, description="how the intake asks about it")
    exclude_tags: tuple[str, ...] = ()


class ScreeningGroup(_Strict):
    """Screening questions that belong together: the intake asks the group, then which ones apply."""

    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=3)
    ask: str = Field(min_length=10, description="the group question: does any of these apply?")


class Finding(_Strict):
    """A declared meaning of answers other than a single screening question (pain, age, STarT Back)."""

    id: str = Field(pattern=ID_PATTERN)
    description: str = Field(min_length=5)
    when: Condition
    yes: tuple[Meaning, ...] = Field(min_length=1)
    source: str


class Tag(VocabEntry):
    # A safety tag says how an exercise loads the spine; rule exclusions work on these, and every
    # exercise must carry at least one (``rules check`` reports one that carries none).
    safety: StrictBool = False


class Muscle(VocabEntry):
    pass


class Goal(VocabEntry):
    pass


class Pattern(VocabEntry):
    pass


class ScreeningQuestion(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    group: str
    text: str = Field(min_length=10, description="the exact question a person is asked")
    short: str = Field(min_length=3, description="the item as listed under its group")
    help: str = Field(min_length=10)
    source: str
    # What a "yes" means (the SPEC table's rows); none = the answer only qualifies other rows.
    yes: tuple[Meaning, ...] = ()

    @field_validator("text")
    @classmethod
    def _is_a_question(cls, text: str) -> str:
        if not text.rstrip().endswith("?"):
            raise ValueError(f"a screening question is asked as a yes/no question, ending in '?': {text!r}")
        return text


class Prescription(_Strict):
    sets: StrictInt = Field(ge=1, le=10)
    reps: str | None = Field(default=None, pattern=r"^\d{1,3}(-\d{1,3})?( each side)?$")
    hold_seconds: StrictInt | None = Field(default=None, ge=1, le=300)
    rest_seconds: StrictInt = Field(ge=0, le=600)

    @field_validator("hold_seconds")
    @classmethod
    def _reps_or_hold(cls, hold: int | None, info: Any) -> int | None:
        reps = info.data.get("reps")
        if (reps is None) == (hold is None):
            raise ValueError("give exactly one of reps or hold_seconds")
        return hold


# A step a person follows: a short sentence, never a blank or a word.
Step = Annotated[str, StringConstraints(min_length=8, pattern=r"\S.*\S")]


class Caution(_Strict):
    """A catalogue note shown only to the people it concerns: ``when`` is a condition on the answers (and
    the facts derived from them), in the rules' condition language."""

    text: str = Field(min_length=5)
    when: Condition


class Exercise(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=3)
    aliases: tuple[str, ...] = ()
    muscles: tuple[str, ...] = Field(min_length=1)
    category: Category
    pattern: str
    level: Level
    # Alternatives: any one option whose every item is owned will do; () means household items only.
    equipment: tuple[tuple[str, ...], ...] = ()
    tags: tuple[str, ...] = Field(min_length=1)
    blocks: tuple[Block, ...] = Field(min_length=1)
    prescription: Prescription
    steps: tuple[Step, ...] = Field(min_length=1)
    # Any one of these mastered first (seed 003: barbell rows only after machine or pulley rows).
    prerequisites: tuple[str, ...] = ()
    # What to watch for: a plain note is shown to everyone, a ``Caution`` only when its condition holds.
    contraindications: tuple[str | Caution, ...] = ()
    never_recommend: StrictBool = False
    never_recommend_reason: str | None = None
    source: str

    @field_validator("equipment")
    @classmethod
    def _options_not_empty(cls, options: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
        if any(len(option) == 0 for option in options):
            raise ValueError("an equipment option cannot be empty; use equipment = [] for none")
        return options

    @field_validator("never_recommend_reason")
    @classmethod
    def _reason_with_flag(cls, reason: str | None, info: Any) -> str | None:
        if info.data.get("never_recommend") and not reason:
            raise ValueError("never_recommend needs a never_recommend_reason")
        return reason

    def notes(self) -> tuple[str, ...]:
        """Every caution text, whoever it concerns (the catalogue's view)."""
        return tuple(c if isinstance(c, str) else c.text for c in self.contraindications)

    def cautions_for(self, fact: Mapping[str, Any]) -> tuple[str, ...]:
        """The cautions that concern the person whose fact (answers and derived facts) is given."""
        return tuple(
            c if isinstance(c, str) else c.text
            for c in self.contraindications
            if isinstance(c, str) or c.when.holds(fact)
        )

    def equipment_for(self, owned: Iterable[str]) -> tuple[str, ...] | None:
        """The first equipment option fully owned, () when none is needed, None when none is owned."""
        if not self.equipment:
            return ()
        have = set(owned)
        for option in self.equipment:
            if set(option) <= have:
                return option
        return None


class BlockTemplate(_Strict):
    block: Block
    name: str
    count: StrictInt = Field(ge=1, le=12)
    categories: tuple[Category, ...] = Field(min_length=1)
    # Slots filled first, in order, one exercise each; the rest of ``count`` is filled by rank.
    patterns: tuple[str, ...] = ()
    minutes: StrictInt | None = Field(default=None, ge=1, le=60)


class SessionTemplate(_Strict):
    name: str
    blocks: tuple[BlockTemplate, ...] = Field(min_length=1)


class Programme(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str
    description: str
    # Lower is more conservative; when rules choose several programmes the most conservative wins.
    caution_rank: StrictInt = Field(ge=0)
    sessions_per_week: str
    sessions: tuple[SessionTemplate, ...] = Field(min_length=1)
    # Exercises with any of these tags are never planned in this programme (an obligation on the rules).
    exclude_tags: tuple[str, ...] = ()
    # Whenever this holds and the screen does not stop, the plan uses this programme (an obligation too).
    required_when: Condition | None = None
    # The exercise level the programme picks closest to (None: the person's own experience).
    aim_level: Level | None = None
    # How to progress, in words for the person (shown with the plan).
    progression: str = ""
    source: str


class Question(_Strict):
    field: str
    text: str = Field(min_length=5)
    help: str = ""


CheckKind = Literal["never_recommend", "equipment", "level", "prerequisite"]
CHECK_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "never_recommend": frozenset({"reason"}),
    "equipment": frozenset({"options"}),
    "level": frozenset({"level", "experience"}),
    "prerequisite": frozenset({"names"}),
}


class EligibilityCheck(_Strict):
    """Why an exercise no rule excluded is still not planned (knowledge/eligibility.toml)."""

    id: str = Field(pattern=ID_PATTERN)
    kind: CheckKind
    message: str = Field(min_length=5, description="what a person reads; {placeholders} per kind")
    source: str

    @model_validator(mode="after")
    def _placeholders(self) -> Self:
        used = set(re.findall(r"{(\w*)}", self.message))
        allowed = CHECK_PLACEHOLDERS[self.kind]
        unknown = sorted(used - allowed)
        if unknown:
            raise ValueError(
                f"message: unknown placeholder {{{unknown[0]}}} for kind {self.kind} "
                f"(it may use: {', '.join('{' + p + '}' for p in sorted(allowed))})"
            )
        return self

    def say(self, **values: str) -> str:
        return self.message.format(**values)


class Knowledge(BaseModel):
    """The validated knowledge base; ``digest`` covers every file it was read from."""

    model_config = ConfigDict(defer_build=True, frozen=True, arbitrary_types_allowed=True)

    root: str
    digest: str
    sources: Mapping[str, Source]
    equipment: Mapping[str, Equipment]
    conditions: Mapping[str, MedicalCondition]
    tags: Mapping[str, Tag]
    muscles: Mapping[str, Muscle]
    goals: Mapping[str, Goal]
    patterns: Mapping[str, Pattern]
    screening: Mapping[str, ScreeningQuestion]
    groups: Mapping[str, ScreeningGroup]
    findings: Mapping[str, Finding]
    programmes: Mapping[str, Programme]
    questions: Mapping[str, Question]
    exercises: Mapping[str, Exercise]
    eligibility: Mapping[str, EligibilityCheck]  # kind -> its check
    dosing: DosingTable  # how much of each exercise (dosing.toml, engine.dosing)

    def exercise(self, exercise_id: str) -> Exercise:
        from .errors import UnknownExerciseError

        if exercise_id not in self.exercises:
            found = _find_exercise(exercise_id, self.exercises)
            if found is not None:
                return self.exercises[found]
            raise UnknownExerciseError(
                f"unknown exercise id '{exercise_id}'",
                location="exercise",
                suggestion=_suggest_exercise(exercise_id, self.exercises),
            )
        return self.exercises[exercise_id]


def _find_exercise(name: str, exercises: Mapping[str, Exercise]) -> str | None:
    """The exercise ``name`` names exactly, whatever its case, spaces and hyphens: an id, a name or an alias."""
    key = _slug(name)
    for ex in exercises.values():
        if key in (ex.id, _slug(ex.name), *(_slug(a) for a in ex.aliases)):
            return ex.id
    return None


def _suggest_exercise(name: str, exercises: Mapping[str, Exercise]) -> str | None:
    hit = closest(name, exercises)
    if hit:
        return hit
    # Also match names and aliases typed as words ("Pull-up", "bird dog").
    lookup = {_slug(alias): ex.id for ex in exercises.values() for alias in (ex.name, *ex.aliases)}
    found = closest(_slug(name), lookup)
    return lookup[found] if found else None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


# file name -> (top-level array key, model)
_VOCAB_FILES: dict[str, tuple[str, type[_Strict]]] = {
    "sources.toml": ("source", Source),
    "equipment.toml": ("equipment", Equipment),
    "conditions.toml": ("condition", MedicalCondition),
    "tags.toml": ("tag", Tag),
    "muscles.toml": ("muscle", Muscle),
    "goals.toml": ("goal", Goal),
    "patterns.toml": ("pattern", Pattern),
    "programmes.toml": ("programme", Programme),
    "questionnaire.toml": ("question", Question),
    "eligibility.toml": ("check", EligibilityCheck),
}
EXERCISE_DIR = "exercises"
SCREENING_FILE = "screening.toml"


def knowledge_digest(root: Path) -> str:
    return folder_digest(root)


def _entries(
    path: Path, key: str, model: type[_Strict], id_field: str = "id", data: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    if data is None:
        data = load_toml_file(path, KnowledgeError)
        unknown = set(data) - {key}
        if unknown:
            name = sorted(unknown)[0]
            raise KnowledgeError(
                f"unknown top-level key '{name}'", file=str(path), location=name, suggestion=closest(name, [key])
            )
    raw = data.get(key, [])
    if not isinstance(raw, list) or not raw:
        raise KnowledgeError(f"expected at least one [[{key}]] entry", file=str(path), location=key)
    out: dict[str, Any] = {}
    for index, item in enumerate(raw):
        label = f"{key}[{index}]"
        if isinstance(item, dict) and isinstance(item.get(id_field), str):
            label = f"{key} '{item[id_field]}'"
        try:
            entry = model.model_validate(item)
        except ValidationError as exc:
            raise pydantic_to_error(exc, model=model, file=str(path), error=KnowledgeError, prefix=label) from None
        ident = getattr(entry, id_field)
        if ident in out:
            raise KnowledgeError(f"duplicate id '{ident}'", file=str(path), location=label)
        out[ident] = entry
    return out


def load_knowledge(root: Path) -> Knowledge:
    """Load and cross-check every knowledge file under ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise KnowledgeError("knowledge folder not found", file=str(root))
    parts: dict[str, dict[str, Any]] = {}
    for name, (key, model) in _VOCAB_FILES.items():
        id_field = "field" if name == "questionnaire.toml" else "id"
        parts[name] = _entries(root / name, key, model, id_field)
    screening_path = root / SCREENING_FILE
    screening = load_toml_file(screening_path, KnowledgeError)
    unknown = sorted(set(screening) - {"group", "question", "finding"})
    if unknown:
        raise KnowledgeError(
            f"unknown top-level key '{unknown[0]}'",
            file=str(screening_path),
            location=unknown[0],
            suggestion=closest(unknown[0], ["group", "question", "finding"]),
        )
    groups = _entries(screening_path, "group", ScreeningGroup, data=screening)
    questions = _entries(screening_path, "question", ScreeningQuestion, data=screening)
    findings = _entries(screening_path, "finding", Finding, data=screening) if "finding" in screening else {}

    exercise_dir = root / EXERCISE_DIR
    files = sorted(exercise_dir.glob("*.toml")) if exercise_dir.is_dir() else []
    if not files:
        raise KnowledgeError("no exercise files (*.toml) found", file=str(exercise_dir))
    exercises: dict[str, Exercise] = {}
    origin: dict[str, Path] = {}
    for path in files:
        for ident, exercise in _entries(path, "exercise", Exercise).items():
            if ident in exercises:
                raise KnowledgeError(
                    f"duplicate exercise id '{ident}' (also in {origin[ident].name})",
                    file=str(path),
                    location=f"exercise '{ident}'",
                )
            exercises[ident] = exercise
            origin[ident] = path

    knowledge = Knowledge(
        root=str(root),
        digest=knowledge_digest(root),
        sources=parts["sources.toml"],
        equipment=parts["equipment.toml"],
        conditions=parts["conditions.toml"],
        tags=parts["tags.toml"],
        muscles=parts["muscles.toml"],
        goals=parts["goals.toml"],
        patterns=parts["patterns.toml"],
        screening=questions,
        groups=groups,
        findings=findings,
        programmes=parts["programmes.toml"],
        questions=parts["questionnaire.toml"],
        exercises=exercises,
        eligibility=_by_kind(parts["eligibility.toml"], root / "eligibility.toml"),
        dosing=load_dosing(root),
    )
    _check_references(knowledge, root, origin)
    _check_dosing(knowledge.dosing, knowledge, root)
    return knowledge


def _by_kind(checks: Mapping[str, EligibilityCheck], file: Path) -> dict[str, EligibilityCheck]:
    out: dict[str, EligibilityCheck] = {}
    for check in checks.values():
        if check.kind in out:
            raise KnowledgeError(
                f"kind '{check.kind}' declared twice (also by '{out[check.kind].id}')",
                file=str(file),
                location=f"check '{check.id}'.kind",
            )
        out[check.kind] = check
    for kind in CHECK_PLACEHOLDERS:
        if kind not in out:
            raise KnowledgeError(f"no check of kind '{kind}': every kind is declared once", file=str(file))
    return out


def _ref(value: str, valid: Mapping[str, Any], what: str, file: Path, location: str) -> None:
    if value not in valid:
        raise KnowledgeError(
            f"unknown {what} '{value}'", file=str(file), location=location, suggestion=closest(value, valid)
        )


def _check_meaning(k: Knowledge, meaning: Meaning, file: Path, location: str) -> None:
    for tag in meaning.exclude_tags:
        _ref(tag, k.tags, "tag", file, f"{location}.exclude_tags")
    # The fields a declaration reads are checked against the intake's fields where the rules are
    # loaded (``rules check``), which knows every field; here only the vocabularies.


def _check_references(k: Knowledge, root: Path, origin: Mapping[str, Path]) -> None:
    for name, vocab in (
        ("equipment.toml", k.equipment),
        ("conditions.toml", k.conditions),
        ("tags.toml", k.tags),
        ("muscles.toml", k.muscles),
        ("goals.toml", k.goals),
        ("patterns.toml", k.patterns),
    ):
        for entry in vocab.values():
            if entry.source is not None:
                _ref(entry.source, k.sources, "source", root / name, f"'{entry.id}'.source")
    screening = root / SCREENING_FILE
    for q in k.screening.values():
        _ref(q.source, k.sources, "source", screening, f"question '{q.id}'.source")
        _ref(q.group, k.groups, "group", screening, f"question '{q.id}'.group")
        for i, meaning in enumerate(q.yes):
            _check_meaning(k, meaning, screening, f"question '{q.id}'.yes[{i}]")
    for group in k.groups.values():
        if not any(q.group == group.id for q in k.screening.values()):
            raise KnowledgeError("a group without questions", file=str(screening), location=f"group '{group.id}'")
    for f in k.findings.values():
        _ref(f.source, k.sources, "source", screening, f"finding '{f.id}'.source")
        for i, meaning in enumerate(f.yes):
            _check_meaning(k, meaning, screening, f"finding '{f.id}'.yes[{i}]")
    for c in k.conditions.values():
        for tag in c.exclude_tags:
            _ref(tag, k.tags, "tag", root / "conditions.toml", f"condition '{c.id}'.exclude_tags")
    for p in k.programmes.values():
        where = root / "programmes.toml"
        _ref(p.source, k.sources, "source", where, f"programme '{p.id}'.source")
    for check in k.eligibility.values():
        _ref(check.source, k.sources, "source", root / "eligibility.toml", f"check '{check.id}'.source")
        for tag in p.exclude_tags:
            _ref(tag, k.tags, "tag", where, f"programme '{p.id}'.exclude_tags")
        for session in p.sessions:
            for block in session.blocks:
                for pattern in block.patterns:
                    _ref(pattern, k.patterns, "pattern", where, f"programme '{p.id}'.patterns")
    questionnaire = root / "questionnaire.toml"
    for field in k.questions:
        _ref(field, dict.fromkeys(QUESTION_FIELDS), "question field", questionnaire, f"question '{field}'")
    for field in QUESTION_FIELDS:
        if field not in k.questions:
            raise KnowledgeError(f"no question for intake field '{field}'", file=str(questionnaire))
    for ex in k.exercises.values():
        file = origin[ex.id]
        loc = f"exercise '{ex.id}'"
        _ref(ex.source, k.sources, "source", file, f"{loc}.source")
        if k.sources[ex.source].kind == "convention":
            raise KnowledgeError(
                f"cites '{ex.source}', a house convention: a catalogue entry cites a seed article or a guideline",
                file=str(file),
                location=f"{loc}.source",
            )
        _ref(ex.pattern, k.patterns, "pattern", file, f"{loc}.pattern")
        for muscle in ex.muscles:
            _ref(muscle, k.muscles, "muscle", file, f"{loc}.muscles")
        for tag in ex.tags:
            _ref(tag, k.tags, "tag", file, f"{loc}.tags")
        for option in ex.equipment:
            for item in option:
                _ref(item, k.equipment, "equipment", file, f"{loc}.equipment")
        for pre in ex.prerequisites:
            _ref(pre, k.exercises, "prerequisite exercise", file, f"{loc}.prerequisites")
            if pre == ex.id:
                raise KnowledgeError("an exercise cannot be its own prerequisite", file=str(file), location=loc)
