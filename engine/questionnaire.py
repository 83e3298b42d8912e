"""The interactive questionnaire, driven entirely by ``knowledge/`` (wording, vocabularies, order).

The I/O is injected (``prompt`` returns what the person typed, ``say`` shows text), so the library
never prints and the CLI, tests and other front ends share one implementation. Red-flag questions
come first; a "yes" that on its own makes a screen rule stop the plan shows that rule's advice at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .conditions import Condition
from .errors import IntakeError, closest
from .intake import Intake, parse_intake
from .knowledge import LEVELS, PAIN_STATUSES, Knowledge
from .planner import RuleBook
from .ruleset import Stop

Prompt = Callable[[str, str | None], str]
Say = Callable[[str], None]

_YES = {"y", "yes", "true", "1"}
_NO = {"n", "no", "false", "0"}


class Invalid(ValueError):
    """An answer that cannot be accepted; the message says what to type instead."""


def parse_yes_no(text: str) -> bool:
    word = text.strip().lower()
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise Invalid("please answer yes or no (y/n)")


def parse_int(text: str, low: int, high: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise Invalid(f"please type a whole number from {low} to {high}") from None
    if not low <= value <= high:
        raise Invalid(f"please type a whole number from {low} to {high}")
    return value


def parse_choice(text: str, choices: list[str]) -> str:
    word = text.strip().lower()
    if word.isdigit() and 1 <= int(word) <= len(choices):
        return choices[int(word) - 1]
    if word in choices:
        return word
    hint = closest(word, choices)
    raise Invalid(f"please choose one of: {', '.join(choices)}" + (f" (did you mean '{hint}'?)" if hint else ""))


def parse_many(text: str, choices: list[str]) -> list[str]:
    """Comma- or space-separated numbers or ids; empty or 'none' means nothing."""
    words = [w for w in text.replace(",", " ").split() if w]
    if not words or words == ["none"]:
        return []
    return sorted({parse_choice(w, choices) for w in words})


class Questionnaire:
    def __init__(self, book: RuleBook) -> None:
        self.book = book
        self.knowledge: Knowledge = book.knowledge

    def _ask(self, prompt: Prompt, say: Say, text: str, parse: Callable[[str], Any], default: str | None = None) -> Any:
        while True:
            raw = prompt(text, default)
            try:
                return parse(raw)
            except Invalid as exc:
                say(f"  ! {exc}")

    def emergency_advice(self, answered: dict[str, bool]) -> list[str]:
        """Stop messages of screen rules that already hold on the screening answers given so far.

        Only rules that read nothing but answered screening questions are judged early; the rest
        are judged with the whole intake at the end.
        """
        fact = {"screening": answered}
        messages = []
        for item in self.book.rules.stage("screen"):
            when: Condition = item.rule.when
            fields = when.fields()
            if not fields or not all(f.startswith("screening.") and f.split(".", 1)[1] in answered for f in fields):
                continue
            if when.holds(fact):
                messages += [a.message for a in item.rule.then if isinstance(a, Stop)]
        return messages

    def ask(self, prompt: Prompt, say: Say) -> Intake:
        k = self.knowledge
        questions = k.questions
        say("backplan questionnaire. First, some safety questions (answer y or n).")
        screening: dict[str, bool] = {}
        shown: set[str] = set()
        for question in k.screening.values():
            text = " ".join(question.text.split())
            screening[question.id] = self._ask(prompt, say, text + " [y/n]", parse_yes_no)
            if screening[question.id]:
                for message in self.emergency_advice(screening):
                    if message not in shown:
                        shown.add(message)
                        say(f"\n!!! {message}\n")
        say("\nNow about you and your back.")
        age = self._ask(prompt, say, questions["age"].text, lambda t: parse_int(t, 16, 100))
        experience = self._ask(
            prompt,
            say,
            _with_choices(questions["experience"].text, list(LEVELS)),
            lambda t: parse_choice(t, list(LEVELS)),
        )
        goals = list(k.goals)
        goal = self._ask(
            prompt,
            say,
            _with_choices(questions["goal"].text, goals),
            lambda t: parse_choice(t, goals),
            default="general",
        )
        statuses = list(PAIN_STATUSES)
        status = self._ask(
            prompt, say, _with_choices(questions["pain.status"].text, statuses), lambda t: parse_choice(t, statuses)
        )
        if status == "none":
            intensity, radiates = 0, False
        else:
            intensity = self._ask(prompt, say, questions["pain.intensity"].text, lambda t: parse_int(t, 0, 10))
            radiates = self._ask(prompt, say, questions["pain.radiates_to_leg"].text + " [y/n]", parse_yes_no)
        conditions = list(k.conditions)
        say(_numbered(questions["conditions"].text, [(c, k.conditions[c].question) for c in conditions]))
        chosen_conditions = self._ask(
            prompt,
            say,
            "Numbers or ids, separated by commas (empty for none)",
            lambda t: parse_many(t, conditions),
            default="",
        )
        equipment = list(k.equipment)
        say(_numbered(questions["equipment"].text, [(e, k.equipment[e].name) for e in equipment]))
        chosen_equipment = self._ask(
            prompt,
            say,
            "Numbers or ids, separated by commas (empty for none)",
            lambda t: parse_many(t, equipment),
            default="",
        )
        data = {
            "age": age,
            "experience": experience,
            "goal": goal,
            "equipment": chosen_equipment,
            "conditions": chosen_conditions,
            "pain": {"status": status, "intensity": intensity, "radiates_to_leg": radiates},
            "screening": screening,
        }
        try:
            return parse_intake(data, k, file="<questionnaire>")
        except IntakeError:  # pragma: no cover - every answer above was validated as typed
            raise


def _with_choices(text: str, choices: list[str]) -> str:
    return f"{text} [{'/'.join(choices)}]"


def _numbered(title: str, items: list[tuple[str, str]]) -> str:
    lines = [title]
    lines += [f"  {n:>2}. {ident:<26} {label}" for n, (ident, label) in enumerate(items, 1)]
    return "\n".join(lines)
