"""The JSON the API answers with, besides the plan itself: explain, errors, and the OpenAPI description.

``explain`` serves both ``POST /api/explain`` and the physiotherapist's page, over ``engine.explain``.
The OpenAPI description is generated from the library's own models (``Intake``, ``Plan``) and the
loaded knowledge (every screening question, every vocabulary id), never written out by hand.
"""

from __future__ import annotations

import copy
from typing import Any

from .._version import __version__
from ..explain import fired_rules, status_text, why
from ..intake import Intake
from ..plan import Plan
from ..planner import Evaluation, RuleBook


def explain(evaluation: Evaluation, book: RuleBook, exercise: str | None) -> dict[str, Any]:
    """The fired rules in order (id, matched facts, effects, rationale, source) and, with an exercise
    id, why it is in the plan or why not. Raises ``UnknownExerciseError`` for an id not in the catalogue."""
    plan = evaluation.plan
    sources = book.knowledge.sources
    fired = [
        {
            "id": f.entry.rule,
            "title": f.entry.title,
            "stage": f.entry.stage,
            "priority": f.entry.priority,
            "matched": f.entry.matched,
            "effects": list(f.entry.effects),
            "rationale": " ".join(f.rationale.split()),
            "source": f.entry.source,
            "source_title": sources[f.entry.source].title if f.entry.source in sources else None,
            "file": f.entry.file,
        }
        for f in fired_rules(evaluation, book)
    ]
    verdict: dict[str, Any] | None = None
    if exercise is not None:
        v = why(exercise, evaluation, book)
        rules = book.rules.by_id()
        verdict = {
            "id": v.id,
            "name": v.name,
            "in_plan": v.in_plan,
            "status": v.status,
            "status_text": status_text(v.status),
            "sessions": list(v.sessions),
            "because": [{"rule": r, "title": rules[r].rule.title if r in rules else r} for r in v.because],
            "reasons": [{"rule": r.rule, "message": r.message} for r in v.reasons],
        }
    return {
        "screen": plan.screen.model_dump(mode="json"),
        "programme": plan.programme,
        "fired": fired,
        "exercise": verdict,
        "provenance": plan.provenance.model_dump(mode="json"),
    }


def error(field: str | None, message: str, **extra: Any) -> dict[str, Any]:
    """``{"error": {"field": ..., "message": ...}}``; ``field`` is a dotted key, or None for the whole body."""
    return {"error": {"field": field, "message": message, **extra}}


# --- OpenAPI ------------------------------------------------------------------------------------------

_REF = "#/components/schemas/{model}"


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {
                    "field": {
                        "type": ["string", "null"],
                        "description": "the dotted key of the answer at fault (e.g. screening.fever); "
                        "null when the problem is the body as a whole",
                    },
                    "message": {"type": "string"},
                    "suggestion": {"type": ["string", "null"], "description": "the closest valid name"},
                    "missing": {"type": "array", "items": {"type": "string"}, "description": "every missing key"},
                },
            }
        },
    }


def _intake_schema(book: RuleBook, schemas: dict[str, Any]) -> dict[str, Any]:
    """``Intake``'s schema with the knowledge filled in: each screening question, each vocabulary id."""
    k = book.knowledge
    schema = Intake.model_json_schema(ref_template=_REF)
    schemas.update(schema.pop("$defs", {}))
    props = schema["properties"]
    props["goal"]["enum"] = list(k.goals)
    props["equipment"]["items"]["enum"] = list(k.equipment)
    props["conditions"]["items"]["enum"] = list(k.conditions)
    props["screening"] = {
        "type": "object",
        "description": "every screening question answered true or false; none may be missing",
        "additionalProperties": False,
        "required": list(k.screening),
        "properties": {
            q.id: {"type": "boolean", "description": " ".join(q.text.split())} for q in k.screening.values()
        },
    }
    for name, question in k.questions.items():
        where = props
        key = name
        if "." in name:
            outer, key = name.split(".", 1)
            where = schemas[outer.capitalize()]["properties"] if outer.capitalize() in schemas else {}
        if key in where:
            where[key]["description"] = " ".join(question.text.split())
    return schema


