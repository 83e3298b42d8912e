"""The interactive questionnaire, driven entirely by ``knowledge/`` (wording, vocabularies, order, meanings).

The I/O is injected (``prompt`` returns what the person typed, ``say`` shows text), so the library
never prints and the CLI, tests and other front ends share one implementation.

The flow: the screening groups whose every item on its own is an urgent stop (the emergency
symptoms) come first; then the person's basics in ``questionnaire.toml`` order (the pain details
only when there is pain); then the other screening groups, in ``screening.toml`` order. A group is
listed by its items' ``short`` wording and asked with its ``ask`` question; a "yes" asks which ones,
and every listed item not chosen is answered "no". ``?`` at any prompt shows the help text.

An answer that makes a declared urgent stop hold (``obligations``: kind question, decision stop,
level urgent) ends the questionnaire at once with the advice of the screen rules that already stop
on the answers given; a stop of level consult shows its advice at once and the questions go on.

Resuming: ``run`` takes the answers read so far (``load_answers``: a possibly partial or version-1
file, not validated) and asks only what they lack (``missing_answers``), and any value that is
present but invalid, saying why. ``answers`` is filled in place as the person answers, so a front end
can save the progress when the input ends part-way.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from ._tomlio import decode_text, pydantic_to_error
from .conditions import Condition
from .errors import IntakeError, closest
from .facts import LIST_FIELDS, field_specs
from .intake import REQUIRED_PAIN, Intake, Startback, answers_to_toml, missing_answers, parse_answers_text, parse_intake
from .knowledge import Knowledge, ScreeningGroup, ScreeningQuestion
from .obligations import Obligation, obligations
from .planner import RuleBook
from .ruleset import LEVEL_ORDER, Stop

Prompt = Callable[[str, str | None], str]
Say = Callable[[str], None]

HELP = "?"
MAX_ANSWERS_BYTES = 1024 * 1024
_YES = ("y", "yes")
_NO = ("n", "no")
_WIDTH = 100
# With no back pain these are not asked: the answers file must still hold them (SPEC.md).
_NO_PAIN = {"intensity": 0, "radiates_to_leg": False}


class Invalid(ValueError):
    """An answer that cannot be accepted; the message says what to type instead."""

    def __init__(self, message: str, *, explain: bool = False) -> None:
        super().__init__(message)
        self.explain = explain  # also show the question's help (what each choice means)


# --- parsing what was typed -------------------------------------------------------------------------


def parse_yes_no(text: str) -> bool:
    word = text.strip().lower()
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise Invalid("please answer y or n (yes or no)")


def parse_int(text: str, low: int, high: int) -> int:
    word = text.strip()
    if not (word.isdigit() or (word.startswith("-") and word[1:].isdigit())) or len(word) > 4:
        raise Invalid(f"please type a whole number from {low} to {high}")
    value = int(word)
    if not low <= value <= high:
        raise Invalid(f"please type a whole number from {low} to {high}")
    return value


def parse_choice(text: str, choices: Sequence[str]) -> str:
    """One of ``choices``: typed in full or as a unique beginning, in any case."""
    word = text.strip().lower()
    if not word:
        raise Invalid(f"please choose one of: {', '.join(choices)}", explain=True)
    by_lower = {c.lower(): c for c in choices}
    if word in by_lower:
        return by_lower[word]
    hits = [c for c in choices if c.lower().startswith(word)]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise Invalid(f"'{text.strip()}' could be {' or '.join(hits)}: type a few more letters", explain=True)
    hint = closest(word, choices)
    raise Invalid(
        f"'{text.strip()}' is not one of: {', '.join(choices)}" + (f" (did you mean '{hint}'?)" if hint else ""),
        explain=True,
    )


def parse_many(text: str, choices: Sequence[str]) -> list[str]:
    """Numbers from the list or ids (or their unique beginnings), separated by spaces or commas.

    Empty or ``none`` means nothing. The result is in list order, each once.
    """
    words = text.replace(",", " ").split()
    if not words or [w.lower() for w in words] in (["none"], ["no"], ["n"]):
        return []
    chosen: set[str] = set()
    for word in words:
        if word.isdigit():
            if not 1 <= int(word) <= len(choices):
                raise Invalid(f"'{word}' is not on the list: type numbers from 1 to {len(choices)}")
            chosen.add(choices[int(word) - 1])
            continue
        try:
            chosen.add(parse_choice(word, choices))
        except Invalid:
            raise Invalid(
                f"'{word}' is not on the list: type numbers from 1 to {len(choices)} (or ids: {', '.join(choices)})"
            ) from None
    return [c for c in choices if c in chosen]


# --- what the questionnaire asks -------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One question that is not a screening question, with how its answer is typed and checked."""

    name: str  # the dotted key in the answers file: "age", "pain.status"
    kind: Literal["int", "bool", "choice", "many"]
    text: str
    help: str
    choices: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()  # for "many": what each choice is called
    low: int = 0
    high: int = 0
    default: str | None = None

    def prompt_text(self) -> str:
        if self.kind == "bool":
            return f"{self.text} [y/n]"
        if self.kind == "choice":
            return f"{self.text} [{'/'.join(self.choices)}]"
        if self.kind == "many":
            return "Numbers or ids, e.g. 1 3 (Enter for none)"
        return self.text

    def parse(self, text: str) -> Any:
        if self.kind == "int":
            return parse_int(text, self.low, self.high)
        if self.kind == "bool":
            return parse_yes_no(text)
        if self.kind == "choice":
            return parse_choice(text, self.choices)
        return parse_many(text, self.choices)

    def check(self, value: Any) -> Any:
        """A value read from a file, or ``Invalid`` saying why it cannot be used."""
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
                raise Invalid(f"must be a whole number from {self.low} to {self.high}")
        elif self.kind == "bool":
            if not isinstance(value, bool):
                raise Invalid("must be true or false")
        elif self.kind == "choice":
            if value not in self.choices:
                raise Invalid(f"must be one of: {', '.join(self.choices)}")
        else:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise Invalid("must be a list of ids")
            unknown = [v for v in value if v not in self.choices]
            if unknown:
                hint = closest(unknown[0], self.choices)
                raise Invalid(f"unknown id '{unknown[0]}'" + (f" (did you mean '{hint}'?)" if hint else ""))
            return [c for c in self.choices if c in value]
        return value


