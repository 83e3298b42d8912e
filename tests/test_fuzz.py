"""Fuzzing the command line and the data folders: bad input is exit 2 with one line, never a crash.

Through typer's CliRunner (the real ``cli.app``): random bytes, random TOML/JSON structures and
near-valid answers (a valid answers file with one mutation) into ``backplan plan``; JSON Lines
mixing all of those into ``backplan batch``; random corruptions of copies of ``rules/`` and
``knowledge/`` into ``backplan rules check`` and ``backplan plan``. Also: the compiled reference
predicates (the planner's cross-check of durable_rules) agree with ``Condition.holds`` on random
conditions and facts. Deterministic: hypothesis runs derandomized with bounded examples.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

import engine
from cli import app
from engine.compiler import compile_predicate, compile_stage_check
from engine.conditions import Condition
from tests.conftest import BASE_ANSWERS, EXAMPLES, ROOT, answers
from tests.strategies import EXPERIENCE, PAIN_STATUSES, SPECS
from tests.strategies import answers as valid_answers

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

runner = CliRunner()
EXAMPLE = EXAMPLES / "chronic_pain_office_worker.toml"
_K = engine.load_knowledge(engine.default_knowledge_dir())


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    )


def fuzz_pair(body: Callable[..., None], quick: int, slow: int, **strategies: Any) -> tuple[Any, Any]:
    """The same property as a quick test (default run) and a slow-marked one with more examples."""
    fast = fuzz_settings(quick)(given(**strategies)(body))
    full = pytest.mark.slow(fuzz_settings(slow)(given(**strategies)(body)))
    return fast, full


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


# --- writing answers files ---------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """Any JSON-like value (no None) as an inline TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # inf, -inf, nan and 1e+20 are TOML floats too
    if isinstance(value, str):
        # JSON escapes are TOML basic-string escapes (json never emits "\/"); TOML also forbids raw DEL.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_value(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {type(value).__name__}")


def toml_document(data: dict[str, Any]) -> str:
    return "".join(f"{toml_value(str(k))} = {toml_value(v)}\n" for k, v in data.items())