def openapi(book: RuleBook) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    intake = _intake_schema(book, schemas)
    plan = Plan.model_json_schema(ref_template=_REF, mode="serialization")
    schemas.update(plan.pop("$defs", {}))
    schemas["Answers"] = intake
    schemas["Plan"] = plan
    schemas["Error"] = _error_schema()
    schemas["ExplainRequest"] = {
        "type": "object",
        "required": ["answers"],
        "additionalProperties": False,
        "properties": {
            "answers": {"$ref": "#/components/schemas/Answers"},
            "exercise": {"type": ["string", "null"], "enum": [*book.knowledge.exercises, None], "default": None},
        },
    }
    schemas["Explanation"] = {
        "type": "object",
        "required": ["screen", "programme", "fired", "exercise", "provenance"],
        "properties": {
            "screen": {"$ref": "#/components/schemas/Screen"},
            "programme": {"type": ["string", "null"]},
            "fired": {
                "type": "array",
                "description": "the rules that fired, in order",
                "items": {
                    "type": "object",
                    "required": ["id", "matched", "effects", "rationale", "source"],
                    "properties": {
                        "id": {"type": "string"},
                        "title": {"type": "string"},
                        "stage": {"type": "string"},
                        "priority": {"type": "integer"},
                        "matched": {"type": "object", "description": "the facts the rule matched, by dotted key"},
                        "effects": {"type": "array", "items": {"type": "string"}},
                        "rationale": {"type": "string"},
                        "source": {"type": "string"},
                        "source_title": {"type": ["string", "null"]},
                        "file": {"type": "string"},
                    },
                },
            },
            "exercise": {
                "description": "why the exercise asked about is in the plan, or why not (null when none was asked)",
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["id", "name", "in_plan", "status", "because", "reasons"],
                        "properties": {
                            "id": {"type": "string"},
                            "name": {"type": "string"},
                            "in_plan": {"type": "boolean"},
                            "status": {"type": "string"},
                            "status_text": {"type": "string"},
                            "sessions": {"type": "array", "items": {"type": "string"}},
                            "because": {"type": "array", "items": {"type": "object"}},
                            "reasons": {"type": "array", "items": {"$ref": "#/components/schemas/Reason"}},
                        },
                    },
                ],
            },
            "provenance": {"$ref": "#/components/schemas/Provenance"},
        },
    }
    schemas["Health"] = {
        "type": "object",
        "required": ["status", "rules_digest", "knowledge_digest"],
        "properties": {
            "status": {"const": "ok"},
            "engine_version": {"type": "string"},
            "rules_digest": {"type": "string"},
            "knowledge_digest": {"type": "string"},
        },
    }

    def ref(name: str) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{name}"}

    def json_body(name: str, description: str) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": ref(name)}}}

    errors = {
        "400": json_body("Error", "the body is not a JSON document (malformed, not UTF-8, too deep, duplicate keys)"),
        "413": json_body("Error", "the body is larger than 1 MiB"),
        "415": json_body("Error", "the body is not sent as application/json"),
        "422": json_body("Error", "the answers are invalid: `field` names the answer, `message` says why"),
        "500": json_body("Error", "an internal error: no plan is given (fail closed)"),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "backplan",
            "version": __version__,
            "description": "Rule-based back-training plans with a safety screen. Nothing sent is logged or kept.",
        },
        "paths": {
            "/api/plan": {
                "post": {
                    "summary": "The plan for a set of answers: the same bytes as `backplan plan --format json`",
                    "operationId": "plan",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": ref("Answers")}}},
                    "responses": {"200": json_body("Plan", "the plan"), **errors},
                }
            },
            "/api/explain": {
                "post": {
                    "summary": "Which rules fired, in order, and why an exercise is in the plan or not",
                    "operationId": "explain",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": ref("ExplainRequest")}},
                    },
                    "responses": {"200": json_body("Explanation", "the explanation"), **errors},
                }
            },
            "/api/questionnaire": {
                "get": {
                    "summary": "Every question with id, text, help, kind and allowed values, in the order asked",
                    "operationId": "questionnaire",
                    "responses": {"200": {"description": "the questionnaire", "content": {"application/json": {}}}},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness, and the digests of the rules and knowledge this replica serves",
                    "operationId": "health",
                    "responses": {"200": json_body("Health", "serving")},
                }
            },
        },
        "components": {"schemas": copy.deepcopy(schemas)},
    }
