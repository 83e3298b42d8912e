"""The questionnaire on the web: as data (``GET /api/questionnaire``), as the form at ``/``, and a
submitted form read back into answers.

One source: ``engine.questionnaire.Questionnaire``, the object ``backplan intake`` asks from. The same
groups in the same order (the emergency symptoms first, then the person's basics in
``questionnaire.toml`` order, then the other screening groups), the same wording and help, and each
typed answer parsed by the same ``Field.parse`` the terminal uses. A screening group is answered as
the terminal asks it: "does any of these apply?" (no), or the items that apply (yes).

An answer that makes a declared urgent stop hold ends the questionnaire, as in the terminal: the
advice is shown whatever else the form lacks (``FormReading.emergency``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import BackplanError, IntakeError
from ..intake import Intake, parse_intake
from ..knowledge import Knowledge
from ..planner import RuleBook
from ..questionnaire import _NO_PAIN, Advice, Field, Invalid, Questionnaire, ordered

Kind = Literal["integer", "boolean", "choice", "multiple"]
_KINDS: Mapping[str, Kind] = {"int": "integer", "bool": "boolean", "choice": "choice", "many": "multiple"}

ABOUT = "about"
ABOUT_TITLE = "About you and your back"
FORM_FILE = "the form"  # how errors name the answers a form gave
YES, NO = "yes", "no"
PLEASE_ANSWER = "please answer this question"


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    description: str = ""


@dataclass(frozen=True)
class Item:
    """One question as the page and the API show it; ``id`` is its dotted key in the answers file."""

    id: str
    kind: Kind
    text: str
    help: str
    group: str
    required: bool = True
    choices: tuple[Choice, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    default: str | None = None
    short: str | None = None  # a screening question as listed under its group
    source: str | None = None
    asked_when: tuple[str, str] | None = None  # asked only when this answer is not this value
    otherwise: Any = None  # the answer when not asked
    advice: tuple[Advice, ...] = ()  # a screening question whose "yes" alone ends the questionnaire

    @property
    def name(self) -> str:
        """The form control's name: the dotted key."""
        return self.id

    @property
    def anchor(self) -> str:
        """An HTML id for the question (dots are awkward in CSS selectors)."""
        return "q-" + self.id.replace(".", "-")

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "group": self.group, "kind": self.kind, "text": self.text}
        if self.short is not None:
            out["short"] = self.short
        out["help"] = self.help
        if self.kind == "boolean":
            out["values"] = [True, False]
        elif self.kind == "integer":
            out["minimum"], out["maximum"] = self.minimum, self.maximum
        else:
            out["values"] = [c.value for c in self.choices]
            out["choices"] = [{"value": c.value, "label": c.label, "description": c.description} for c in self.choices]
        out["required"] = self.required
        if self.default is not None:
            out["default"] = self.default
        if self.asked_when is not None:
            key, value = self.asked_when
            out["asked_when"] = {"answer": key, "is_not": value}
            out["otherwise"] = self.otherwise
        if self.source is not None:
            out["source"] = self.source
        if self.advice:
            out["yes_ends_questionnaire"] = [
                {"rule": a.rule, "level": a.level, "message": a.message} for a in self.advice
            ]
        return out


@dataclass(frozen=True)
class Section:
    """A fieldset: one screening group, or the person's basics."""

    id: str
    title: str
    ask: str | None
    screening: bool
    items: tuple[Item, ...]

    @property
    def name(self) -> str:
        """The form control of a screening group's own question (does any of these apply?)."""
        return f"group.{self.id}"

    @property
    def anchor(self) -> str:
        return f"g-{self.id}"

    def data(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "ask": self.ask, "screening": self.screening}


@dataclass
class FormReading:
    """What a submitted form said: the answers read so far, the problems beside each question, and the
    advice that ends the questionnaire (an emergency answer), or a validated intake."""

    answers: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)  # form control name ('' for the whole form) -> message
    emergency: tuple[Advice, ...] = ()
    intake: Intake | None = None