@dataclass(frozen=True)
class Advice:
    """What a screen rule that stops the plan says to do instead."""

    rule: str | None  # None: the declared meaning, when no rule can be judged yet
    level: str
    message: str
    source: str | None = None


@dataclass
class Result:
    """The questionnaire's end: a validated intake, or the advice that ended it early."""

    answers: dict[str, Any]  # in the answers file's order; partial when it ended early
    intake: Intake | None = None
    stopped: tuple[Advice, ...] = ()
    missing: tuple[str, ...] = ()  # what is still unanswered when it ended early


def load_answers(path: Path) -> dict[str, Any]:
    """An answers file as a plain mapping, parsed but not validated (a partial or version-1 file is fine)."""
    file = str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_ANSWERS_BYTES + 1)
    except FileNotFoundError:
        raise IntakeError("file not found", file=file) from None
    except IsADirectoryError:
        raise IntakeError("is a folder, expected a file", file=file) from None
    except OSError as exc:
        raise IntakeError(f"cannot read: {exc.strerror}", file=file) from None
    if len(raw) > MAX_ANSWERS_BYTES:
        raise IntakeError("larger than 1 MiB, not an answers file", file=file)
    data = parse_answers_text(decode_text(raw, file, IntakeError), file=file)
    if not isinstance(data, dict):
        raise IntakeError(f"expected a table/object of answers, got {type(data).__name__}", file=file)
    return data


def ordered(answers: Mapping[str, Any], knowledge: Knowledge) -> dict[str, Any]:
    """The answers in the answers file's order (screening in questionnaire order), partial or not."""
    top = ("age", "experience", "active", "goal", "equipment", "conditions")
    out: dict[str, Any] = {key: answers[key] for key in top if key in answers}
    pain = answers.get("pain")
    if isinstance(pain, Mapping):
        out["pain"] = {key: pain[key] for key in REQUIRED_PAIN if key in pain}
    screening = answers.get("screening")
    if isinstance(screening, Mapping):
        out["screening"] = {q: screening[q] for q in knowledge.screening if q in screening}
    if isinstance(answers.get("startback"), Mapping):
        out["startback"] = dict(answers["startback"])
    return out


