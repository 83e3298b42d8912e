"""Per-plan cost in a batch against the floor (bench/floor.py), measured interleaved in one run.

    python bench/per_plan.py [--n 2000] [--rounds 3]

A plan here is what a ``backplan batch`` worker spends on one line: ``engine.batch.process_line``, from the
line's bytes (the answers as JSON) through ``parse_intake`` and ``recommend`` to the record's bytes. Each
plan of the cohort
(bench/cohort.py) is timed alone and followed by one trivial durable_rules evaluation
(``TrivialEvaluation().evaluate()``), so both see the same machine load; the figures are the medians of
every timing over ``rounds`` passes. The target of issue 10 is a ratio of at most 15.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

from cohort import cohort  # noqa: E402
from floor import TrivialEvaluation  # noqa: E402

import engine  # noqa: E402
from engine.batch import process_line  # noqa: E402

WARM_UP = 200  # plans and floor evaluations before timing (caches, branch predictors, allocator)


def measure(n_people: int, rounds: int = 3) -> dict[str, Any]:
    """Median ms per plan and per floor evaluation over ``rounds`` interleaved passes of ``n_people``."""
    book = engine.load_rulebook()
    people = [json.dumps(data).encode() for data in cohort(n_people, book.knowledge)]
    floor = TrivialEvaluation()

    def plan(line: bytes) -> bytes:
        record, is_plan = process_line(1, line, "cohort.jsonl", book)
        assert is_plan, record  # every person of the cohort is valid: an error record would be cheaper
        return record

    for line in people[:WARM_UP]:
        plan(line)
        floor.evaluate()
    clock = time.perf_counter
    plans: list[float] = []
    floors: list[float] = []
    gc.collect()
    for _ in range(rounds):
        for line in people:
            start = clock()
            plan(line)
            middle = clock()
            floor.evaluate()
            end = clock()
            plans.append(middle - start)
            floors.append(end - middle)
    plan_ms = statistics.median(plans) * 1e3
    floor_ms = statistics.median(floors) * 1e3
    return {
        "people": n_people,
        "rounds": rounds,
        "plan_ms": plan_ms,
        "floor_ms": floor_ms,
        "ratio": plan_ms / floor_ms,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="people in the cohort")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = measure(args.n, args.rounds)
    print(
        f"per plan {result['plan_ms']:.3f} ms (median), floor {result['floor_ms']:.4f} ms (median), "
        f"ratio {result['ratio']:.1f}x (target <= 15x); {result['people']} people x {result['rounds']} rounds"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
