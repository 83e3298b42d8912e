"""Reading TOML/JSON data files and turning pydantic errors into one-line ``BackplanError``s."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import CONTROL_IN_TEXT, BackplanError, closest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


def folder_digest(root: Path) -> str:
    """sha256 over every ``*.toml`` file's relative path and bytes, in sorted order (plan provenance)."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*.toml") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return "sha256:" + h.hexdigest()


def read_bytes(path: Path, error: type[BackplanError], limit: int | None = None) -> bytes:
    """A regular file's bytes; a folder, device, FIFO or socket is refused before any byte is read, and a
    file longer than ``limit`` bytes is refused after reading ``limit + 1`` (so ``/dev/zero`` never hangs)."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not wait; only regular files are read anyway.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise error("file not found", file=str(path)) from None
    except IsADirectoryError:
        raise error("is a folder, expected a file", file=str(path)) from None
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", file=str(path)) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise error("is a folder, expected a file", file=str(path))
        if not stat.S_ISREG(mode):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
            raise error(f"is {kind}, not a regular file", file=str(path))
        chunks: list[bytes] = []
        size = 0
        while limit is None or size <= limit:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if limit is not None and size > limit:
            raise error(f"larger than {_size(limit)}", file=str(path))
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", file=str(path)) from None
    finally:
        os.close(fd)


def _size(limit: int) -> str:
    return f"{limit // (1 << 20)} MiB" if limit % (1 << 20) == 0 else f"{limit} bytes"


MAX_DEPTH = 32
MAX_DIGITS = 20
# What a text beyond those limits is told (TOML and JSON alike).
_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
_TOO_LONG = f"an integer longer than {MAX_DIGITS} digits"
_STRINGS = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'', re.S)
_LONG_INTEGER = re.compile(r"(?<![\w.])[+-]?\d(?:_?\d){" + str(MAX_DIGITS) + r",}(?![\w.])")
_KEY_PART = r"(?:[A-Za-z0-9_-]+|\"\"|'')"
_DOTTED_KEY = re.compile(_KEY_PART + r"(?:\s*\.\s*" + _KEY_PART + "){" + str(MAX_DEPTH) + ",}")


def check_shape(text: str, file: str, error: type[BackplanError]) -> None:
    """Refuse, in linear time, what would make a parser slow or deep: nesting deeper than ``MAX_DEPTH``
    (brackets, braces or dotted keys) and integers longer than ``MAX_DIGITS`` digits."""
    bare = _STRINGS.sub('""', text)  # string contents can hold any bracket or digit
    depth = deepest = 0
    for char in bare:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    if deepest > MAX_DEPTH:
        raise error(_TOO_DEEP, file=file)
    if _DOTTED_KEY.search(bare):
        raise error(f"a dotted key nested deeper than {MAX_DEPTH} levels", file=file)
    if _LONG_INTEGER.search(bare):
        raise error(_TOO_LONG, file=file)


def decode_text(raw: bytes, file: str, error: type[BackplanError]) -> str:
    if b"\x00" in raw:
        raise error("binary data, expected a UTF-8 text file", file=file)
    try:
        # utf-8-sig: a byte-order mark, as some Windows editors write, is not part of the text.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text (byte {exc.start})", file=file) from None


def parse_toml(text: str, file: str, error: type[BackplanError]) -> dict[str, Any]:
    try:
        data: dict[str, Any] = tomllib.loads(text)
        return data
    except tomllib.TOMLDecodeError as exc:
        near = _entry_before(text, exc)
        rule = near if near is not None and error.__name__ == "RuleError" else None
        location = f"in the entry with id '{near}'" if near is not None and rule is None else None
        raise error(f"malformed TOML: {exc}", file=file, rule=rule, location=location) from None


_ID_LINE = re.compile(r"""^\s*id\s*=\s*["']([^"'\n]{1,80})["']""")


def _entry_before(text: str, exc: Exception) -> str | None:
    """The id of the entry (rule, exercise, question...) a syntax error is in: the last ``id = "..."``
    at or above the line the error names."""
    lineno = getattr(exc, "lineno", None)
    if not isinstance(lineno, int):
        found = re.search(r"at line (\d+)", str(exc))
        lineno = int(found[1]) if found else None
    if lineno is None:
        return None
    for line in reversed(text.splitlines()[:lineno]):
        match = _ID_LINE.match(line)
        if match:
            return match[1]
    return None


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):  # the first key seen twice
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


class _LongInteger(ValueError):
    pass


def _json_int(digits: str) -> int:
    if len(digits) - (digits[0] == "-") > MAX_DIGITS:
        raise _LongInteger(digits)
    return int(digits)


def _json_depth(value: Any) -> int:
    """How deep arrays and objects nest in a parsed JSON value (iteratively: any depth json gives)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_json_object(text: str, file: str, error: type[BackplanError], location: str | None = None) -> Any:
    """JSON with duplicate keys refused (as TOML does): ``{"fever": true, "fever": false}`` is never guessed at.

    The limits of ``check_shape`` hold here too, checked by the parser itself rather than by scanning the
    text first: an integer is refused before it is converted, nesting once parsed (or when the parser
    itself gives up, far deeper)."""
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_int=_json_int)
    except _DuplicateKey as exc:
        shown = exc.key if len(exc.key) <= 80 else exc.key[:77] + "..."
        raise error(f"malformed JSON: duplicate key '{shown}'", file=file, location=location) from None
    except _LongInteger:
        raise error(_TOO_LONG, file=file, location=location) from None
    except json.JSONDecodeError as exc:
        raise error(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", file=file, location=location
        ) from None
    except RecursionError:
        raise error(_TOO_DEEP, file=file, location=location) from None
    # Fewer brackets than the limit cannot nest beyond it (a bracket inside a string only over-counts).
    if text.count("[") + text.count("{") > MAX_DEPTH and _json_depth(value) > MAX_DEPTH:
        raise error(_TOO_DEEP, file=file, location=location)
    return value


