"""backplan benchmark: issue 10's four targets, each figure measured side by side with its floor in one run.

    python bench/run.py                 # full run (about 4 minutes on 2 cores)
    python bench/run.py --quick         # smaller samples (about 1 minute)
    python bench/run.py --json out.json # also write the figures as JSON
    BACKPLAN_ENGINE_ROOT=DIR python bench/run.py   # measure another copy of engine/ (A/B runs; see
                                                   # bench/golden.py for building one at a git revision)

The headline (docs/performance.md says what each figure means and shows a run):

1. a cold ``backplan plan examples/chronic_pain_office_worker.toml`` <= 3x ``python -c "import typer"``;
2. ``backplan --help`` <= 2x ``python -c "import typer"``;
3. the cost of one plan in a batch (a worker's call per line, ``engine.batch.process_line``: the JSON line
   -> ``parse_intake`` -> ``recommend`` -> the record) <= 15x one trivial durable_rules evaluation
   (bench/floor.py ``TrivialEvaluation``), the two interleaved (bench/per_plan.py);
4. ``backplan batch --jobs 2`` >= 1.8x as fast as ``--jobs 1`` on the same input (bench/batch_jobs.py).

Commands are the *installed* ``backplan`` console script beside ``sys.executable``, run as
subprocesses with ``PYTHONDONTWRITEBYTECODE`` removed from their environment and a
``BACKPLAN_CACHE_DIR`` of their own that an unmeasured warm-up run has filled (the remembered verdict
of the rule checks is part of a user's steady state); a command and its floor alternate run by run,
and each figure is a median. Below the headline, details: the same figures' parts (imports, the first
run with an empty cache, the stages of a plan), throughput in one and two processes, a rule set ten
times larger, and RSS growth, each beside its own floor.

The ratio column is "times the floor's cost", except for ``--jobs 2`` where it is the speed-up (the
floor, ``--jobs 1``, over the measured time). Timing figures are only as good as the machine is quiet:
before each timed section the run waits (3 minutes at most) until other processes use under 10% of
the CPU, and prints what they used. The exit status is 0 when the four headline targets are met.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
ENGINE_ROOT = os.environ.get("BACKPLAN_ENGINE_ROOT")  # another engine/ to measure (inherited by workers)
for _p in (str(ROOT), str(BENCH), *([ENGINE_ROOT] if ENGINE_ROOT else [])):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import batch_jobs  # noqa: E402
import per_plan  # noqa: E402
from cohort import cohort  # noqa: E402
from floor import TrivialEvaluation  # noqa: E402
from synth import make_scaled_rules  # noqa: E402

import engine  # noqa: E402
from engine.batch import process_line  # noqa: E402

EXAMPLE = ROOT / "examples" / "chronic_pain_office_worker.toml"
TYPER = "python -c 'import typer'"
# What typer itself costs a command-line tool beyond its import: the smallest app that runs a command with
# one path argument (typer builds its commands and, for each parameter, a pydantic TypeAdapter).
TYPER_APP = """
import typer
from pathlib import Path
app = typer.Typer()
@app.command()
def plan(answers: Path, format: str = "text") -> None:
    pass
@app.command()
def other() -> None:
    pass
app(["plan", "answers.toml"], standalone_mode=False)
"""
# issue 10: ratio to the floor (cost figures: at most; the --jobs 2 speed-up: at least)
TARGETS = {"cold_plan": 3.0, "help": 2.0, "per_plan": 15.0, "jobs2": 1.8}
# details: earlier targets, shown for the record (they do not decide the exit status)
DETAIL_TARGETS = {"scale": 2.0, "rss_mb": 5.0}


@dataclass
class Figure:
    name: str
    unit: str
    value: float
    floor: float
    floor_name: str
    target: str
    met: bool | None
    speedup: bool = False  # ratio = floor / value (a time against a slower floor), else value / floor
    note: str = ""

    @property
    def ratio(self) -> float:
        """Times the floor's cost, or the speed-up over the floor (nan when either is zero or negative)."""
        if self.floor <= 0 or self.value <= 0:
            return float("nan")
        return self.floor / self.value if self.speedup else self.value / self.floor