def answers_text(answers: Mapping[str, Any], knowledge: Knowledge, *, name: str = "") -> str:
    """The answers (complete or saved part-way) as an answers file that ``--resume`` continues.

    JSON when ``name`` ends in ``.json`` (a JSON file resumed stays JSON), else TOML in SPEC.md's layout.
    """
    data = ordered(answers, knowledge)
    if name.lower().endswith(".json"):
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return answers_to_toml(data, knowledge).lstrip("\n")


def partial_fact(answers: Mapping[str, Any], knowledge: Knowledge) -> dict[str, Any]:
    """The screen fact (``facts.intake_fact``'s shape) for the answers given so far; unanswered keys are absent."""
    fact: dict[str, Any] = {key: answers[key] for key in ("age", "experience", "active", "goal") if key in answers}
    for key in LIST_FIELDS:
        if key in answers:
            have = set(answers[key])
            fact[key] = {item: item in have for item in getattr(knowledge, key)}
    if isinstance(answers.get("pain"), Mapping):
        fact["pain"] = dict(answers["pain"])
    fact["screening"] = dict(answers.get("screening") or {})
    startback = answers.get("startback")  # never asked: what the file holds is final
    given = isinstance(startback, Mapping)
    fact["startback"] = {
        "given": given,
        "total": startback.get("total", 0) if given else 0,  # type: ignore[union-attr]
        "distress": startback.get("distress", 0) if given else 0,  # type: ignore[union-attr]
    }
    return fact


def holds_already(condition: Condition, fact: Mapping[str, Any]) -> bool:
    """Whether ``condition`` holds whatever the answers not given yet will be.

    Evaluation short-circuits, so a result reached without reading a missing field does not depend
    on it; one that needs a missing field (KeyError) is not judged yet.
    """
    try:
        return condition.holds(fact)
    except KeyError:
        return False


# --- the questionnaire ------------------------------------------------------------------------------


