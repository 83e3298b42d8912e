"""Generate docs/rules-catalogue.md from rules/ (``--check`` fails when the file is out of step).

python -m engine.catalogue_doc docs/rules-catalogue.md          # write it
python -m engine.catalogue_doc --check docs/rules-catalogue.md  # CI: exit 1 if stale
"""

from __future__ import annotations

import sys
from pathlib import Path

from .catalogue import describe_action
from .facts import STAGES
from .rulebook import RuleBook, load_rulebook


def render_catalogue(book: RuleBook) -> str:
    root = Path(book.rules.root)
    out = [
        "# Rules catalogue",
        "",
        "Generated from `rules/` by `python -m engine.catalogue_doc docs/rules-catalogue.md`; CI fails when it",
        "is out of step. Rules run stage by stage (screen, route, select), lower priority first.",
        "",
        f"{len(book.rules.rules)} rules.",
        "",
    ]
    for stage in STAGES:
        items = book.rules.stage(stage)
        out += [f"## Stage `{stage}` ({len(items)} rules)", ""]
        for item in items:
            r = item.rule
            source = book.knowledge.sources[r.source]
            try:
                file = Path(item.file).resolve().relative_to(root.resolve().parent).as_posix()
            except ValueError:
                file = Path(item.file).name
            out += [
                f"### `{r.id}` — {r.title}",
                "",
                f"- **when**: {r.when.describe()}",
                "- **then**:",
                *[f"  - {describe_action(a)}" for a in r.then],
                f"- **why**: {' '.join(r.rationale.split())}",
                f"- **source**: {source.title} (`{r.source}`)",
                f"- **priority**: {r.priority} · **file**: `{file}`",
                "",
            ]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    target = Path(paths[0]) if paths else Path("docs/rules-catalogue.md")
    text = render_catalogue(load_rulebook())
    if check:
        current = target.read_text(encoding="utf-8") if target.is_file() else ""
        if current != text:
            sys.stderr.write(f"{target} is out of step with rules/: run python -m engine.catalogue_doc {target}\n")
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