@dataclass
class Sizes:
    """How much each section measures: ``quick``, ``full``, and ``tiny`` (the tests: no timing value)."""

    cold_runs: int  # rounds of (floor, plan, floor, --help); medians of these
    empty_cache_runs: int  # first runs with an empty verdict cache
    people: int  # per plan: the cohort size
    plan_rounds: int
    batch_lines: int
    batch_rounds: int
    batch_parent: bool  # the parent's own CPU a line (two more in-process batch runs)
    batch_ceiling: bool
    throughput: int  # plans per worker process; 0: skip throughput
    scaling: int  # people for the 10x rules figures; 0: skip
    rss: int  # plans for the RSS figure; 0: skip
    wait: bool = True  # wait for a quiet machine before each section
    details: bool = True  # import costs and the stages of a plan

    @classmethod
    def preset(cls, name: str) -> Sizes:
        return {
            "full": cls(15, 3, 2000, 3, 10_000, 3, True, True, 3000, 1000, 30_000),
            "quick": cls(9, 1, 500, 2, 2000, 3, False, True, 1000, 300, 5000),
            "tiny": cls(1, 1, 20, 1, 40, 1, False, False, 0, 0, 0, wait=False, details=False),
        }[name]


# --- one plan, the way a batch makes it ----------------------------------------------------------

ENGINE_ERRORS: dict[str, int] = {}


def make_planner(rules: Path | None = None) -> tuple[engine.RuleBook, Callable[[dict[str, Any]], str]]:
    book = engine.load_rulebook(rules)
    label = str(rules or "bundled")

    def plan(data: dict[str, Any]) -> str:
        try:
            return engine.recommend(engine.parse_intake(data, book.knowledge), book).to_json()
        except engine.EngineError as exc:  # counted and reported: a figure over failed plans is not a figure
            ENGINE_ERRORS[label] = ENGINE_ERRORS.get(label, 0) + 1
            return exc.line()

    return book, plan


def valid_cohort(n: int, knowledge: engine.Knowledge) -> list[dict[str, Any]]:
    """The cohort, refused when its answers fail validation (a figure over error messages is not one)."""
    people = cohort(n, knowledge)
    for data in people[:50]:
        try:
            engine.parse_intake(data, knowledge)
        except engine.InputError as exc:
            raise SystemExit(f"bench/cohort.py gives answers that fail validation: {exc.line()}") from None
    return people


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def time_each(fn: Callable[[Any], object], items: Sequence[Any], rounds: int) -> list[float]:
    """Seconds per call, sorted: for each item the fastest of ``rounds`` passes over all the items."""
    best = [float("inf")] * len(items)
    clock = time.perf_counter
    for _ in range(rounds):
        for index, item in enumerate(items):
            start = clock()
            fn(item)
            elapsed = clock() - start
            if elapsed < best[index]:
                best[index] = elapsed
    return sorted(best)


def rate(fn: Callable[[Any], object], items: Sequence[Any], rounds: int) -> float:
    """Calls per second over all the items: the best of ``rounds`` passes."""
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = max(best, len(items) / (time.perf_counter() - start))
    return best


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text(encoding="ascii").split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def others_busy(seconds: float = 1.0) -> float:
    """Share of the machine's CPU used by other processes over ``seconds`` (we sleep meanwhile)."""
    try:
        busy0, total0 = _cpu_ticks()
        time.sleep(seconds)
        busy1, total1 = _cpu_ticks()
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return 0.0
    return (busy1 - busy0) / max(1, total1 - total0)


QUIET: dict[str, float] = {}