# What only a terminal can do ("(Press Enter for general.)"): a form shows the default already chosen.
_KEYS_ONLY = re.compile(r"\s*\(Press Enter[^)]*\)", re.I)
_CLAUSE = re.compile(r"^\s*([A-Za-z0-9_]+)\s*=\s*(.+?)\s*$", re.S)


def _clauses(help: str) -> dict[str, str]:
    """'a = one thing; b = another' -> {'a': 'one thing', 'b': 'another'} (how the help texts explain choices)."""
    out: dict[str, str] = {}
    for part in help.split("; "):
        match = _CLAUSE.match(part)
        if match:
            out[match.group(1)] = match.group(2).rstrip(".")
    return out


def _one_line(text: str) -> str:
    return " ".join(text.split())


class WebQuestionnaire:
    """The questionnaire of one rule book, laid out for the web (built once, at start)."""

    def __init__(self, book: RuleBook) -> None:
        self.book = book
        self.questionnaire = q = Questionnaire(book)
        self.knowledge: Knowledge = book.knowledge
        sections = [self._group(g) for g in q.first_groups]
        sections.append(Section(ABOUT, ABOUT_TITLE, None, False, tuple(self._item(f) for f in q.fields.values())))
        sections += [self._group(g) for g in q.later_groups]
        self.sections: tuple[Section, ...] = tuple(s for s in sections if s.items)
        self.items: dict[str, Item] = {item.id: item for s in self.sections for item in s.items}
        self.group_of: dict[str, str] = {
            item.id.split(".", 1)[1]: s.id for s in self.sections if s.screening for item in s.items
        }

    # -- building ------------------------------------------------------------------------------

    def _group(self, group_id: str) -> Section:
        k, q = self.knowledge, self.questionnaire
        group = k.groups[group_id]
        items = tuple(
            Item(
                id=f"screening.{sq.id}",
                kind="boolean",
                text=_one_line(sq.text),
                help=_one_line(sq.help),
                group=group_id,
                short=_one_line(sq.short),
                source=sq.source,
                advice=q.emergency({"screening": {sq.id: True}}),
            )
            for sq in q.members[group_id]
        )
        return Section(group_id, group.title, _one_line(group.ask), True, items)

    def _item(self, f: Field) -> Item:
        k = self.knowledge
        described = _clauses(f.help)
        choices: tuple[Choice, ...] = ()
        if f.kind == "many":
            vocab: Mapping[str, Any] = getattr(k, f.name)
            choices = tuple(Choice(c, vocab[c].name) for c in f.choices)  # as the terminal lists them
        elif f.kind == "choice":
            names = {g.id: g.name for g in k.goals.values()} if f.name == "goal" else {}
            choices = tuple(Choice(c, names.get(c, c.capitalize()), described.get(c, "")) for c in f.choices)
        # Help that only explains the choices is shown with them, not again as a paragraph.
        help = "" if choices and described and set(described) >= {c.value for c in choices} else _one_line(f.help)
        asked_when = otherwise = None
        if f.name.startswith("pain.") and f.name.split(".", 1)[1] in _NO_PAIN:
            asked_when, otherwise = ("pain.status", "none"), _NO_PAIN[f.name.split(".", 1)[1]]
        return Item(
            id=f.name,
            kind=_KINDS[f.kind],
            text=_KEYS_ONLY.sub("", f.text).strip(),
            help=help,
            group=ABOUT,
            required=f.default is None,
            choices=choices,
            minimum=f.low if f.kind == "int" else None,
            maximum=f.high if f.kind == "int" else None,
            default=f.default,
            asked_when=asked_when,
            otherwise=otherwise,
        )

    # -- the questionnaire as data ---------------------------------------------------------------

    def data(self) -> dict[str, Any]:
        """Every question with its id, text, help, kind and allowed values, in the order asked."""
        return {
            "groups": [s.data() for s in self.sections],
            "questions": [item.data() for s in self.sections for item in s.items],
        }

    # -- a submitted form --------------------------------------------------------------------------

    def read(self, form: Mapping[str, Sequence[str]]) -> FormReading:
        """The answers a form gives, each checked as the terminal checks what is typed; then the whole
        set validated by ``engine.intake`` (only when every question has an answer)."""
        fields = self.questionnaire.fields
        data: dict[str, Any] = {}
        errors: dict[str, str] = {}
        screening: dict[str, bool] = {}
        for section in self.sections:
            if section.screening:
                self._read_group(section, form, screening, errors)
                continue
            for item in section.items:
                raw = [v for v in form.get(item.name, ()) if v.strip()]
                if item.asked_when is not None:
                    key, value = item.asked_when
                    given = _get(data, key)
                    if given == value:
                        _put(data, item.id, item.otherwise)  # not asked: no pain, nothing to say about it
                        continue
                    if given is None and not raw:
                        continue  # asked once the question it depends on has an answer
                f = fields[item.id]
                if f.kind == "many":
                    text = " ".join(raw)
                elif len(raw) > 1:
                    errors[item.name] = "please give one answer"
                    continue
                elif raw:
                    text = raw[0]
                elif f.default is not None:
                    text = f.default
                else:
                    errors[item.name] = PLEASE_ANSWER
                    continue
                try:
                    _put(data, item.id, f.parse(text))
                except Invalid as exc:
                    errors[item.name] = str(exc)
        data["screening"] = screening
        answers = ordered(data, self.knowledge)
        reading = FormReading(answers, errors, self.questionnaire.emergency(answers))
        if errors:
            return reading
        try:
            reading.intake = parse_intake(answers, self.knowledge, file=FORM_FILE, resumable=False)
        except IntakeError as exc:
            reading.errors[self.control_for(exc.location)] = message_of(exc)
        return reading

    def _read_group(
        self, section: Section, form: Mapping[str, Sequence[str]], screening: dict[str, bool], errors: dict[str, str]
    ) -> None:
        ids = [item.id.split(".", 1)[1] for item in section.items]
        ticked = [i for i, item in zip(ids, section.items, strict=True) if YES in form.get(item.name, ())]
        given = list(form.get(section.name, ()))
        answer = given[-1] if given else None
        if ticked:
            screening.update({i: i in ticked for i in ids})  # a tick is a "yes" even if the group says no
            if answer == NO:
                names = ", ".join(item.short or item.id for item in section.items if item.id.split(".", 1)[1] in ticked)
                errors[section.name] = f"you answered no, but ticked: {names}. Untick them, or answer yes"
        elif answer == NO:
            screening.update(dict.fromkeys(ids, False))
        elif answer == YES:
            errors[section.name] = "you answered yes: tick each one that applies"
        elif answer is None:
            errors[section.name] = "please answer: no, or tick each one that applies"
        else:
            errors[section.name] = "please answer yes or no"

    def control_for(self, location: str | None) -> str:
        """The form control an error location (``pain.intensity``, ``equipment[0]``, ``screening.fever``) is about."""
        if not location:
            return ""
        base = location.split("[", 1)[0]
        if base.startswith("screening."):
            group = self.group_of.get(base.split(".", 1)[1])
            return f"group.{group}" if group else ""
        return base if base in self.items else ""


def message_of(exc: BackplanError) -> str:
    """An error's message for a person or a client: without the file and field (shown apart), with the hint."""
    text = " ".join(exc.message.split())
    if exc.suggestion:
        text += f" (did you mean '{exc.suggestion}'?)"
    return text


def _get(data: Mapping[str, Any], dotted: str) -> Any:
    outer, _, inner = dotted.partition(".")
    value = data.get(outer)
    if inner:
        return value.get(inner) if isinstance(value, Mapping) else None
    return value


def _put(data: dict[str, Any], dotted: str, value: Any) -> None:
    outer, _, inner = dotted.partition(".")
    if inner:
        data.setdefault(outer, {})[inner] = value
    else:
        data[outer] = value
