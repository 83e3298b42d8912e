"""Before/after check for engine optimisations: every plan of a cohort must stay byte-identical.

    python bench/golden.py compare [--ref HEAD] [--only MODULES] [--n 3000] [--rules DIR] [--knowledge DIR]

builds a baseline copy of ``engine/`` in which every module that differs from git ``--ref`` is
replaced by its committed version, then plans the same deterministic cohort (bench/cohort.py) with
the baseline and with the working tree, in two processes over the same rule and knowledge folders,
and compares. Compared per intake: the sha256 of ``plan.to_json()`` plus every exercise's status,
reasons and including rules (what ``explain`` shows), or of the error the intake raised. Exit 1 on
the first difference. ``--skip-baseline-failures`` leaves out intakes the baseline could not plan
(for rule sets the baseline engine cannot run, such as bench/synth.py's 10x set). ``git show`` only
reads the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def digests(n: int, rules: Path | None, knowledge: Path | None) -> list[str]:
    from cohort import cohort

    import engine

    book = engine.load_rulebook(rules, knowledge)
    out = []
    for data in cohort(n, book.knowledge):
        try:
            evaluation = engine.evaluate(engine.parse_intake(data, book.knowledge), book)
            text = evaluation.plan.to_json() + "".join(
                f"{st.id} {st.status} {[r.model_dump() for r in st.reasons]} {st.because}\n"
                for st in evaluation.statuses.values()
            )
        except engine.BackplanError as exc:
            text = f"{type(exc).__name__}: {exc.line()}"
            if isinstance(exc, engine.EngineError):
                out.append("E:" + hashlib.sha256(text.encode()).hexdigest())
                continue
        out.append(hashlib.sha256(text.encode()).hexdigest())
    return out


def baseline_tree(ref: str, target: Path, only: set[str] | None = None) -> list[str]:
    """A copy of engine/ with every changed module at ``ref``; returns the names replaced.

    The working tree's rules/ and knowledge/ are linked beside it, so its bundled folders are the same.
    """
    shutil.copytree(ROOT / "engine", target / "engine", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("rules", "knowledge"):
        (target / folder).symlink_to(ROOT / folder, target_is_directory=True)
    replaced = []
    for path in sorted((ROOT / "engine").glob("*.py")):
        rel = f"engine/{path.name}"
        if only is not None and rel not in only:
            continue
        shown = subprocess.run(["git", "show", f"{ref}:{rel}"], cwd=ROOT, capture_output=True, check=False)
        if shown.returncode != 0:
            continue  # not in the ref: keep the working copy
        if shown.stdout != path.read_bytes():
            (target / rel).write_bytes(shown.stdout)
            replaced.append(rel)
    return replaced


def run_digests(engine_root: Path, n: int, rules: Path, knowledge: Path) -> list[str]:
    env = {**os.environ, "BACKPLAN_ENGINE_ROOT": str(engine_root)}
    cmd = [sys.executable, str(Path(__file__)), "digests", "--n", str(n), "--rules", str(rules)]
    cmd += ["--knowledge", str(knowledge)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    result: list[str] = json.loads(done.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("compare", "digests"))
    parser.add_argument("--ref", default="HEAD", help="git revision of the baseline engine modules")
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated modules to take from --ref (default: every changed one), "
        "e.g. engine/planner.py,engine/compiler.py,engine/durable_host.py",
    )
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--rules", type=Path, default=ROOT / "rules")
    parser.add_argument("--knowledge", type=Path, default=ROOT / "knowledge")
    parser.add_argument(
        "--skip-baseline-failures",
        action="store_true",
        help="ignore intakes the baseline failed on (EngineError), e.g. a rule set the baseline cannot run",
    )
    args = parser.parse_args()
    if args.mode == "digests":  # worker: engine from BACKPLAN_ENGINE_ROOT
        sys.path[:0] = [os.environ.get("BACKPLAN_ENGINE_ROOT", str(ROOT)), str(BENCH)]
        print(json.dumps(digests(args.n, args.rules, args.knowledge)))
        return 0
    with tempfile.TemporaryDirectory(prefix="backplan-golden-") as tmp:
        only = set(args.only.split(",")) if args.only else None
        replaced = baseline_tree(args.ref, Path(tmp), only)
        print(f"baseline: engine at {args.ref} for {', '.join(replaced) or 'nothing (no engine change)'}")
        before = run_digests(Path(tmp), args.n, args.rules, args.knowledge)
    after = run_digests(ROOT, args.n, args.rules, args.knowledge)
    skipped = 0
    for index, (a, b) in enumerate(zip(before, after, strict=True)):
        if a.startswith("E:") and args.skip_baseline_failures:
            skipped += 1
            continue
        if a != b:
            print(f"intake {index}: plan differs")
            return 1
    failed_now = sum(d.startswith("E:") for d in after)
    print(
        f"ok: {len(after) - skipped} plans byte-identical ({len(set(after))} distinct) with {args.rules}; "
        f"skipped {skipped} the baseline failed on; {failed_now} engine errors now"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
