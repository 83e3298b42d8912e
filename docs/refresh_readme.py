"""Re-run every ``$ backplan ...`` example in README.md and refresh (or check) its captured output.

    python docs/refresh_readme.py          # rewrite the outputs in README.md
    python docs/refresh_readme.py --check  # exit 1 if any example's output differs (used by the tests)

A console block is a fenced ``console`` block whose first line is ``$ backplan ...``. A block whose last
line is ``…`` shows only the first lines of the output: those lines must match. Blocks preceded by
``<!-- readme: no-check -->`` (outputs with timings) are refreshed but never compared.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- readme: no-check -->\n)?```console\n\$ (backplan [^\n]*)\n(.*?)```", re.S)


def run(command: str) -> tuple[int, str]:
    sys.path.insert(0, str(ROOT))
    from cli import app

    args = shlex.split(command)[1:]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.stdout + result.stderr


def _expected(body: str) -> tuple[list[str], bool]:
    lines = body.rstrip("\n").split("\n") if body.strip() else []
    truncated = bool(lines) and lines[-1] == "…"
    return (lines[:-1] if truncated else lines), truncated


def check(text: str) -> list[str]:
    problems = []
    for match in BLOCK.finditer(text):
        if match.group(1):
            continue
        command, body = match.group(2), match.group(3)
        expected, truncated = _expected(body)
        _, output = run(command)
        actual = output.rstrip("\n").split("\n")
        if truncated:
            actual = actual[: len(expected)]
        if [line.rstrip() for line in actual] != [line.rstrip() for line in expected]:
            problems.append(f"README example out of date: $ {command}")
    return problems


def refresh(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        marker, command, body = match.group(1) or "", match.group(2), match.group(3)
        expected, truncated = _expected(body)
        _, output = run(command)
        lines = [line.rstrip() for line in output.rstrip("\n").split("\n")]
        if truncated:
            lines = [*lines[: len(expected)], "…"]
        return f"{marker}```console\n$ {command}\n" + "\n".join(lines) + "\n```"

    return BLOCK.sub(replace, text)


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    if "--check" in argv:
        problems = check(text)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    README.write_text(refresh(text), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