def toml_value(value: Any) -> str:
    """One TOML value: booleans, integers, strings, arrays and inline tables (what our files hold)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def load_toml_file(path: Path, error: type[BackplanError]) -> dict[str, Any]:
    """A data file (rules, knowledge, scenarios): TOML whose text holds words, never terminal control codes."""
    raw = read_bytes(path, error)
    data = parse_toml(decode_text(raw, str(path), error), str(path), error)
    found = _control_character(data, ())
    if found is not None:
        loc, char = found
        entry = _entry_id(data, loc)
        rule = entry if error.__name__ == "RuleError" else None
        where = (
            _loc_text(loc) if rule is not None or entry is None else f"{_loc_text(loc)} (the entry with id '{entry}')"
        )
        raise error(
            f"control character U+{ord(char):04X} in the text: messages, names and steps are words for "
            "people (a line break is fine), never terminal codes",
            file=str(path),
            rule=rule,
            location=where,
        )
    return data


def _control_character(value: Any, loc: tuple[int | str, ...]) -> tuple[tuple[int | str, ...], str] | None:
    """Where the first string holding a control character is (in keys too), and that character."""
    if isinstance(value, str):
        match = CONTROL_IN_TEXT.search(value)
        return (loc, match.group()) if match else None
    items: Any = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _control_character(key, (*loc, key)) if isinstance(key, str) else None
        found = found or _control_character(item, (*loc, key))
        if found is not None:
            return found
    return None


def _entry_id(data: dict[str, Any], loc: tuple[int | str, ...]) -> str | None:
    """The id of the ``[[rule]]``, ``[[exercise]]``... entry ``loc`` points into, if it has one."""
    if len(loc) >= 2 and isinstance(loc[0], str) and isinstance(loc[1], int):
        entry = data[loc[0]][loc[1]]
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            return str(entry["id"])
    return None


def _loc_text(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _field_names(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names valid at the place ``loc`` points to, for "did you mean" on unknown keys."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        annotation = fields[part].annotation
        current = _inner_model(annotation)
        if current is None:
            return []
    fields = getattr(current, "model_fields", None)
    return list(fields) if fields else []


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def pydantic_to_error(
    exc: ValidationError,
    *,
    model: type[BaseModel],
    file: str,
    error: type[BackplanError],
    prefix: str = "",
    rule: str | None = None,
) -> BackplanError:
    """The first pydantic error as one of ours: file, dotted field path, message, suggestion."""
    errors = exc.errors(include_url=False)
    # A misspelt key shows up twice: "unknown key" and "required field missing". The first says more.
    first = next((e for e in errors if e.get("type") == "extra_forbidden"), errors[0])
    loc = tuple(first.get("loc", ()))
    where = _loc_text(loc)
    location = f"{prefix}.{where}" if prefix and where else (prefix or where or None)
    kind = first.get("type", "")
    suggestion = None
    field = str(next((p for p in reversed(loc) if isinstance(p, str)), "value"))
    if kind == "extra_forbidden":
        message = "unknown key"
        suggestion = closest(str(loc[-1]), _field_names(model, loc)) if loc else None
    elif kind == "missing":
        message = "is required but missing"
    elif kind == "value_error":  # our own validators: their message already says what was given
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    else:
        message, suggestion = _plain(first, field)
    return error(message, file=file, location=location, rule=rule, suggestion=suggestion)


def _number(value: Any) -> str:
    """A bound as a person writes it: 180, not 180.0."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _shown_input(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _plain(error: Any, field: str) -> tuple[str, str | None]:
    """A pydantic error in plain words, with an example of the right form (never "valid tuple")."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    given = error.get("input")
    got = f", got {_shown_input(given)}" if "input" in error and not isinstance(given, dict) else ""
    if kind in ("tuple_type", "list_type", "set_type", "frozen_set_type"):
        example = f'["{given}"]' if isinstance(given, str) else '["a", "b"]'
        return f"expected a list in square brackets, e.g. {field} = {example}{got}", None
    if kind in ("int_type", "int_parsing", "int_from_float"):
        digits = str(given).strip() if isinstance(given, (str, float)) else ""
        example = str(int(float(digits))) if re.fullmatch(r"-?\d+(\.0*)?", digits) else "10"
        return f"expected a whole number, e.g. {field} = {example}{got}", None
    if kind in ("string_type", "str_type"):
        return f'expected text in quotes, e.g. {field} = "..."{got}', None
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, e.g. {field} = true{got}", None
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, e.g. {field} = 1.5{got}", None
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f'expected a table of keys, e.g. {field} = {{ key = "value" }}{got}', None
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        suggestion = closest(str(given), allowed) if isinstance(given, str) else None
        return f"expected one of: {', '.join(allowed)}{got}", suggestion
    if kind == "union_tag_invalid":
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
        tag = str(ctx.get("tag", given))
        what = str(ctx.get("discriminator", "kind")).strip("'")
        return f"unknown {what} '{tag}' (expected one of: {', '.join(allowed)})", closest(tag, allowed)
    if kind == "union_tag_not_found":
        what = str(ctx.get("discriminator", "kind")).strip("'")
        return f"missing {what} (say which kind this is)", None
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        if pattern == "^[a-z][a-z0-9_]*$":
            return f"expected an id of small letters, digits and _, starting with a letter, e.g. my_rule{got}", None
        return f"does not have the expected form ({pattern}){got}", None
    if kind == "string_too_short":
        return f"too short: at least {ctx.get('min_length')} characters{got}", None
    if kind == "string_too_long":
        return f"too long: at most {ctx.get('max_length')} characters{got}", None
    if kind in ("too_short", "too_long"):
        bound = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        word = "at least" if kind == "too_short" else "at most"
        return f"expected {word} {bound} entries{got}", None
    if kind == "greater_than_equal":
        return f"must be at least {_number(ctx.get('ge'))}{got}", None
    if kind == "greater_than":
        return f"must be more than {_number(ctx.get('gt'))}{got}", None
    if kind == "less_than_equal":
        return f"must be at most {_number(ctx.get('le'))}{got}", None
    if kind == "less_than":
        return f"must be less than {_number(ctx.get('lt'))}{got}", None
    return str(error.get("msg", "invalid value")) + got, None