class Questionnaire:
    def __init__(self, book: RuleBook) -> None:
        self.book = book
        self.knowledge: Knowledge = book.knowledge
        k = self.knowledge
        self.fields: dict[str, Field] = {name: _field(k, name) for name in k.questions}
        # The declared urgent stops of screening answers; those that hold on a "yes" alone are the emergencies.
        self.urgent: list[Obligation] = [
            o
            for o in obligations(k)
            if o.kind == "question" and o.meaning.decision == "stop" and o.meaning.level == "urgent"
        ]
        alone = {o.subject for o in self.urgent if holds_already(o.premise, {"screening": {o.subject: True}})}
        members: dict[str, list[ScreeningQuestion]] = {g: [] for g in k.groups}
        for question in k.screening.values():
            members[question.group].append(question)
        self.members = members
        self.first_groups = [g for g, qs in members.items() if qs and all(q.id in alone for q in qs)]
        self.later_groups = [g for g in members if g not in self.first_groups]

    # -- the advice ------------------------------------------------------------------------------

    def stop_advice(self, answers: Mapping[str, Any]) -> list[Advice]:
        """The stop messages of the screen rules that already hold on the answers given, most urgent first."""
        fact = partial_fact(answers, self.knowledge)
        found: list[Advice] = []
        for item in self.book.rules.stage("screen"):
            if holds_already(item.rule.when, fact):
                found += [
                    Advice(item.id, a.level, a.message, item.rule.source) for a in item.rule.then if isinstance(a, Stop)
                ]
        return sorted(found, key=lambda a: LEVEL_ORDER.index(a.level) if a.level in LEVEL_ORDER else len(LEVEL_ORDER))

    def emergency(self, answers: Mapping[str, Any]) -> tuple[Advice, ...]:
        """The advice that ends the questionnaire now (empty when no declared urgent stop holds yet)."""
        fact = partial_fact(answers, self.knowledge)
        hit = [o for o in self.urgent if holds_already(o.premise, fact)]
        if not hit:
            return ()
        advice = self.stop_advice(answers)
        if not any(a.level == "urgent" for a in advice):
            # No rule can be judged yet on these answers alone: say what the declaration means.
            k = self.knowledge
            advice = [
                Advice(
                    None, "urgent", " ".join(filter(None, [o.meaning.note.capitalize(), k.screening[o.subject].help]))
                )
                for o in hit
            ] + advice
        return tuple(advice)

    # -- asking ----------------------------------------------------------------------------------

    def _ask(
        self,
        prompt: Prompt,
        say: Say,
        text: str,
        parse: Callable[[str], Any],
        help: Callable[[], None],
        default: str | None = None,
    ) -> Any:
        while True:
            raw = prompt(text, default)
            if not raw.strip() and default is not None:
                raw = default  # Enter takes the default, whatever the front end does with it
            if raw.strip() == HELP:
                help()
                continue
            try:
                return parse(raw)
            except Invalid as exc:
                say(f"  ! {exc}")
                if exc.explain:
                    help()

    def _field_help(self, say: Say, item: Field) -> Callable[[], None]:
        def show() -> None:
            if item.kind == "many":
                say(_numbered(item.choices, item.labels))
            say(_explain(item.help))

        return show

    def _group_help(self, say: Say, questions: Sequence[ScreeningQuestion]) -> Callable[[], None]:
        def show() -> None:
            for number, q in enumerate(questions, 1):
                say(_wrap(f"  {number:>2}. {_one_line(q.short)}", "      "))
                say(_wrap(_one_line(q.help), "       ", "       "))

        return show

    def ask_field(self, prompt: Prompt, say: Say, item: Field) -> Any:
        show = self._field_help(say, item)
        if item.kind == "many":
            say("")
            say(_one_line(item.text))
            say(_numbered(item.choices, item.labels))
            default: str | None = ""
        else:
            default = item.default
        return self._ask(prompt, say, _one_line(item.prompt_text()), item.parse, show, default)

    def ask_group(
        self, prompt: Prompt, say: Say, group: ScreeningGroup, questions: Sequence[ScreeningQuestion]
    ) -> dict[str, bool]:
        """Which of ``questions`` apply: the group question, then (after a yes) which ones."""
        ids = [q.id for q in questions]
        show = self._group_help(say, questions)
        say("")
        say(group.title)
        for number, q in enumerate(questions, 1):
            say(_wrap(f"  {number:>2}. {_one_line(q.short)}", "      "))
        if not self._ask(prompt, say, f"{_one_line(group.ask)} [y/n]", parse_yes_no, show):
            return dict.fromkeys(ids, False)
        if len(ids) == 1:
            return {ids[0]: True}

        def which(text: str) -> list[str]:
            if not text.strip():
                raise Invalid(f"type the number of each one that applies, e.g. 1 3 (from 1 to {len(ids)})")
            return parse_many(text, ids)

        chosen = self._ask(prompt, say, "Which ones? Type their numbers, e.g. 1 3", which, show)
        return {q: q in chosen for q in ids}

    # -- the whole run ---------------------------------------------------------------------------

    def run(
        self,
        prompt: Prompt,
        say: Say,
        answers: MutableMapping[str, Any] | None = None,
        *,
        source: str | None = None,
    ) -> Result:
        """Ask what ``answers`` (read from ``source``, or nothing) lacks; fill ``answers`` in place as it goes."""
        k = self.knowledge
        data: MutableMapping[str, Any] = {} if answers is None else answers
        file = source or "<questionnaire>"
        self._check_startback(data, file)
        if source is None:
            say("backplan questionnaire. Answer each question and press Enter; type ? for an explanation.")
        else:
            say(f"backplan questionnaire, continuing {source}. Type ? at any question for an explanation.")
        self._drop_invalid(data, say, source or "the answers")
        data.setdefault("screening", {})
        shown: set[str] = set()

        def stop_now() -> Result | None:
            advice = self.emergency(data)
            if advice:
                return Result(ordered(data, k), None, advice, tuple(missing_answers(data, k)))
            for a in self.stop_advice(data):
                if a.message not in shown:
                    shown.add(a.message)
                    say("")
                    say(_wrap(f"!!! {a.message}", "    "))
            return None

        resuming = source is not None and (missing_answers(data, k) or "goal" not in data)
        if resuming and (result := stop_now()) is not None:
            return result
        todo = set(missing_answers(data, k))
        todo |= {name for name in self.fields if "." not in name and name not in data}  # optional ones (goal)

        for group in self.first_groups:
            self._screen_group(prompt, say, data, group, todo)
            if (result := stop_now()) is not None:
                return result
        heading = bool(self.first_groups)
        for name, item in self.fields.items():
            if name not in todo or self._answered(data, name):
                continue
            pain = data.get("pain", {})
            if name.startswith("pain.") and name != "pain.status" and pain.get("status") == "none":
                key = name.split(".", 1)[1]
                pain.setdefault(key, _NO_PAIN[key])  # no pain: nothing to ask
                continue
            if heading:
                say("")
                say("Now about you and your back.")
                heading = False
            self._set(data, name, self.ask_field(prompt, say, item))
            if name == "pain.status" and data["pain"]["status"] == "none":
                if data["pain"].get("intensity", 0) != 0:
                    say("  (pain.intensity set to 0: no back pain)")
                data["pain"].update({"intensity": 0, "radiates_to_leg": data["pain"].get("radiates_to_leg", False)})
            if (result := stop_now()) is not None:
                return result
        for group in self.later_groups:
            self._screen_group(prompt, say, data, group, todo)
            if (result := stop_now()) is not None:
                return result
        intake = parse_intake(ordered(data, k), k, file=file)
        return Result(ordered(data, k), intake)

    def _screen_group(
        self, prompt: Prompt, say: Say, data: MutableMapping[str, Any], group: str, todo: set[str]
    ) -> None:
        questions = [q for q in self.members[group] if f"screening.{q.id}" in todo and q.id not in data["screening"]]
        if questions:
            data["screening"].update(self.ask_group(prompt, say, self.knowledge.groups[group], questions))

    @staticmethod
    def _answered(data: Mapping[str, Any], name: str) -> bool:
        if "." in name:
            outer, inner = name.split(".", 1)
            return isinstance(data.get(outer), Mapping) and inner in data[outer]
        return name in data

    @staticmethod
    def _set(data: MutableMapping[str, Any], name: str, value: Any) -> None:
        if "." in name:
            outer, inner = name.split(".", 1)
            data.setdefault(outer, {})[inner] = value
        else:
            data[name] = value

    # -- a file read to be continued -------------------------------------------------------------

    @staticmethod
    def _check_startback(data: Mapping[str, Any], file: str) -> None:
        """STarT Back scores are given by a clinician, never asked: invalid ones are bad input."""
        if "startback" in data:
            try:
                Startback.model_validate(data["startback"])
            except ValidationError as exc:
                raise pydantic_to_error(
                    exc, model=Startback, file=file, error=IntakeError, prefix="startback"
                ) from None

    def _drop_invalid(self, data: MutableMapping[str, Any], say: Say, where: str) -> None:
        """Remove each answer that cannot be used, saying why; it is then asked again."""
        k = self.knowledge

        def drop(key: str, value: Any, why: str) -> None:
            say(f"  ! {where}: {key} = {_show(value)}: {why}; it is asked again.")

        for key in list(data):
            if key in ("pain", "screening", "startback"):
                continue
            if key not in self.fields:
                hint = closest(key, [*self.fields, "pain", "screening", "startback"])
                say(f"  ! {where}: ignoring '{key}', not an answer" + (f" (did you mean '{hint}'?)" if hint else ""))
                del data[key]
                continue
            try:
                data[key] = self.fields[key].check(data[key])
            except Invalid as exc:
                drop(key, data.pop(key), str(exc))
        for table in ("pain", "screening"):
            if table in data and not isinstance(data[table], dict):
                drop(table, data.pop(table), "must be a table of answers")
        pain = data.get("pain", {})
        for key in list(pain):
            name = f"pain.{key}"
            if name not in self.fields:
                hint = closest(key, REQUIRED_PAIN)
                say(f"  ! {where}: ignoring '{name}', not an answer" + (f" (did you mean '{hint}'?)" if hint else ""))
                del pain[key]
                continue
            try:
                pain[key] = self.fields[name].check(pain[key])
            except Invalid as exc:
                drop(name, pain.pop(key), str(exc))
        if pain.get("status") == "none" and pain.get("intensity", 0) != 0:
            say(
                f'  ! {where}: pain.intensity = {pain["intensity"]} does not fit pain.status = "none" '
                "(it must be 0 without back pain); both are asked again."
            )
            del pain["status"], pain["intensity"]
        screening = data.get("screening", {})
        for key in list(screening):
            if key not in k.screening:
                hint = closest(key, k.screening)
                say(
                    f"  ! {where}: ignoring 'screening.{key}', not a screening question"
                    + (f" (did you mean '{hint}'?)" if hint else "")
                )
                del screening[key]
            elif not isinstance(screening[key], bool):
                drop(f"screening.{key}", screening.pop(key), "must be true or false")