def wait_for_quiet(section: str, log: Callable[[str], None], limit: float = 0.10, patience: float = 180.0) -> None:
    """Before a timed section: wait (up to ``patience`` s) until others use less than ``limit`` of the CPU."""
    started = time.perf_counter()
    busy = others_busy()
    while busy > limit and time.perf_counter() - started < patience:
        log(f"waiting for a quiet machine before {section}: others use {busy:.0%} of the CPU")
        busy = others_busy(3.0)
    QUIET[section] = round(busy, 3)


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text(encoding="ascii").split(" ", 3)[0]
    except OSError:  # pragma: no cover - not Linux
        return "?"


# --- cold start: subprocesses, side by side with their floor -------------------------------------


def backplan_command() -> list[str]:
    return batch_jobs.backplan_command()


def child_env(cache_dir: Path) -> dict[str, str]:
    env = batch_jobs.child_env(cache_dir)
    if ENGINE_ROOT:
        env["PYTHONPATH"] = os.pathsep.join([ENGINE_ROOT, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def run_once(cmd: Sequence[str], env: dict[str, str]) -> float:
    """Wall seconds of ``cmd``; fails if it fails."""
    start = time.perf_counter()
    done = subprocess.run(list(cmd), cwd=ROOT, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return elapsed


def interleaved(sequence: Sequence[tuple[str, Sequence[str]]], rounds: int, env: dict[str, str]) -> dict[str, float]:
    """Median wall seconds of each named command: one unmeasured run of each, then ``rounds`` rounds of
    the whole ``sequence`` in order (a name may come more than once: floor, command, floor, command)."""
    for _, cmd in sequence:
        run_once(cmd, env)
    times: dict[str, list[float]] = {name: [] for name, _ in sequence}
    for _ in range(rounds):
        for name, cmd in sequence:
            times[name].append(run_once(cmd, env))
    return {name: statistics.median(values) for name, values in times.items()}


def cold_figures(sizes: Sizes, log: Callable[[str], None], info: dict[str, Any]) -> list[Figure]:
    plan_cmd = [*backplan_command(), "plan", str(EXAMPLE)]
    help_cmd = [*backplan_command(), "--help"]
    typer_cmd = [sys.executable, "-c", "import typer"]
    with tempfile.TemporaryDirectory(prefix="backplan-bench-cold-") as tmp:
        env = child_env(Path(tmp) / "cache")
        log(f"cold start: floor, plan, floor, --help; one warm-up, then {sizes.cold_runs} rounds")
        got = interleaved(
            [("typer", typer_cmd), ("plan", plan_cmd), ("typer", typer_cmd), ("help", help_cmd)], sizes.cold_runs, env
        )
        first = []
        for i in range(sizes.empty_cache_runs):
            first.append(run_once(plan_cmd, child_env(Path(tmp) / f"empty-{i}")))
        info["cold_plan_empty_cache_ms"] = statistics.median(first) * 1e3
        info["cold_plan_empty_cache_runs"] = len(first)
        if sizes.details:
            log(f"cold start details: python start-up and imports, {sizes.cold_runs} rounds")
            py = sys.executable
            parts = interleaved(
                [
                    ("pass", [py, "-c", "pass"]),
                    ("engine", [py, "-c", "import engine"]),
                    ("cli", [py, "-c", "import cli"]),
                    ("typer_app", [py, "-c", TYPER_APP]),
                    ("book", [py, "-c", "import cli, engine; engine.load_rulebook()"]),
                ],
                sizes.cold_runs,
                env,
            )
            for name, key in (
                ("pass", "python_startup"),
                ("engine", "import_engine"),
                ("cli", "import_cli"),
                ("typer_app", "typer_app_two_commands"),
                ("book", "import_cli_and_load_rulebook"),
            ):
                info[f"cold_{key}_ms"] = parts[name] * 1e3
    floor = got["typer"] * 1e3
    figures = []
    for key, name, value in (
        ("cold_plan", "cold `backplan plan` (example)", got["plan"] * 1e3),
        ("help", "`backplan --help`", got["help"] * 1e3),
    ):
        ratio = value / floor
        figures.append(Figure(name, "ms", value, floor, TYPER, f"≤ {TARGETS[key]:g}× floor", ratio <= TARGETS[key]))
    figures[0].note = (
        f"median of {sizes.cold_runs} runs, interleaved with the floor; verdict cache filled by the warm-up "
        f"(first run with an empty cache: {info['cold_plan_empty_cache_ms']:,.0f} ms, median of {len(first)})"
    )
    return figures


# --- per plan in a batch -------------------------------------------------------------------------


def per_plan_figure(sizes: Sizes, log: Callable[[str], None], info: dict[str, Any]) -> Figure:
    log(f"per plan: bench/per_plan.py, {sizes.people} people x {sizes.plan_rounds} rounds")
    result = per_plan.measure(sizes.people, sizes.plan_rounds)
    value, floor = float(result["plan_ms"]), float(result["floor_ms"])
    return Figure(
        "per plan in a batch",
        "ms",
        value,
        floor,
        "one trivial durable eval",
        f"≤ {TARGETS['per_plan']:g}× floor",
        value / floor <= TARGETS["per_plan"],
        note=f"a batch worker's call per line (engine.batch.process_line: JSON line -> record), each followed by "
        f"the floor; medians of {sizes.people:,} people x {sizes.plan_rounds} rounds (bench/per_plan.py)",
    )


def plan_parts(people: Sequence[dict[str, Any]], rounds: int, info: dict[str, Any]) -> None:
    """Details: the parts of a plan (fastest of ``rounds`` per person, medians), and what a batch worker
    really does per line (``engine.batch.process_line``: JSON text in, a compact record out)."""
    book, _ = make_planner()
    knowledge = book.knowledge
    intakes = [engine.parse_intake(d, knowledge) for d in people]
    plans = [engine.recommend(i, book) for i in intakes]
    lines = [json.dumps(d).encode("utf-8") for d in people]

    def median_ms(times: Sequence[float]) -> float:
        return statistics.median(times) * 1e3

    info["parse_intake_median_ms"] = median_ms(time_each(lambda d: engine.parse_intake(d, knowledge), people, rounds))
    info["recommend_median_ms"] = median_ms(time_each(lambda i: engine.recommend(i, book), intakes, rounds))
    info["to_json_median_ms"] = median_ms(time_each(lambda p: p.to_json(), plans, rounds))
    info["batch_process_line_median_ms"] = median_ms(
        time_each(lambda b: process_line(1, b, "bench", book), lines, rounds)
    )
    info["trace_entries_mean"] = statistics.mean(len(p.trace) for p in plans)


# --- --jobs 2 against --jobs 1 ---------------------------------------------------------------------


def jobs_figure(sizes: Sizes, log: Callable[[str], None], info: dict[str, Any]) -> Figure:
    """The target is for two idle cores: the figure is over the rounds during which other processes used
    under 10% of the machine when there are any (each round first waits, 30 s at most, for a quiet
    machine), else over every round, flagged."""
    got = batch_jobs.measure(
        sizes.batch_lines,
        sizes.batch_rounds,
        log,
        ceiling=sizes.batch_ceiling,
        parent=sizes.batch_parent,
        before_round=(lambda: wait_for_quiet("batch round", log, patience=30.0)) if sizes.wait else (lambda: None),
    )
    for key in (
        "jobs1_wall_s",
        "jobs2_wall_s",
        "speedup",
        "speedup_per_round",
        "others_share_per_round",
        "quiet_rounds",
        "ceiling_per_round",
        "workload_ceiling_per_round",
        "pool_efficiency",
        "jobs1_cpu_s_median",
        "jobs2_cpu_s_median",
        "parent_us_per_line",
        "workers_us_per_line",
        "jobs1_inprocess_us_per_line",
    ):
        if key in got:
            info[f"batch_{key}"] = got[key]
    info["batch_others_share"] = got["others_share"]
    if "speedup_quiet" in got:
        jobs1, jobs2 = got["jobs1_quiet_median_s"], got["jobs2_quiet_median_s"]
        rounds = f"{got['quiet_rounds']} quiet rounds of {sizes.batch_rounds} (others < 10% of the machine)"
        ceiling = got.get("ceiling_quiet")
        workload = got.get("workload_ceiling_quiet")
    else:
        jobs1, jobs2 = got["jobs1_median_s"], got["jobs2_median_s"]
        rounds = f"all {sizes.batch_rounds} rounds: NO QUIET ROUND, not a measurement on idle cores"
        ceiling = got.get("ceiling")
        workload = got.get("workload_ceiling")
    machine = f"; two CPU-bound processes at once got {ceiling:.2f}x one alone in the same rounds" if ceiling else ""
    if workload:
        machine += f", two `--jobs 1` at once on the halves {workload:.2f}x `--jobs 1` on all (the workload's ceiling)"
    return Figure(
        f"`batch --jobs 2`, {sizes.batch_lines:,} lines",
        "s",
        jobs2,
        jobs1,
        "`batch --jobs 1`, same input",
        f"speed-up ≥ {TARGETS['jobs2']:g}×",
        jobs1 / jobs2 >= TARGETS["jobs2"],
        speedup=True,
        note=f"wall time of the installed script, start-up included; the ratio is the speed-up; medians of "
        f"{rounds}, run order alternating{machine}",
    )


# --- details: throughput, rule-count scaling, RSS ------------------------------------------------


def _rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _step(kind: str) -> Callable[[int], object]:
    """One plan (kind 'plan', cycling through a 2,000-person cohort) or one trivial evaluation ('floor')."""
    if kind == "floor":
        trivial = TrivialEvaluation()
        return lambda i: trivial.evaluate()
    book, plan = make_planner()
    items = cohort(2000, book.knowledge)
    return lambda i: plan(items[i % len(items)])


def _throughput_worker(kind: str, n: int, index: int, barrier: Any, results: Any) -> None:
    step = _step(kind)
    offset = index * 997  # workers start at different people
    for i in range(200):
        step(offset + i)
    barrier.wait()
    for i in range(n):
        step(offset + i)
    results.put((index, time.perf_counter()))


def parallel_rate(kind: str, workers: int, per_worker: int) -> float:
    """Items per second with ``workers`` processes, from a common start to the last finish (best of 2)."""
    return max(_parallel_rate(kind, workers, per_worker) for _ in range(2))


def _parallel_rate(kind: str, workers: int, per_worker: int) -> float:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_throughput_worker, args=(kind, per_worker, i, barrier, results)) for i in range(workers)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    ends: list[float] = [results.get()[1] for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"a {kind} worker failed (exit {p.exitcode})")
    return workers * per_worker / (max(ends) - start)


def _rss_worker(kind: str, n: int, warmup: int, results: Any) -> None:
    step = _step(kind)
    for i in range(warmup):
        step(i)
    gc.collect()
    before = _rss_kb()
    for i in range(n):
        step(i)
    gc.collect()
    results.put((before, _rss_kb()))


def rss_growth_mb(kind: str, n: int, warmup: int) -> tuple[float, int, int]:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=_rss_worker, args=(kind, n, warmup, results))
    proc.start()
    before, after = results.get()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"the RSS worker failed (exit {proc.exitcode})")
    return (after - before) / 1024, before, after


