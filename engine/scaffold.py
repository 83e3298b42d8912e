"""``backplan new condition ID``: the data files a new medical condition needs, written so they load.

A new condition needs four things (docs/extending.md walks through them by hand):

1. its entry in ``knowledge/conditions.toml`` (what the intake offers; its declared ``exclude_tags``);
2. a consult rule (every condition means a consult: ``rules check`` proves it);
3. an exclusion rule for its declared tags (a commented stub when there are none yet);
4. a scenario pinning both down.

Everything is built and checked on a copy of the folders first (the rule book must load, so the proofs of
``rules check`` pass), and only then written, each file atomically: a refused scaffold changes nothing.
The words are placeholders a clinician replaces ("TODO" marks each one); the structure is right.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ._tomlio import load_toml_file
from .errors import BackplanError, InputError, KnowledgeError, closest
from .knowledge import ID_PATTERN, load_knowledge
from .output import write_atomic
from .rulebook import load_rulebook

TODO = "TODO"


@dataclass(frozen=True)
class Scaffold:
    """What ``new_condition`` wrote: each path and whether it was created or appended to."""

    files: tuple[tuple[Path, str], ...]


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _condition_entry(condition: str, name: str, source: str, tags: tuple[str, ...]) -> str:
    listed = ", ".join(_toml_string(t) for t in tags)
    return f"""
[[condition]]
id = "{condition}"
name = {_toml_string(name)}
description = "{TODO}: the clinical summary of {name.lower()} a reviewer reads, with what to avoid and why."
question = "Has a doctor diagnosed {name.lower()}?"
exclude_tags = [{listed}]
source = "{source}"
"""


def _rules(condition: str, name: str, source: str, tags: tuple[str, ...]) -> str:
    when = f'{{ field = "conditions", contains = "{condition}" }}'
    text = f"""# {name}: the consult every condition means, and the exclusions declared in knowledge/conditions.toml.
# Written by `backplan new condition {condition}`: replace each {TODO} with the clinical words and sources.

[[rule]]
id = "{condition}_consult"
title = "{name}: a doctor or physiotherapist confirms the plan"
rationale = "{TODO}: why a consult, from the source."
source = "{source}"
stage = "screen"
priority = 40
when = {when}

[[rule.then]]
action = "warn"
level = "consult"
message = "Because of your {name.lower()}, ask your doctor or physiotherapist to confirm this plan."
"""
    listed = ", ".join(_toml_string(t) for t in tags)
    exclusion = f"""
[[rule]]
id = "{condition}_exclusions"
title = "{name}: what the plan leaves out"
rationale = "{TODO}: why these movements are left out, from the source."
source = "{source}"
stage = "select"
priority = 40
when = {when}

[[rule.then]]
action = "exclude"
tags = [{listed}]
reason = "{name.lower()}: left out until your doctor or physiotherapist has seen you"
"""
    if tags:
        return text + exclusion
    stub = "\n".join(f"# {line}" if line else "#" for line in exclusion.strip("\n").splitlines())
    return (
        text
        + "\n# No tags are declared excluded yet: once exclude_tags lists some in knowledge/conditions.toml,"
        + "\n# uncomment this rule with the same tags (rules check refuses the set until a rule excludes them).\n"
        + stub
        + "\n"
    )


def _scenario(condition: str, name: str, source: str, tags: tuple[str, ...]) -> str:
    excluded = f"\nexcluded_tags = [{', '.join(_toml_string(t) for t in tags)}]" if tags else ""
    return f"""name = "{name}: a consult, and its exclusions"
description = "Written by `backplan new condition {condition}`: {TODO} describe the person and what must hold."
source = "{source}"

[answers]  # only what differs from the baseline person (docs/scenarios.md)
conditions = ["{condition}"]

[expect]
outcome = "consult"
warnings_include = ["{condition}_consult"]{excluded}
"""


def new_condition(
    condition: str,
    *,
    source: str,
    rules_dir: Path,
    knowledge_dir: Path,
    scenarios_dir: Path,
    name: str | None = None,
    exclude_tags: tuple[str, ...] = (),
) -> Scaffold:
    """Write the entry, the rules and the scenario for ``condition``; raise ``InputError`` and write
    nothing if the result would not load (an unknown source or tag, an id in use, a file in the way)."""
    if not re.fullmatch(ID_PATTERN, condition):
        raise InputError(
            f"'{condition}' is not an id: small letters, digits and _, starting with a letter "
            "(e.g. ankylosing_spondylitis)",
            location="ID",
        )
    knowledge = load_knowledge(knowledge_dir)
    if condition in knowledge.conditions:
        raise KnowledgeError(
            f"condition '{condition}' is already there", file=str(knowledge_dir / "conditions.toml"), location="ID"
        )
    if source not in knowledge.sources:
        raise InputError(
            f"unknown source '{source}' (add it to {knowledge_dir / 'sources.toml'} first)",
            location="--source",
            suggestion=closest(source, knowledge.sources),
        )
    for tag in exclude_tags:
        if tag not in knowledge.tags:
            raise InputError(f"unknown tag '{tag}'", location="--exclude-tag", suggestion=closest(tag, knowledge.tags))
    label = name or condition.replace("_", " ").capitalize()
    tags = tuple(dict.fromkeys(exclude_tags))
    conditions_file = knowledge_dir / "conditions.toml"
    rule_file = rules_dir / "conditions" / f"{condition}.toml"
    scenario_file = scenarios_dir / f"condition_{condition}.toml"
    for path in (rule_file, scenario_file):
        if path.exists():
            raise InputError("is already there: a scaffold never overwrites", file=str(path))
    load_toml_file(conditions_file, KnowledgeError)  # readable and well-formed before we append
    conditions_text = conditions_file.read_text(encoding="utf-8")
    new_conditions = conditions_text.rstrip("\n") + "\n" + _condition_entry(condition, label, source, tags)
    rules_text = _rules(condition, label, source, tags)
    scenario_text = _scenario(condition, label, source, tags)

    with tempfile.TemporaryDirectory(prefix="backplan-new-") as tmp:  # the whole result must load first
        trial_rules, trial_knowledge = Path(tmp) / "rules", Path(tmp) / "knowledge"
        shutil.copytree(rules_dir, trial_rules)
        shutil.copytree(knowledge_dir, trial_knowledge)
        (trial_knowledge / "conditions.toml").write_text(new_conditions, encoding="utf-8")
        (trial_rules / "conditions").mkdir(exist_ok=True)
        (trial_rules / "conditions" / rule_file.name).write_text(rules_text, encoding="utf-8")
        try:
            load_rulebook(trial_rules, trial_knowledge)
        except BackplanError as exc:  # name the real files, not the trial copies
            real = {str(trial_rules): str(rules_dir), str(trial_knowledge): str(knowledge_dir)}
            file = exc.file
            for trial, original in real.items():
                file = file.replace(trial, original) if file else file
            raise type(exc)(
                exc.message, file=file, location=exc.location, rule=exc.rule, suggestion=exc.suggestion
            ) from None

    rule_file.parent.mkdir(parents=True, exist_ok=True)
    scenarios_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(rule_file, rules_text, option="ID")
    write_atomic(scenario_file, scenario_text, option="ID")
    write_atomic(conditions_file, new_conditions, option="ID")
    return Scaffold(((conditions_file, "appended"), (rule_file, "created"), (scenario_file, "created")))