# --- an early stop, rendered --------------------------------------------------------------------


def render_stop(result: Result, book: RuleBook, fmt: str = "text") -> str:
    """The advice that ended the questionnaire early, as text, Markdown or JSON (plan-like keys)."""
    from .render import OUTCOME_HEADLINE, md_escape
    from .render.words import LEVEL_WORD

    advice = result.stopped
    if fmt == "json":
        reasons = [{"rule": a.rule, "message": a.message} for a in advice]
        out = {
            "screen": {"outcome": "stop", "reasons": reasons},
            "programme": None,
            "warnings": [{"rule": a.rule, "level": a.level, "message": a.message, "source": a.source} for a in advice],
            "sessions": [],
            "excluded": [],
            "complete": False,
            "missing": list(result.missing),
            "answers": result.answers,
            "provenance": {
                "engine_version": _version(),
                "rules_digest": book.rules.digest,
                "knowledge_digest": book.knowledge.digest,
            },
        }
        return json.dumps(out, indent=2, ensure_ascii=False) + "\n"
    ended = "The questionnaire ended here: no exercises until the advice above has been followed."
    # For the person: what to do, in words; the rule ids stay in the JSON (and in `explain`).
    if fmt == "markdown":
        lines = [f"**Safety screen: STOP** — {OUTCOME_HEADLINE['stop']}", ""]
        lines += [f"- **{LEVEL_WORD.get(a.level, a.level.upper())}:** {md_escape(a.message)}" for a in advice]
        return "\n".join([*lines, "", ended]) + "\n"
    if fmt == "html":
        from html import escape

        items = "".join(
            f"<li><strong>{escape(LEVEL_WORD.get(a.level, a.level))}</strong> {escape(a.message)}</li>" for a in advice
        )
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Safety screen: STOP</title>'
            "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}"
            "section{border:2px solid #b3261e;background:#fdecea;border-radius:.5rem;padding:.75rem 1rem}</style>"
            f"</head><body><section><p><strong>{escape(OUTCOME_HEADLINE['stop'])}</strong></p><ul>{items}</ul>"
            f"</section><p>{escape(ended)}</p></body></html>\n"
        )
    lines = ["SAFETY SCREEN: STOP", OUTCOME_HEADLINE["stop"], ""]
    for a in advice:
        lines.append(_wrap(f"{LEVEL_WORD.get(a.level, a.level.upper())}: {a.message}", "  "))
    return "\n".join([*lines, "", ended]) + "\n"