def detail_figures(
    sizes: Sizes, workers: int, quiet: Callable[[str], None], log: Callable[[str], None], info: dict[str, Any]
) -> list[Figure]:
    figures: list[Figure] = []
    book, plan = make_planner()
    rounds = max(2, sizes.plan_rounds)
    if sizes.throughput:
        items = valid_cohort(sizes.throughput, book.knowledge)
        trivial = TrivialEvaluation()
        for data in items[:200]:
            plan(data)
        quiet("throughput")
        log(f"throughput, one process: {len(items)} plans, best of {rounds} passes")
        single = rate(plan, items, rounds)
        single_floor = rate(lambda _: trivial.evaluate(), range(len(items) * 4), rounds)
        figures.append(
            Figure("throughput, 1 process", "plans/s", single, single_floor, "trivial evals/s", "-", None, True)
        )
        quiet("parallel throughput")
        log(f"throughput, {workers} processes x {sizes.throughput} plans")
        multi = parallel_rate("plan", workers, sizes.throughput)
        multi_floor = parallel_rate("floor", workers, sizes.throughput * 20)
        figures.append(
            Figure(
                f"throughput, {workers} processes",
                "plans/s",
                multi,
                multi_floor,
                "trivial evals/s",
                "-",
                None,
                True,
                note=f"{multi / single:.2f}x one process",
            )
        )
    if sizes.scaling:
        sample = valid_cohort(sizes.scaling, book.knowledge)
        for data in sample[:100]:
            plan(data)
        base_med = statistics.median(time_each(plan, sample, rounds)) * 1e3
        parsed = [engine.parse_intake(d, book.knowledge) for d in sample[:200]]
        base_fired = statistics.mean(len(engine.recommend(p, book).trace) for p in parsed)
        for breadth in ("narrow", "broad"):
            quiet(f"scaling ({breadth})")
            log(f"rule-count scaling: a synthetic rule set 10x the size ({breadth} rules)")
            with tempfile.TemporaryDirectory(prefix="backplan-bench-") as tmp:
                scaled_dir = Path(tmp) / "rules"
                count = make_scaled_rules(engine.default_rules_dir(), scaled_dir, 10, book.knowledge, breadth=breadth)
                start = time.perf_counter()
                scaled_book, scaled_plan = make_planner(scaled_dir)
                info[f"scaled_{breadth}_rulebook_load_ms"] = (time.perf_counter() - start) * 1e3
                for data in sample[:100]:
                    scaled_plan(data)
                scaled_med = statistics.median(time_each(scaled_plan, sample, rounds)) * 1e3
                base_med = min(base_med, statistics.median(time_each(plan, sample, rounds)) * 1e3)  # interleaved
                fired = statistics.mean(len(engine.recommend(p, scaled_book).trace) for p in parsed)
            figures.append(
                Figure(
                    f"per plan, {count} rules (10x, {breadth})",
                    "ms",
                    scaled_med,
                    base_med,
                    f"per plan, {len(book.rules.rules)} rules",
                    f"ratio ≤ {DETAIL_TARGETS['scale']:g}",
                    scaled_med / base_med <= DETAIL_TARGETS["scale"],
                    note=f"{fired:.1f} trace entries a plan (bundled: {base_fired:.1f})",
                )
            )
    if sizes.rss:
        quiet("rss")
        log(f"RSS growth over {sizes.rss:,} plans (fresh process)")
        growth, before, after = rss_growth_mb("plan", sizes.rss, 2000)
        floor_growth, _, _ = rss_growth_mb("floor", sizes.rss, 2000)
        info["rss_before_kb"], info["rss_after_kb"] = before, after
        figures.append(
            Figure(
                f"RSS growth over {sizes.rss:,} plans",
                "MB",
                growth,
                floor_growth,
                f"{sizes.rss:,} trivial evals",
                f"< {DETAIL_TARGETS['rss_mb']:g} MB",
                growth < DETAIL_TARGETS["rss_mb"],
                note="after 2,000 warm-up plans, gc.collect() before each reading",
            )
        )
    return figures


