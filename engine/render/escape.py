"""Escaping: text is text. Rule messages, names and steps are data, never markup.

Markdown escapes them (``md_escape``); ``plain_text`` and ``json_ascii`` make any rendering safe for an
output that cannot encode it (an ASCII-only stdout under ``LANG=C`` or ``PYTHONIOENCODING=ascii``).
"""

from __future__ import annotations

import re
import unicodedata

# What a character becomes where it cannot be encoded: the renderings' typography first.
_TYPOGRAPHY = {
    "×": "x", "•": "*", "·": "-", "—": "-", "–": "-", "‐": "-", "‑": "-", "−": "-",
    "≥": ">=", "≤": "<=", "≠": "!=", "±": "+/-", "…": "...", "→": "->", "←": "<-", "↔": "<->", "⇒": "=>",
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "“": '"', "”": '"', "„": '"', "″": '"', "«": '"', "»": '"',
    "°": " deg", "✓": "ok", "✔": "ok", "✗": "x", "✘": "x", "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE",
    "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
    "\u200b": "", "\ufeff": "",
}  # fmt: skip
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _fallback(char: str, encoding: str) -> str:
    if char in _TYPOGRAPHY:
        candidate = _TYPOGRAPHY[char]
    else:
        name = unicodedata.name(char, "")
        if name.startswith("BOX DRAWINGS"):
            horizontal, vertical = "HORIZONTAL" in name, "VERTICAL" in name
            candidate = "-" if horizontal and not vertical else "|" if vertical and not horizontal else "+"
        else:  # é -> e, ² -> 2, ﬁ -> fi
            candidate = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    try:
        candidate.encode(encoding)
    except UnicodeError:
        return "?"
    return candidate if candidate != char else "?"


def plain_text(text: str, encoding: str = "ascii") -> str:
    """``text`` with every character ``encoding`` cannot take replaced by a readable equivalent.

    '×' -> 'x', '•' -> '*', '—' -> '-', '≥' -> '>=', '…' -> '...', curly quotes -> straight, box lines -> '-|+',
    accents dropped ('é' -> 'e'); '?' as the last resort. Characters the encoding takes are kept.
    """

    def replace(match: re.Match[str]) -> str:
        char = match.group()
        try:
            char.encode(encoding)
        except UnicodeError:
            return _fallback(char, encoding)
        return char

    return _NON_ASCII.sub(replace, text)


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def json_ascii(text: str) -> str:
    """JSON text with every non-ASCII character written as a ``\\uXXXX`` escape (as ``ensure_ascii`` does).

    Outside strings JSON is ASCII, so this is the same JSON value in ASCII bytes.
    """
    return _NON_ASCII.sub(_json_escape, text)


_MD_SPECIAL = re.compile(r"[\\`*\[\]<|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|&(?=#?[A-Za-z0-9]+;)")
_MD_BLOCK_START = re.compile(r"^(?:[#>+=-]|(\d+)(?=[.)]))")


def md_escape(text: str) -> str:
    """Data as literal Markdown on one line: emphasis, links, code, HTML, entities and table pipes escaped.

    An underscore inside a word (``bird_dog``) is left alone: CommonMark never reads it as emphasis.
    """
    escaped = _MD_SPECIAL.sub(r"\\\g<0>", " ".join(text.split()))
    return _MD_BLOCK_START.sub(lambda m: f"{m.group(1)}\\" if m.group(1) else f"\\{m.group()}", escaped)
