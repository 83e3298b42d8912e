"""Where durable_rules 2.0.28 fails: the measurements behind the rule-set limits in engine/ruleset.py.

    python bench/durable_limits.py            # every case (about 5 minutes: each hang waits out --timeout)
    python bench/durable_limits.py --quick    # the sizes around each failure only
    python bench/durable_limits.py --case any_true --sizes 32,64,128 [--raw]

Each measurement runs in its own Python process (durable_rules crashes the process on some inputs), and
goes through the path ``backplan plan`` takes: compiled patterns registered by ``DurableEvaluator``
(which shards a stage into rulesets of at most ``SHARD_TERMS`` pattern terms) and evaluated in a fresh
session that is deleted afterwards, with the evaluator's own limit checks off (``guard=False``). Rows
marked "one ruleset" register the stage as a single durable ruleset (no shards), to show durable's own
limits on rules per ruleset. Each line of the table says, for one shape at one size: the pattern's terms in
disjunctive normal form (paths through durable's alpha network), its ``$and``/``$or`` nodes, the time to
register the rules, the median time of one evaluation, and what happened: ``ok``, ``error NNN`` (durable's
error code), ``crash (signal)`` or ``timeout``.

The shapes (one rule unless said otherwise; the fact has ``age = 40``):

* ``any_one``: ``$or`` of N distinct equalities, one of them true (``age = 0 .. N-1``);
* ``any_true``: ``$or`` of N distinct comparisons, all true (``age > -1 .. -N``);
* ``any_same``: ``$or`` of N copies of one true leaf (``age = 40``);
* ``all_true``: ``$and`` of N distinct comparisons, all true;
* ``all_of_pairs``: ``$and`` of N ``$or`` pairs, both leaves of every pair true (2^N paths);
* ``all_of_pairs_one``: the same with one leaf of every pair true (one path);
* ``nested``: N alternating ``$and``/``$or`` levels, each with one true leaf and the next level;
* ``rules_one``: N one-leaf rules in one stage, one of them true for the fact;
* ``rules_true``: N one-leaf rules in one stage, all true for the fact (N firings);
* ``rules_same``: N rules with the same one true leaf (every rule ends on one alpha node);
* ``fields``: N one-leaf rules, each on its own field, and a fact with those N fields (all true).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.compiler import pattern_shape  # noqa: E402  (after the path set-up)

Pattern = dict[str, Any]
FACT = {"age": 40}


def _or(parts: list[Pattern]) -> Pattern:
    return {"$or": parts}


def _and(parts: list[Pattern]) -> Pattern:
    return {"$and": parts}


def _nested(n: int) -> Pattern:
    node: Pattern = {"age": 40}
    for level in range(n):
        leaf = {"$gt": {"age": -(level + 1)}}
        node = (_and if level % 2 == 0 else _or)([leaf, node])
    return node


# shape -> (rules: N -> {rule id: pattern})
ONE_RULE: dict[str, Callable[[int], Pattern]] = {
    "any_one": lambda n: _or([{"age": i} for i in range(n)]) if n > 1 else {"age": 0},
    "any_true": lambda n: _or([{"$gt": {"age": -(i + 1)}} for i in range(n)]),
    "any_same": lambda n: _or([{"age": 40} for _ in range(n)]),
    "all_true": lambda n: _and([{"$gt": {"age": -(i + 1)}} for i in range(n)]),
    "all_of_pairs": lambda n: _and([_or([{"age": 40}, {"$gt": {"age": -(i + 1)}}]) for i in range(n)]),
    "all_of_pairs_one": lambda n: _and([_or([{"age": 40}, {"age": 1000 + i}]) for i in range(n)]),
    "nested": _nested,
}
MANY_RULES: dict[str, Callable[[int], dict[str, Pattern]]] = {
    "rules_one": lambda n: {f"r{i}": {"age": i} for i in range(n)},
    "rules_true": lambda n: {f"r{i}": {"$gt": {"age": -(i + 1)}} for i in range(n)},
    "rules_same": lambda n: {f"r{i}": {"age": 40} for i in range(n)},
    "fields": lambda n: {f"r{i}": {f"x.f{i}": 1} for i in range(n)},
}
CASES = [*ONE_RULE, *MANY_RULES]
# (shape, sizes, one ruleset per stage?): each size just below and at a failure where there is one.
SWEEP: tuple[tuple[str, tuple[int, ...], bool], ...] = (
    ("any_one", (60, 500, 510, 511, 4400), False),
    ("any_true", (60, 63, 64, 100), False),
    ("any_same", (63, 64, 100, 10000), False),
    ("all_true", (200, 1000, 5000, 20000), False),
    ("all_of_pairs", (5, 10, 12, 14, 15), False),
    ("all_of_pairs_one", (14, 15), False),
    ("nested", (15, 16), False),
    ("rules_one", (1000, 5000, 20000, 50000), False),
    ("rules_true", (1000, 5000, 20000), False),
    ("rules_same", (1000, 5000), False),
    ("fields", (250, 251), False),
    ("rules_one", (510, 511), True),
    ("rules_true", (63, 64), True),
    ("rules_same", (256, 257), True),
)
QUICK: tuple[tuple[str, tuple[int, ...], bool], ...] = (
    ("any_one", (510, 511), False),
    ("any_true", (63, 64), False),
    ("any_same", (64, 100), False),
    ("all_of_pairs", (14, 15), False),
    ("nested", (15, 16), False),
    ("rules_one", (5000,), False),
    ("fields", (250, 251), False),
    ("rules_one", (510, 511), True),
    ("rules_same", (256, 257), True),
)


def stage_rules(case: str, n: int) -> dict[str, Pattern]:
    patterns = {"r0": ONE_RULE[case](n)} if case in ONE_RULE else MANY_RULES[case](n)
    return {rule_id: {"all": [{"m": pattern}], "pri": 0, "run": rule_id} for rule_id, pattern in patterns.items()}


def combinators(pattern: Pattern) -> int:
    """``$and``/``$or`` nodes in a pattern: durable stores two expressions for each, at most 31 a rule."""
    return pattern_shape(pattern).groups


def fact(case: str, n: int) -> dict[str, Any]:
    if case == "fields":
        return {**FACT, "x": {f"f{i}": 1 for i in range(n)}}
    return FACT


def worker(case: str, n: int, raw: bool, evaluations: int) -> dict[str, Any]:
    """One measurement, in this process: register, evaluate, report (or die trying).

    A JSON line is printed after registering, so that a crash or a hang while evaluating still says
    how far it got."""
    from engine.compiler import pattern_terms
    from engine.durable_host import SHARD_TERMS, DurableEvaluator

    rules = stage_rules(case, n)
    data = fact(case, n)
    patterns = [rule["all"][0]["m"] for rule in rules.values()]
    out: dict[str, Any] = {
        "terms": sum(pattern_terms(p) for p in patterns),
        "combinators": max(combinators(p) for p in patterns),
    }
    start = time.perf_counter()
    try:
        evaluator = DurableEvaluator({"select": rules}, shard_terms=10**9 if raw else SHARD_TERMS, guard=False)
    except Exception as exc:  # whatever durable raises is the measurement
        out.update(outcome=_code(exc), register_ms=(time.perf_counter() - start) * 1e3)
        return out
    out["register_ms"] = (time.perf_counter() - start) * 1e3
    out["shards"] = evaluator.shards("select")
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({**out, "outcome": "registered"}), flush=True)
    times = []
    fired = 0
    try:
        for _ in range(evaluations):
            began = time.perf_counter()
            fired = len(evaluator.evaluate("select", data))
            times.append(time.perf_counter() - began)
            if times[-1] > 5:  # slow enough to say so: one evaluation is the measurement
                break
    except Exception as exc:
        out.update(outcome=_code(exc))
        # The evaluator leaves a session whose assert failed; what does deleting it do?
        print(json.dumps(out), flush=True)
        sid = str(next(evaluator._sids) - 1)
        for ruleset in evaluator._stages["select"]:
            with contextlib.suppress(Exception):
                ruleset.delete_state(sid)
        out["outcome"] += ", session deleted"
        return out
    out.update(outcome="ok", eval_ms=statistics.median(times) * 1e3, fired=fired)
    return out


def _code(exc: BaseException) -> str:
    text = str(exc)
    marker = "error code: "
    if marker in text:
        return "error " + text.split(marker, 1)[1].split()[0].strip(".,)'\"")
    return f"{type(exc).__name__}: {text[:60]}"


def measure(case: str, n: int, raw: bool = False, timeout: float = 60.0, evaluations: int = 21) -> dict[str, Any]:
    """Run ``worker`` in a fresh process; a signal or a timeout is the outcome."""
    cmd = [sys.executable, __file__, "--worker", case, str(n), "--evaluations", str(evaluations)]
    cmd += ["--raw"] if raw else []
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        partial = _last_json(exc.stdout)
        where = "evaluating" if partial else "registering"
        return {**partial, "outcome": f"hang ({where}: killed after {timeout:g} s)"}
    result = _last_json(done.stdout)
    if done.returncode < 0:
        if result.get("outcome", "registered") != "registered":  # an error, then deleting its session
            return {**result, "outcome": f"{result['outcome']}, then crash deleting the session: {_signal(done)}"}
        where = "evaluating" if result else "registering"
        return {**result, "outcome": f"crash ({where}: {_signal(done)})"}
    if done.returncode != 0 or not result:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {**result, "outcome": f"crash (exit {done.returncode}: {tail[:50]})"}
    return result


def _signal(done: subprocess.CompletedProcess[str]) -> str:
    name = {6: "SIGABRT", 11: "SIGSEGV"}.get(-done.returncode, f"signal {-done.returncode}")
    return name + (" (free(): invalid pointer)" if "invalid pointer" in done.stderr else "")


def _last_json(stdout: str | bytes | None) -> dict[str, Any]:
    text = stdout.decode(errors="replace") if isinstance(stdout, bytes) else (stdout or "")
    lines = [line for line in text.splitlines() if line.startswith("{")]
    return dict(json.loads(lines[-1])) if lines else {}


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    return fmt.format(row[key]) if key in row else "-"


def table(rows: Sequence[tuple[str, int, bool, dict[str, Any]]]) -> str:
    head = "| shape | N | terms | $and/$or | shards | register ms | RSS MB | eval ms | fired | outcome |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for case, n, raw, r in rows:
        name = case + (" (one ruleset)" if raw else "")
        cells = [
            _cell(r, "terms", "{:,}"),
            _cell(r, "combinators", "{}"),
            _cell(r, "shards", "{}"),
            _cell(r, "register_ms", "{:.1f}"),
            _cell(r, "rss_mb", "{:.0f}"),
            _cell(r, "eval_ms", "{:.2f}"),
            _cell(r, "fired", "{:,}"),
        ]
        lines.append(f"| {name} | {n:,} | " + " | ".join(cells) + f" | {r['outcome']} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", nargs=2, metavar=("CASE", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--evaluations", type=int, default=21, help=argparse.SUPPRESS)
    parser.add_argument("--case", action="append", choices=CASES, help="only this shape (repeatable)")
    parser.add_argument("--sizes", help="comma-separated sizes (with --case)")
    parser.add_argument("--raw", action="store_true", help="with --case: one durable ruleset per stage (no shards)")
    parser.add_argument("--quick", action="store_true", help="fewer sizes")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per measurement (default 30)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    if args.worker:
        case, n = args.worker
        print(json.dumps(worker(case, int(n), args.raw, args.evaluations)), flush=True)
        return 0
    if args.case:
        sweep = [
            (case, tuple(int(s) for s in args.sizes.split(",")) if args.sizes else (60, 64), args.raw)
            for case in args.case
        ]
    else:
        sweep = list(QUICK if args.quick else SWEEP)
    rows: list[tuple[str, int, bool, dict[str, Any]]] = []
    for case, sizes, raw in sweep:
        for n in sizes:
            result = measure(case, n, raw=raw, timeout=args.timeout)
            rows.append((case, n, raw, result))
            where = "(one ruleset) " if raw else ""
            print(f"{case:<18} {n:>7,} {where}{result['outcome']}", file=sys.stderr, flush=True)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps([{"case": c, "n": n, "raw": raw, **r} for c, n, raw, r in rows], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
