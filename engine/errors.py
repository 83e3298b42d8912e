"""One error tree for the whole library.

Every error carries structured fields (file, location, rule, suggestion) so callers can assert on
whole values, and renders to a single line for the CLI. ``InputError`` and its children mean "the
input (answers, rules or knowledge) is wrong" (exit 2); ``EngineError`` means "we failed" (exit 1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A control character in text for people (messages, names, steps): all but tab and line feed, C1 too.
CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
SHOWN = 80  # at most this many characters of a value are echoed back in an error


def shown(value: str, limit: int = SHOWN) -> str:
    """A value as echoed in an error: control and escape characters replaced, cut to ``limit`` characters."""
    clean = _CONTROL.sub("?", value)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The closest valid name to ``name``, for a "did you mean" hint (None when nothing is close)."""
    import difflib  # only when a name is wrong

    matches = difflib.get_close_matches(str(name), sorted(set(choices)), n=1, cutoff=0.6)
    return matches[0] if matches else None


class BackplanError(Exception):
    """Base class: a problem reported as one line naming where it is."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        location: str | None = None,
        rule: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.location = location
        self.rule = rule
        self.suggestion = suggestion
        super().__init__(self.line())

    def line(self) -> str:
        parts = [shown(p, 400) for p in (self.file, self.rule and f"rule {self.rule}", self.location) if p]
        text = ": ".join([*parts, _CONTROL.sub("?", self.message)])
        if self.suggestion:
            text += f" (did you mean '{shown(self.suggestion)}'?)"
        # One line, always: messages may quote user input containing newlines.
        return " ".join(text.split())

    def as_dict(self) -> dict[str, str | None]:
        return {
            "kind": type(self).__name__,
            "file": self.file,
            "rule": self.rule,
            "location": self.location,
            "message": self.message,
            "suggestion": self.suggestion,
        }


class InputError(BackplanError):
    """Something the user supplied is wrong; nothing was produced (exit 2)."""


class IntakeError(InputError):
    """The answers file is missing, unreadable or invalid."""


class KnowledgeError(InputError):
    """A knowledge file (catalogue, vocabularies, questionnaire) is invalid."""


class RuleError(InputError):
    """A rule file is invalid or inconsistent with the knowledge."""


class UnknownExerciseError(InputError):
    """An exercise id given on the command line does not exist."""


class EngineError(BackplanError):
    """An internal failure (rule engine, action, invariant); fail closed, no plan (exit 1)."""