# --- helpers --------------------------------------------------------------------------------------


def _field(k: Knowledge, name: str) -> Field:
    question = k.questions[name]
    text, help = _one_line(question.text), question.help
    if name in LIST_FIELDS:
        vocab = getattr(k, name)
        return Field(name, "many", text, help, tuple(vocab), tuple(entry.name for entry in vocab.values()))
    spec = field_specs(k)[name]
    default = Intake.model_fields[name].default if name in Intake.model_fields else None
    default = default if isinstance(default, str) else None
    if spec.kind == "int":
        return Field(name, "int", text, help, low=spec.minimum, high=spec.maximum)
    if spec.kind == "bool":
        return Field(name, "bool", text, help)
    return Field(name, "choice", text, help, tuple(str(v) for v in spec.values), default=default)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _wrap(text: str, indent: str = "", first: str = "") -> str:
    return textwrap.fill(text, _WIDTH, initial_indent=first, subsequent_indent=indent)


def _explain(help: str) -> str:
    """A help text, one clause a line ("a = ...; b = ..." lists what each choice means)."""
    return "\n".join(_wrap(part.strip(), "      ", "    ") for part in help.split("; ") if part.strip())


def _numbered(ids: Sequence[str], labels: Sequence[str]) -> str:
    return "\n".join(
        f"  {n:>2}. {label} ({ident})" for n, (ident, label) in enumerate(zip(ids, labels, strict=True), 1)
    )


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _version() -> str:
    from ._version import __version__

    return __version__