# --- the run -------------------------------------------------------------------------------------


def quiet_waiter(sizes: Sizes, log: Callable[[str], None]) -> Callable[[str], None]:
    """What to call before a timed section: wait for a quiet machine, unless this run does not wait."""

    def quiet(section: str) -> None:
        if sizes.wait:
            wait_for_quiet(section, log)

    return quiet


def headline(sizes: Sizes, log: Callable[[str], None], info: dict[str, Any]) -> list[Figure]:
    """Issue 10's four figures, each beside its floor, in the issue's order."""
    quiet = quiet_waiter(sizes, log)
    quiet("cold start")
    figures = cold_figures(sizes, log, info)
    quiet("per plan")
    figures.append(per_plan_figure(sizes, log, info))
    quiet("batch --jobs")
    figures.append(jobs_figure(sizes, log, info))
    return figures


def measure(
    sizes: Sizes, workers: int, log: Callable[[str], None]
) -> tuple[list[Figure], list[Figure], dict[str, Any]]:
    info: dict[str, Any] = {}
    start = time.perf_counter()
    book = engine.load_rulebook()
    info["rulebook_load_ms"] = (time.perf_counter() - start) * 1e3
    info["rules"] = len(book.rules.rules)
    people = valid_cohort(max(sizes.people, 50), book.knowledge)
    _, plan = make_planner()
    outcomes: dict[str, int] = {}
    for data in people:
        text = plan(data)
        outcome = json.loads(text)["screen"]["outcome"] if text.startswith("{") else "error"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    info["cohort_outcomes"] = outcomes
    figures = headline(sizes, log, info)
    quiet = quiet_waiter(sizes, log)
    if sizes.details:
        quiet("plan parts")
        plan_parts(people, max(2, sizes.plan_rounds), info)
    details = detail_figures(sizes, workers, quiet, log, info)
    return figures, details, info