def has_none(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(has_none(v) for v in value.values())
    if isinstance(value, list):
        return any(has_none(v) for v in value)
    return False


def write_answers(folder: Path, data: Any, fmt: str) -> Path:
    path = folder / f"answers.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    else:
        path.write_text(toml_document(data), encoding="utf-8")
    return path


def is_valid(data: Any) -> bool:
    try:
        engine.parse_intake(data, _K)
    except engine.InputError:
        return False
    return True


def assert_plan_result(result: Result, path: Path, *, valid: bool | None) -> None:
    """exit 0 with a JSON plan for valid answers; otherwise exit 2, nothing on stdout, one line naming the file."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert result.exit_code in (0, 2), output
    if result.exit_code == 0:
        assert valid is not False, f"invalid answers produced a plan: {result.stdout[:200]}"
        assert json.loads(result.stdout)["screen"]["outcome"] in ("clear", "consult", "stop")
        return
    assert valid is not True, output
    assert result.stdout == "", "a plan (or part of one) was printed for invalid input"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("backplan: error: "), lines[0]
    assert str(path) in lines[0], f"the message does not name the file: {lines[0]}"


# --- 1. random bytes and random structures into `plan` -----------------------------------------------


def _plan_random_bytes(tmp_path_factory: pytest.TempPathFactory, raw: bytes, suffix: str) -> None:
    path = tmp_path_factory.mktemp("bytes") / f"answers{suffix}"
    path.write_bytes(raw)
    result = run("plan", str(path), "--format", "json")
    assert_plan_result(result, path, valid=False)


test_plan_random_bytes, test_plan_random_bytes_slow = fuzz_pair(
    _plan_random_bytes, 15, 100, raw=st.binary(max_size=600), suffix=st.sampled_from([".toml", ".json", ".txt", ""])
)


KEYS = [*BASE_ANSWERS, "startback", "status", "intensity", "radiates_to_leg", "total", "distress"]
KEYS += [*list(_K.screening)[:3], "sid", "id"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.integers(0, 110),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["none", "acute", "beginner", "general", "dumbbells", "scoliosis", "true", "35"]),
)
STRUCTURES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=5)
    ),
    max_leaves=25,
)
TOP_LEVEL = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), STRUCTURES, max_size=9), STRUCTURES
)


def _plan_random_structures(tmp_path_factory: pytest.TempPathFactory, data: Any, fmt: str) -> None:
    if fmt == "toml":
        assume(isinstance(data, dict) and not has_none(data))
    path = write_answers(tmp_path_factory.mktemp("structure"), data, fmt)
    result = run("plan", str(path), "--format", "json")
    assert_plan_result(result, path, valid=is_valid(data))


test_plan_random_structures, test_plan_random_structures_slow = fuzz_pair(
    _plan_random_structures, 20, 100, data=TOP_LEVEL, fmt=st.sampled_from(["json", "toml"])
)


# --- 2. near-valid answers: one mutation of a valid answers file --------------------------------------

WRONG_TYPES: dict[str, list[Any]] = {
    "age": ["35", 35.0, True, [35], {"years": 35}],
    "experience": [1, True, ["beginner"], {"level": "beginner"}],
    "active": [0, 1, "true", "yes", [True], {"active": True}],
    "goal": [3, False, ["general"]],
    "equipment": ["dumbbells", 7, {"dumbbells": True}, [1, 2]],
    "conditions": ["scoliosis", 1, {"scoliosis": True}, [True]],
    "pain": ["none", 0, ["none", 0, False]],
    "pain.status": [0, False, ["none"]],
    "pain.intensity": ["3", 3.5, True, [3]],
    "pain.radiates_to_leg": [0, 1, "false", "no", [False]],
    "screening": [[], "none", 0],
    "screening.*": [0, 1, "false", "yes", [False], {"answer": False}],
    "startback": ["low", 3, [2, 1], True],
    "startback.total": ["2", 2.0, True, [2]],
    "startback.distress": ["1", 1.0, False, [1]],
}
OUT_OF_RANGE: dict[str, list[int]] = {
    "age": [15, 101, 0, -1, 10**12],
    "pain.intensity": [-1, 11, 100, -(10**9)],
    "startback.total": [-1, 10, 10**6],
    "startback.distress": [-1, 6, -(10**6)],
}
# Every answer a file must give ("goal" and "[startback]" are optional; so is nothing else).
REQUIRED = ["age", "experience", "active", "equipment", "conditions", "pain", "screening", "pain.*", "screening.*"]
MISSPELT = ["experience", "goal", "equipment", "conditions", "pain.status", "screening.key"]
# Tables that may be left out, so a null there may be read as "not given" (JSON only): not a mutation.
OPTIONAL_TABLES = {"startback"}
OPTIONAL_ANSWERS = {"goal", "startback"}
GARBAGE = [[[[[]]]], {"a": {"b": {"c": [1, {"d": None}]}}}, [{"x": []}, [[], {}]], {"": {"": {"": ""}}}]


def _resolve(data: dict[str, Any], target: str, rng: random.Random) -> tuple[dict[str, Any], str]:
    """The mapping holding ``target`` and the key in it ("screening.*" picks a random question)."""
    if target.split(".")[0] == "startback" and not isinstance(data.get("startback"), dict):
        data["startback"] = {"total": 4, "distress": 2}  # optional: give valid scores to mutate
    if "." not in target:
        return data, target
    outer, inner = target.split(".", 1)
    holder = data[outer]
    return holder, rng.choice(sorted(holder)) if inner in ("*", "key") else inner


def misspell(word: str, rng: random.Random) -> str:
    if len(word) > 3 and rng.random() < 0.5:
        i = rng.randrange(len(word) - 1)
        swapped = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        if swapped != word:
            return swapped
    return word[:-1] + ("x" if word[-1] != "x" else "y")


def mutate(data: dict[str, Any], kind: str, rng: random.Random) -> tuple[dict[str, Any], str]:
    """Apply one mutation that makes valid answers invalid; returns them and a description."""
    if kind == "wrong_type":
        target = rng.choice(sorted(WRONG_TYPES))
        holder, key = _resolve(data, target, rng)
        holder[key] = rng.choice(WRONG_TYPES[target])
    elif kind == "out_of_range":
        target = rng.choice(sorted(OUT_OF_RANGE))
        holder, key = _resolve(data, target, rng)
        holder[key] = rng.choice(OUT_OF_RANGE[target])
    elif kind == "missing_key":  # one to four answers left out: the error must name them all
        gone = []
        for target in rng.sample(REQUIRED, rng.randint(1, 4)):
            if target.split(".")[0] not in data:
                continue  # its table is already gone
            holder, key = _resolve(data, target, rng)
            del holder[key]
            gone.append(key)
        target = ", ".join(gone)
    elif kind == "unknown_key":
        target = rng.choice(["", "pain", "screening"])
        holder = data[target] if target else data
        holder[rng.choice(["colour", "sid", "notes", "age2", "intensty"])] = rng.choice([1, "x", False])
    elif kind == "misspelt_id":
        target = rng.choice(MISSPELT)
        if target in ("equipment", "conditions"):
            vocab = sorted(_K.equipment if target == "equipment" else _K.conditions)
            data[target] = [*data[target], misspell(rng.choice(vocab), rng)]
        elif target == "screening.key":
            holder, key = _resolve(data, target, rng)
            holder[misspell(key, rng)] = holder.pop(key)
        else:
            holder, key = _resolve(data, target, rng)
            holder[key] = misspell(str(holder.get(key, "general")), rng)  # goal may be left out
    elif kind == "inconsistent":
        # Each value in range, but not together: intensity without pain, distress above the total.
        target = rng.choice(["pain", "startback"])
        if target == "pain":
            data["pain"] = {
                **data["pain"],
                "status": "none",
                "intensity": rng.randint(1, SPECS["pain.intensity"].maximum),
            }
        else:
            distress = rng.randint(1, SPECS["startback.distress"].maximum)
            data["startback"] = {"total": rng.randint(0, distress - 1), "distress": distress}
    elif kind == "null":
        nullable = [t for t in WRONG_TYPES if not t.endswith("*") and t not in OPTIONAL_TABLES]
        target = rng.choice([*nullable, "screening.*"])
        holder, key = _resolve(data, target, rng)
        holder[key] = None
    elif kind == "nested_garbage":
        target = rng.choice(sorted(WRONG_TYPES))
        holder, key = _resolve(data, target, rng)
        holder[key] = rng.choice(GARBAGE)
    else:  # pragma: no cover
        raise ValueError(kind)
    return data, f"{kind} at {target}"


MUTATIONS = [
    "wrong_type",
    "out_of_range",
    "missing_key",
    "unknown_key",
    "misspelt_id",
    "inconsistent",
    "null",
    "nested_garbage",
]
MISSING = re.compile(
    r"(\d+) answers? missing: ([a-z_.]+(?:, [a-z_.]+)*) \(answer them with: backplan intake --resume (.+)\)$"
)


def _plan_near_valid_answers(
    tmp_path_factory: pytest.TempPathFactory, base: dict[str, Any], kind: str, seed: int, fmt: str
) -> None:
    rng = random.Random(seed)
    data, what = mutate(json.loads(json.dumps(base)), kind, rng)
    if fmt == "toml" and has_none(data):
        fmt = "json"
    path = write_answers(tmp_path_factory.mktemp("mutant"), data, fmt)
    assert not is_valid(data), f"the mutation left valid answers: {what}"
    result = run("plan", str(path), "--format", "json")
    assert_plan_result(result, path, valid=False)
    if kind == "misspelt_id" and "experience" not in what and "pain.status" not in what:
        assert "did you mean" in result.stderr, result.stderr
    if kind == "missing_key":
        _assert_names_every_missing_answer(result.stderr, path, data)


def _dotted_keys(data: dict[str, Any]) -> list[str]:
    """The answers a file gives, as dotted keys (pain.status, screening.fever)."""
    out = []
    for key, value in data.items():
        if key in ("pain", "screening") and isinstance(value, dict):
            out += [f"{key}.{inner}" for inner in value]
        else:
            out.append(key)
    return out


def _assert_names_every_missing_answer(stderr: str, path: Path, data: dict[str, Any]) -> None:
    """One line naming every missing answer (not only the first), in questionnaire order, and how to add them."""
    match = MISSING.search(stderr.strip())
    assert match, stderr
    given = set(_dotted_keys(data))
    expected = [key for key in _dotted_keys(BASE_ANSWERS) if key not in given and key not in OPTIONAL_ANSWERS]
    assert match.group(2).split(", ") == expected, stderr
    assert int(match.group(1)) == len(expected)
    assert match.group(3) == str(path)


test_plan_near_valid_answers, test_plan_near_valid_answers_slow = fuzz_pair(
    _plan_near_valid_answers,
    40,
    150,
    base=valid_answers(red_flag_rate=0.1),
    kind=st.sampled_from(MUTATIONS),
    seed=st.integers(0, 2**32 - 1),
    fmt=st.sampled_from(["json", "toml"]),
)


def _plan_valid_answers_always_plan(tmp_path_factory: pytest.TempPathFactory, base: dict[str, Any], fmt: str) -> None:
    path = write_answers(tmp_path_factory.mktemp("valid"), base, fmt)
    result = run("plan", str(path), "--format", "json")
    assert_plan_result(result, path, valid=True)
    intake = engine.parse_intake(base, _K)
    assert result.stdout == engine.recommend(intake, engine.load_rulebook()).to_json()


test_plan_valid_answers_always_plan, test_plan_valid_answers_always_plan_slow = fuzz_pair(
    _plan_valid_answers_always_plan,
    10,
    60,
    base=valid_answers(red_flag_rate=0.2),
    fmt=st.sampled_from(["json", "toml"]),
)


# --- 2b. answers that parse as a mapping but must not be read as one ------------------------------------

FIRST_QUESTION = next(iter(_K.screening))  # "saddle_numbness": a red flag that a later "false" would hide


def _with_duplicate_answer(first: bool, second: bool) -> str:
    """The baseline answers as JSON with the first screening question given twice."""
    key = json.dumps(FIRST_QUESTION)
    text = json.dumps(BASE_ANSWERS)
    answer = f"{key}: {json.dumps(BASE_ANSWERS['screening'][FIRST_QUESTION])}"
    assert text.count(answer) == 1
    return text.replace(answer, f"{key}: {json.dumps(first)}, {key}: {json.dumps(second)}")


@pytest.mark.parametrize(("first", "second"), [(True, False), (False, True), (False, False)])
def test_a_duplicate_key_in_json_is_bad_input_not_a_plan(tmp_path: Path, first: bool, second: bool) -> None:
    """A yes followed by a no to the same question must never be read as the no (nor as the yes)."""
    path = tmp_path / "answers.json"
    path.write_text(_with_duplicate_answer(first, second), encoding="utf-8")
    result = run("plan", str(path), "--format", "json")
    assert_plan_result(result, path, valid=False)
    assert f"duplicate key '{FIRST_QUESTION}'" in result.stderr, result.stderr


def test_a_duplicate_key_in_toml_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "answers.toml"
    text = toml_document({k: v for k, v in BASE_ANSWERS.items() if k != "screening"})
    screening = "".join(f"{q} = {toml_value(v)}\n" for q, v in BASE_ANSWERS["screening"].items())
    path.write_text(f"{text}[screening]\n{FIRST_QUESTION} = true\n{screening}", encoding="utf-8")
    result = run("plan", str(path), "--format", "json")
    assert_plan_result(result, path, valid=False)


def test_a_duplicate_key_in_a_batch_line_is_an_error_record(tmp_path: Path) -> None:
    path = tmp_path / "cohort.jsonl"
    lines = [json.dumps(BASE_ANSWERS), _with_duplicate_answer(True, False), json.dumps(BASE_ANSWERS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("batch", str(path))
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert ["plan" in r for r in records] == [True, False, True]
    assert f"duplicate key '{FIRST_QUESTION}'" in records[1]["error"]["message"]


def test_a_version_1_answers_file_names_every_missing_answer(tmp_path: Path) -> None:
    """The answers of version 1 (no "active", fewer questions): one line naming each missing answer."""
    screening = list(_K.screening)
    old = json.loads(json.dumps(BASE_ANSWERS))
    del old["active"]
    kept = screening[: len(screening) // 2]
    old["screening"] = {q: False for q in kept}
    path = tmp_path / "answers.toml"
    path.write_text(toml_document(old), encoding="utf-8")
    result = run("plan", str(path), "--format", "json")
    assert_plan_result(result, path, valid=False)
    missing = ["active", *(f"screening.{q}" for q in screening if q not in kept)]
    assert result.stderr.strip().endswith(
        f"{len(missing)} answers missing: {', '.join(missing)} (answer them with: backplan intake --resume {path})"
    ), result.stderr
    _assert_names_every_missing_answer(result.stderr, path, old)


def test_an_empty_screening_table_names_every_question(tmp_path: Path) -> None:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({**BASE_ANSWERS, "screening": {}}), encoding="utf-8")
    result = run("plan", str(path))
    assert_plan_result(result, path, valid=False)
    assert f"{len(_K.screening)} answers missing: " in result.stderr
    _assert_names_every_missing_answer(result.stderr, path, {**BASE_ANSWERS, "screening": {}})


# --- 3. batch: one record per line, in order ---------------------------------------------------------

# Only "\n" ends a line of a JSON Lines file; str.splitlines() would also break at the others, which
# JSON allows raw inside strings, so generated lines include them on purpose.
OTHER_LINE_BREAKS = "\v\f\x1c\x1d\x1e\x85\u2028\u2029"
LINE_TEXT = st.text(
    st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]) | st.sampled_from(OTHER_LINE_BREAKS),
    max_size=40,
)


@st.composite
def batch_lines(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """(lines, expected kind per line: 'plan' or 'error')."""
    lines: list[str] = []
    kinds: list[str] = []
    for _ in range(draw(st.integers(1, 12))):
        choice = draw(st.sampled_from(["valid", "valid", "mutant", "text", "structure", "blank"]))
        if choice == "valid":
            lines.append(json.dumps(draw(valid_answers(red_flag_rate=0.1))))
            kinds.append("plan")
        elif choice == "mutant":
            data, _ = mutate(
                draw(valid_answers()), draw(st.sampled_from(MUTATIONS)), random.Random(draw(st.integers()))
            )
            lines.append(json.dumps(data, ensure_ascii=False))
            kinds.append("error")
        elif choice == "structure":
            data = draw(TOP_LEVEL)
            lines.append(json.dumps(data, ensure_ascii=False))
            kinds.append("plan" if is_valid(data) else "error")
        elif choice == "text":
            text = draw(LINE_TEXT)
            lines.append(text)
            kinds.append("error")
        else:
            lines.append(draw(st.sampled_from(["", "   ", "\t"])))
            kinds.append("error")
    return lines, kinds


def _batch_records_in_order(tmp_path_factory: pytest.TempPathFactory, case: tuple[list[str], list[str]]) -> None:
    lines, kinds = case
    path = tmp_path_factory.mktemp("batch") / "cohort.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("batch", str(path))
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in records] == list(range(1, len(lines) + 1))
    assert [("plan" if "plan" in r else "error") for r in records] == kinds
    for record in records:
        if "error" in record:
            assert record["error"]["message"] and "Traceback" not in record["error"]["message"]
        else:
            assert record["plan"]["screen"]["outcome"] in ("clear", "consult", "stop")


test_batch_records_in_order, test_batch_records_in_order_slow = fuzz_pair(
    _batch_records_in_order, 10, 60, case=batch_lines()
)


def _batch_random_bytes(tmp_path_factory: pytest.TempPathFactory, raw: bytes) -> None:
    path = tmp_path_factory.mktemp("batchbytes") / "cohort.jsonl"
    path.write_bytes(raw)
    result = run("batch", str(path))
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exit_code == 0, result.stderr  # bad bytes spoil only their own line (an error record)
    lines = raw.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    numbers = [json.loads(line)["line"] for line in result.stdout.splitlines()]
    assert numbers == list(range(1, len(lines) + 1))


test_batch_random_bytes, test_batch_random_bytes_slow = fuzz_pair(
    _batch_random_bytes, 10, 40, raw=st.binary(max_size=400)
)


@pytest.mark.parametrize("separator", list(OTHER_LINE_BREAKS))
def test_batch_line_numbers_count_newlines_only(tmp_path: Path, separator: str) -> None:
    """Found by this fuzzing (batch used str.splitlines()); fixed in cli.batch."""
    first = json.dumps({**BASE_ANSWERS, "goal": f"gen{separator}eral"}, ensure_ascii=False)
    path = tmp_path / "cohort.jsonl"
    path.write_text(first + "\r\n" + json.dumps(BASE_ANSWERS) + "\n\n", encoding="utf-8")
    result = run("batch", str(path))
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3]
    assert "error" in records[0] and "plan" in records[1] and "error" in records[2]


# --- 4. corrupted rule and knowledge folders ----------------------------------------------------------

RULE_FILES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "rules").rglob("*.toml"))
KNOWLEDGE_FILES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "knowledge").rglob("*.toml"))
CORRUPTIONS = ["truncate", "delete_key", "flip_type", "rename_id", "garbage_bytes", "duplicate_table"]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (keys and list indexes) to a value inside a parsed TOML document."""
    out: list[tuple[Any, ...]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        out.append((*prefix, key))
        out.extend(_paths(value, (*prefix, key)))
    return out


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


def _flipped(value: Any, rng: random.Random) -> Any:
    if isinstance(value, bool):
        return rng.choice([1, "true", [value]])
    if isinstance(value, int):
        return rng.choice([str(value), float(value), True, [value]])
    if isinstance(value, str):
        return rng.choice([len(value), True, [value], {"text": value}])
    if isinstance(value, list):
        return rng.choice(["", 0, {"items": value}] + ([value[0]] if value else []))
    if isinstance(value, dict):
        return rng.choice([[value], "table", 1])
    return "x"


def corrupt(text: str, kind: str, rng: random.Random) -> str:
    """One corruption of a TOML file's text (structural ones re-serialise the parsed document inline)."""
    if kind == "truncate":
        return text[: rng.randrange(len(text))]
    if kind == "garbage_bytes":
        at = rng.randrange(len(text) + 1)
        junk = rng.choice(["\x00\x01", "]]][[[", "= = =", '"""', "\\u12", "{", "\ufffd\x7f", "[[rule]]\nid = 3\n"])
        return text[:at] + junk + text[at:]
    if kind == "duplicate_table":
        starts = [i for i in range(len(text)) if text.startswith("[", i) and (i == 0 or text[i - 1] == "\n")]
        if not starts:
            return text + "\n" + text
        i = rng.randrange(len(starts))
        start, end = starts[i], starts[i + 1] if i + 1 < len(starts) else len(text)
        return text[:end] + "\n" + text[start:end] + text[end:]
    data = tomllib.loads(text)
    paths = _paths(data)
    if kind == "delete_key":
        keyed = [p for p in paths if isinstance(p[-1], str)]
        path = rng.choice(keyed)
        del _get(data, path[:-1])[path[-1]]
    elif kind == "flip_type":
        path = rng.choice(paths)
        _get(data, path[:-1])[path[-1]] = _flipped(_get(data, path), rng)
    elif kind == "rename_id":
        ids = [p for p in paths if p[-1] in ("id", "field") and isinstance(_get(data, p), str)]
        path = rng.choice(ids) if ids else rng.choice(paths)
        old = _get(data, path)
        _get(data, path[:-1])[path[-1]] = misspell(old, rng) if isinstance(old, str) and old else "renamed"
    return toml_document(data)


def _copy_tree(tmp: Path) -> tuple[Path, Path]:
    rules, knowledge = tmp / "rules", tmp / "knowledge"
    shutil.copytree(ROOT / "rules", rules)
    shutil.copytree(ROOT / "knowledge", knowledge)
    return rules, knowledge


def _check_corrupted_folders(tmp: Path, target: str, kind: str, seed: int) -> None:
    rng = random.Random(seed)
    rules, knowledge = _copy_tree(tmp)
    path = tmp / target
    original = path.read_text(encoding="utf-8")
    changed = corrupt(original, kind, rng)
    assume(changed != original)
    path.write_bytes(changed.encode("utf-8", errors="surrogatepass"))
    check = run("rules", "check", "--rules", str(rules), "--knowledge", str(knowledge))
    output = check.stdout + check.stderr
    assert "Traceback" not in output
    assert check.exit_code in (0, 2), f"{kind} of {target}: exit {check.exit_code}: {output}"
    if check.exit_code == 2:
        assert check.stdout == ""
        lines = check.stderr.splitlines()
        assert lines, "exit 2 without a message"
        for line in lines:
            assert str(tmp) in line, f"the message names no file: {line}"
        try:
            tomllib.loads(changed)
        except (tomllib.TOMLDecodeError, UnicodeError):
            assert str(path) in lines[0], f"a file that no longer parses is not named: {lines[0]}"
    plan = run("plan", str(EXAMPLE), "--format", "json", "--rules", str(rules), "--knowledge", str(knowledge))
    output = plan.stdout + plan.stderr
    assert "Traceback" not in output
    if check.exit_code == 2:
        assert plan.exit_code == 2, f"rules check rejected the folders but plan exited {plan.exit_code}: {output}"
        assert plan.stdout == ""
        lines = plan.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("backplan: error: "), plan.stderr
        assert str(tmp) in lines[0]
    else:
        assert plan.exit_code in (0, 2), f"{kind} of {target} passed rules check, then plan exited 1: {output}"
        if plan.exit_code == 2:  # e.g. a renamed vocabulary id makes the example's answers unknown
            assert plan.stdout == "" and str(EXAMPLE) in plan.stderr


CORRUPTION_CASE = {
    "target": st.sampled_from(RULE_FILES + KNOWLEDGE_FILES),
    "kind": st.sampled_from(CORRUPTIONS),
    "seed": st.integers(0, 2**32 - 1),
}


def _corrupted_folders(tmp_path_factory: pytest.TempPathFactory, target: str, kind: str, seed: int) -> None:
    _check_corrupted_folders(tmp_path_factory.mktemp("corrupt"), target, kind, seed)


test_corrupted_folders, test_corrupted_folders_slow = fuzz_pair(_corrupted_folders, 8, 60, **CORRUPTION_CASE)

SAMPLE_FILES = ["rules/route/programme.toml", "rules/select/safety.toml", "knowledge/screening.toml"]
BREAKS = ["truncate_half", "empty", "binary"]


@pytest.mark.parametrize("target", SAMPLE_FILES)
@pytest.mark.parametrize("kind", BREAKS)
def test_a_file_broken(tmp_path: Path, target: str, kind: str) -> None:
    _check_broken_file(tmp_path, target, kind)


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(set(RULE_FILES + KNOWLEDGE_FILES) - set(SAMPLE_FILES)))
@pytest.mark.parametrize("kind", ["truncate_half", "binary"])  # "empty" is covered by test_a_file_broken
def test_every_file_broken(tmp_path: Path, target: str, kind: str) -> None:
    _check_broken_file(tmp_path, target, kind)


def _check_broken_file(tmp_path: Path, target: str, kind: str) -> None:
    rules, knowledge = _copy_tree(tmp_path)
    path = tmp_path / target
    text = path.read_bytes()
    path.write_bytes({"truncate_half": text[: len(text) // 2], "empty": b"", "binary": b"\x00\xff" + text}[kind])
    check = run("rules", "check", "--rules", str(rules), "--knowledge", str(knowledge))
    assert "Traceback" not in check.stdout + check.stderr
    assert check.exit_code == 2, check.stdout + check.stderr
    assert str(tmp_path) in check.stderr
    plan = run("plan", str(EXAMPLE), "--rules", str(rules), "--knowledge", str(knowledge))
    assert plan.exit_code == 2 and plan.stdout == "", plan.stdout + plan.stderr
    assert len(plan.stderr.splitlines()) == 1


# --- 5. the compiled reference semantics equal Condition.holds -----------------------------------------

FIELDS = {
    "age": st.integers(10, 110),
    "experience": st.sampled_from(["beginner", "intermediate", "advanced", "expert"]),
    "pain.status": st.sampled_from(["none", "acute", "subacute", "chronic"]),
    "pain.intensity": st.integers(-1, 11),
    "pain.radiates_to_leg": st.booleans(),
    "conditions.scoliosis": st.booleans(),
    "screening.fever": st.booleans(),
    "a.b.c": st.integers(0, 3),
}
ODD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2, 12), st.sampled_from(["", "1", "none", "acute"]))


@st.composite
def facts(draw: st.DrawFn) -> dict[str, Any]:
    """Facts over FIELDS, sometimes with a field missing or of the wrong type (bool for int, str for bool...)."""
    fact: dict[str, Any] = {}
    for name, values in FIELDS.items():
        roll = draw(st.integers(0, 9))
        if roll == 0:
            continue  # missing
        value = draw(ODD_VALUES) if roll == 1 else draw(values)
        node = fact
        parts = name.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return fact


def leaves() -> st.SearchStrategy[dict[str, Any]]:
    field = st.sampled_from(sorted(FIELDS))
    value = st.one_of(st.booleans(), st.integers(-1, 12), st.sampled_from(["none", "acute", "beginner", "1", ""]))
    number = st.integers(-1, 12)
    return st.one_of(
        st.builds(lambda f, v: {"field": f, "eq": v}, field, value),
        st.builds(lambda f, v: {"field": f, "ne": v}, field, value),
        *[st.builds(lambda f, v, op=op: {"field": f, op: v}, field, number) for op in ("lt", "lte", "gt", "gte")],
        st.builds(lambda f, v: {"field": f, "in": v}, field, st.lists(value, min_size=1, max_size=3)),
        st.builds(lambda f, v: {"field": f, "not_in": v}, field, st.lists(value, min_size=1, max_size=3)),
        st.builds(
            lambda f, v: {"field": f, "contains": v},
            st.sampled_from(["conditions", "pain"]),
            st.sampled_from(["scoliosis", "status"]),
        ),
        st.just({"always": True}),
    )


CONDITIONS = st.recursive(
    leaves(),
    lambda children: st.one_of(
        st.builds(lambda c: {"all": c}, st.lists(children, max_size=4)),
        st.builds(lambda c: {"any": c}, st.lists(children, max_size=4)),
        st.builds(lambda c: {"none": c}, st.lists(children, max_size=4)),
        st.builds(lambda c: {"not": c}, children),
    ),
    max_leaves=12,
)


def _outcome(fn: Callable[[], bool]) -> Any:
    try:
        return bool(fn())
    except (KeyError, TypeError) as exc:
        return type(exc).__name__


def _compiled_predicates_equal_holds(raw: list[dict[str, Any]], fact: dict[str, Any]) -> None:
    conditions = [Condition.model_validate(c) for c in raw]
    reference = [_outcome(lambda c=c: c.holds(fact)) for c in conditions]
    closures = [_outcome(lambda c=c: compile_predicate(c)(fact)) for c in conditions]
    assert closures == reference
    check = compile_stage_check([(f"r{i}", c) for i, c in enumerate(conditions)])
    if all(isinstance(r, bool) for r in reference):
        assert check(fact) == [f"r{i}" for i, r in enumerate(reference) if r]
    else:  # the first failing rule raises the same error as the reference would
        first_error = next(r for r in reference if not isinstance(r, bool))
        with pytest.raises((KeyError, TypeError)) as caught:
            check(fact)
        assert type(caught.value).__name__ == first_error


test_compiled_predicates_equal_holds, test_compiled_predicates_equal_holds_slow = fuzz_pair(
    _compiled_predicates_equal_holds, 150, 500, raw=st.lists(CONDITIONS, min_size=1, max_size=5), fact=facts()
)


def test_compiled_stage_checks_equal_holds_on_the_bundled_rules(book: engine.RuleBook) -> None:
    from engine.facts import intake_fact, stage_fact

    rng = random.Random(99)
    for _ in range(300):
        status = rng.choice(PAIN_STATUSES)
        distress = rng.randint(0, SPECS["startback.distress"].maximum)
        data = answers(
            age=rng.randint(SPECS["age"].minimum, SPECS["age"].maximum),
            experience=rng.choice(EXPERIENCE),
            active=rng.random() < 0.5,
            goal=rng.choice(sorted(_K.goals)),
            equipment=rng.sample(sorted(_K.equipment), rng.randint(0, 4)),
            conditions=[c for c in sorted(_K.conditions) if rng.random() < 0.3],
            pain__status=status,
            pain__intensity=0 if status == "none" else rng.randint(0, SPECS["pain.intensity"].maximum),
            pain__radiates_to_leg=rng.random() < 0.3,
            screening={q: rng.random() < 0.1 for q in _K.screening},
        )
        if rng.random() < 0.5:
            data["startback"] = {"total": rng.randint(distress, SPECS["startback.total"].maximum), "distress": distress}
        base = intake_fact(engine.parse_intake(data, _K), _K)
        derived = [d for d in book.rules.derived if rng.random() < 0.5]
        for programme in (None, *_K.programmes):
            fact = stage_fact(base, programme, derived, book.rules.derived)
            for stage in ("screen", "route", "select"):
                expected = [r.id for r in book.rules.stage(stage) if r.rule.when.holds(fact)]
                assert book.index.checks[stage](fact) == expected


def _every_valid_intake_plans_without_engine_error(book: engine.RuleBook, data: dict[str, Any]) -> None:
    """durable_rules and the reference agree on every stage (else EngineError), and a plan comes out."""
    plan = engine.recommend(engine.parse_intake(data, book.knowledge), book)
    assert plan.screen.outcome in ("clear", "consult", "stop")


test_every_valid_intake_plans_without_engine_error, test_every_valid_intake_plans_without_engine_error_slow = fuzz_pair(
    _every_valid_intake_plans_without_engine_error, 50, 250, data=valid_answers(red_flag_rate=0.15)
)