def _fmt(value: float) -> str:
    if value != value:  # nan
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"


def table(figures: Sequence[Figure]) -> str:
    header = ("figure", "measured", "floor", "floor is", "ratio", "target", "met")
    rows = [
        (
            f.name,
            f"{_fmt(f.value)} {f.unit}",
            f"{_fmt(f.floor)} {f.unit}",
            f.floor_name,
            f"{f.ratio:.2f}×" if f.ratio == f.ratio else "-",
            f.target,
            "-" if f.met is None else ("yes" if f.met else "NO"),
        )
        for f in figures
    ]
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    notes = [f"- {f.name}: {f.note}" for f in figures if f.note]
    return "\n".join([line, sep, *body, *(["", *notes] if notes else [])])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller samples (about 1 minute)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="processes for the parallel figure")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    sizes = Sizes.preset(mode)
    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    load_before = loadavg()
    figures, details, info = measure(sizes, args.workers, log)
    load_after = loadavg()
    machine = (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}"
    )
    print(f"backplan {engine.__version__} benchmark ({mode}) on {machine}")
    print(f"load average (1 min) before {load_before}, after {load_after}")
    shares = ", ".join(f"{section} {share:.0%}" for section, share in QUIET.items())
    print(f"CPU used by other processes just before each section: {shares}")
    if "batch_others_share" in info:
        print(f"CPU used by other processes during the batch runs: {info['batch_others_share']:.0%}")
    if any(share > 0.10 for share in QUIET.values()):
        print("WARNING: other processes were busy during the run (waited 3 minutes at most); timings are pessimistic")
    if ENGINE_ROOT:
        print(f"engine measured: {ENGINE_ROOT}/engine")
    print(table(figures))
    print()
    print("Details:")
    print(table(details))
    if ENGINE_ERRORS:
        print(f"ENGINE ERRORS (plans refused, fail closed) while measuring: {ENGINE_ERRORS}")
    print()
    for key, value in info.items():
        if isinstance(value, list):
            value = ", ".join(_fmt(v) for v in value)
        print(f"  {key}: {_fmt(value) if isinstance(value, float) else value}")
    print(f"  total bench time: {time.perf_counter() - started:.0f} s")
    if args.json:
        payload = {
            "engine_version": engine.__version__,
            "mode": mode,
            "machine": machine,
            "loadavg": {"before": load_before, "after": load_after},
            "others_busy_before_section": QUIET,
            "figures": [{**asdict(f), "ratio": f.ratio} for f in figures],
            "details": [{**asdict(f), "ratio": f.ratio} for f in details],
            "engine_errors": ENGINE_ERRORS,
            "info": info,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0 if all(f.met is not False for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
