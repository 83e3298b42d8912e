"""backplan benchmark: every figure measured in one run, each beside its floor, against its target.

    python bench/run.py                 # full run (about 3 minutes on 2 cores)
    python bench/run.py --quick         # smaller samples (about 1 minute; RSS over 10,000 plans)
    python bench/run.py --json out.json # also write the figures as JSON
    BACKPLAN_ENGINE_ROOT=DIR python bench/run.py   # measure another copy of engine/ (A/B runs; see
                                                   # bench/golden.py for building one at a git revision)

Figures (docs/performance.md says what each means and shows a run):

* plan latency, median and p95: answers dict -> validated intake -> ``recommend`` -> ``to_json``,
  in-process, bundled rules, over a deterministic mixed cohort (bench/cohort.py); floor: one
  trivial durable_rules evaluation (a Host with one rule: assert + delete_state; bench/floor.py);
* throughput, one process and one worker process per core (each with its own RuleBook); floor: the
  trivial evaluation's rate measured the same way;
* cold start of ``backplan plan examples/chronic_pain_office_worker.toml`` (subprocess wall time,
  median); floor: ``python -c "import typer"``;
* rule-count scaling: the same intakes against the bundled rules and against valid synthetic rule
  sets ten times larger (bench/synth.py: "narrow" rules, each for a small group of people, and
  "broad" ones that fire as often as the bundled rules); the floor is the bundled-rules figure;
* `rules check` on the bundled rules and on a generated 5,000-rule set (CPU seconds); floor: loading
  the same rules without the whole-set checks;
* RSS growth over 100,000 plans after a warm-up, in a fresh process; floor: as many trivial
  evaluations.

The ratio column is always "times the floor's cost" (for rates: floor rate / measured rate).
Timing figures are only as good as the machine is quiet: the load average is printed before and
after, with a warning when something else was running.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import multiprocessing as mp
import os
import platform
import shutil
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

from cohort import cohort  # noqa: E402
from floor import LeanTrivialEvaluation, TrivialEvaluation  # noqa: E402
from synth import make_scaled_rules  # noqa: E402

import engine  # noqa: E402

EXAMPLE = ROOT / "examples" / "chronic_pain_office_worker.toml"
TARGETS = {"median_ms": 2.0, "single_rate": 400.0, "multi_rate": 700.0, "cold_ms": 400.0, "scale": 2.0, "rss_mb": 5.0}
TARGETS_CHECK = {"bundled_s": 2.0, "rules_5000_s": 30.0}  # `backplan rules check`, CPU seconds


@dataclass
class Figure:
    name: str
    unit: str
    value: float
    floor: float
    floor_name: str
    target: str
    met: bool | None
    rate: bool = False  # higher is better
    note: str = ""

    @property
    def ratio(self) -> float:
        """Times the floor's cost (not meaningful, so nan, when either is zero or negative, e.g. RSS)."""
        if self.floor <= 0 or self.value <= 0:
            return float("nan")
        return self.floor / self.value if self.rate else self.value / self.floor


# --- one plan, the way a user gets it ------------------------------------------------------------


ENGINE_ERRORS: dict[str, int] = {}


def make_planner(rules: Path | None = None) -> tuple[engine.RuleBook, Callable[[dict[str, Any]], str]]:
    book = engine.load_rulebook(rules)
    label = str(rules or "bundled")

    def plan(data: dict[str, Any]) -> str:
        try:
            return engine.recommend(engine.parse_intake(data, book.knowledge), book).to_json()
        except engine.InputError as exc:  # the cohort is valid; kept so a bad line costs what it costs
            return exc.line()
        except engine.EngineError as exc:  # counted and reported: a figure over failed plans is not a figure
            ENGINE_ERRORS[label] = ENGINE_ERRORS.get(label, 0) + 1
            return exc.line()

    return book, plan


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


ROUNDS = 3  # every in-process timing is repeated; --quick uses 2


def time_each(fn: Callable[[Any], object], items: Sequence[Any], rounds: int | None = None) -> list[float]:
    """Seconds per call, sorted: for each item the fastest of ROUNDS passes over all the items.

    Another process on the machine can only add time to a call, never take it away; the fastest of
    a few passes drops most of that interference, while the spread between items (the real p95)
    stays, because each item keeps its own time.
    """
    best = [float("inf")] * len(items)
    clock = time.perf_counter
    for _ in range(rounds or ROUNDS):
        for index, item in enumerate(items):
            start = clock()
            fn(item)
            elapsed = clock() - start
            if elapsed < best[index]:
                best[index] = elapsed
    return sorted(best)


def rate(fn: Callable[[Any], object], items: Sequence[Any]) -> float:
    """Calls per second over all the items: the best of ROUNDS passes."""
    best = 0.0
    for _ in range(ROUNDS):
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


# --- worker processes (spawned: each loads its own RuleBook) -------------------------------------


def _rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _step(kind: str) -> Callable[[int], object]:
    """One plan (kind 'plan', cycling through a 2,000-intake cohort) or one trivial evaluation ('floor')."""
    if kind == "floor":
        trivial = TrivialEvaluation()
        return lambda i: trivial.evaluate()
    book, plan = make_planner()
    items = cohort(2000, book.knowledge)
    return lambda i: plan(items[i % len(items)])


def _throughput_worker(kind: str, n: int, index: int, barrier: Any, results: Any) -> None:
    step = _step(kind)
    offset = index * 997  # workers start at different intakes
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
    ends = [results.get()[1] for _ in procs]
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


# --- cold start ----------------------------------------------------------------------------------


def wall(cmd: Sequence[str], runs: int) -> float:
    """Median wall seconds of ``cmd`` (after one unmeasured run to warm caches); fails if cmd fails."""
    env = {**os.environ, "NO_COLOR": "1"}
    if ENGINE_ROOT:
        env["PYTHONPATH"] = os.pathsep.join([ENGINE_ROOT, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=False)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
        if i:
            times.append(elapsed)
    return statistics.median(times)


def backplan_command() -> list[str]:
    script = Path(sys.executable).parent / "backplan"
    if script.exists():
        return [str(script)]
    found = shutil.which("backplan")
    if found:
        return [found]
    return [sys.executable, str(ROOT / "cli.py")]


# --- the run -------------------------------------------------------------------------------------


def measure(quick: bool, workers: int, log: Callable[[str], None]) -> tuple[list[Figure], dict[str, Any]]:
    n_latency = 500 if quick else 3000
    n_scaling = 300 if quick else 1000
    per_worker = 1000 if quick else 3000
    n_rss = 10_000 if quick else 100_000
    cold_runs = 3 if quick else 9
    figures: list[Figure] = []
    info: dict[str, Any] = {}

    log("loading the bundled rule book")
    start = time.perf_counter()
    book, plan = make_planner()
    info["rulebook_load_ms"] = (time.perf_counter() - start) * 1e3
    info["rules"] = len(book.rules.rules)
    items = cohort(n_latency, book.knowledge)
    outcomes: dict[str, int] = {}
    for data in items:  # warm-up, and the cohort's mix for the record
        text = plan(data)
        outcome = json.loads(text)["screen"]["outcome"] if text.startswith("{") else "error"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    info["cohort_outcomes"] = outcomes

    wait_for_quiet("latency", log)
    log(f"latency: {n_latency} plans and {n_latency} trivial evaluations")
    trivial = TrivialEvaluation()
    lean = LeanTrivialEvaluation()
    for _ in range(300):
        trivial.evaluate()
        lean.evaluate()
    floor_times = time_each(lambda _: trivial.evaluate(), range(n_latency))
    plan_times = time_each(plan, items)
    single_pass = time_each(plan, items, rounds=1)  # for the record: interference and GC pauses included
    info["plan_latency_single_pass_median_ms"] = statistics.median(single_pass) * 1e3
    info["plan_latency_single_pass_p95_ms"] = percentile(single_pass, 0.95) * 1e3
    info["lean_trivial_eval_median_ms"] = (
        statistics.median(time_each(lambda _: lean.evaluate(), range(n_latency))) * 1e3
    )
    median = statistics.median(plan_times) * 1e3
    p95 = percentile(plan_times, 0.95) * 1e3
    figures.append(
        Figure(
            "plan latency, median",
            "ms",
            median,
            statistics.median(floor_times) * 1e3,
            "trivial eval, median",
            f"≤ {TARGETS['median_ms']:g} ms",
            median <= TARGETS["median_ms"],
        )
    )
    figures.append(
        Figure("plan latency, p95", "ms", p95, percentile(floor_times, 0.95) * 1e3, "trivial eval, p95", "-", None)
    )
    parsed = [engine.parse_intake(d, book.knowledge) for d in items]
    info["parse_intake_median_ms"] = (
        statistics.median(time_each(lambda d: engine.parse_intake(d, book.knowledge), items)) * 1e3
    )
    info["recommend_median_ms"] = statistics.median(time_each(lambda i: engine.recommend(i, book), parsed)) * 1e3
    plans = [engine.recommend(i, book) for i in parsed[:500]]
    info["to_json_median_ms"] = statistics.median(time_each(lambda p: p.to_json(), plans)) * 1e3
    if hasattr(book, "index"):  # the stage breakdown needs the current engine's planner index
        info.update(_stage_costs(book, parsed[:500]))

    wait_for_quiet("throughput", log)
    log("throughput, one process")
    single = rate(plan, items)
    single_floor = rate(lambda _: trivial.evaluate(), range(n_latency * 4))
    figures.append(
        Figure(
            "throughput, 1 process",
            "plans/s",
            single,
            single_floor,
            "trivial evals/s",
            f"≥ {TARGETS['single_rate']:g}",
            single >= TARGETS["single_rate"],
            rate=True,
        )
    )
    wait_for_quiet("parallel throughput", log)
    log(f"throughput, {workers} processes x {per_worker} plans")
    multi = parallel_rate("plan", workers, per_worker)
    multi_floor = parallel_rate("floor", workers, per_worker * 20)
    figures.append(
        Figure(
            f"throughput, {workers} processes",
            "plans/s",
            multi,
            multi_floor,
            "trivial evals/s",
            f"≥ {TARGETS['multi_rate']:g}",
            multi >= TARGETS["multi_rate"],
            rate=True,
            note=f"{multi / single:.2f}x one process",
        )
    )

    wait_for_quiet("cold start", log)
    log(f"cold start: {cold_runs} runs each")
    cold = wall([*backplan_command(), "plan", str(EXAMPLE)], cold_runs) * 1e3
    cold_floor = wall([sys.executable, "-c", "import typer"], cold_runs) * 1e3
    info["cold_python_startup_ms"] = wall([sys.executable, "-c", "pass"], cold_runs) * 1e3
    info["cold_import_engine_ms"] = wall([sys.executable, "-c", "import engine"], cold_runs) * 1e3
    info["cold_import_cli_ms"] = wall([sys.executable, "-c", "import cli"], cold_runs) * 1e3
    info["cold_import_cli_and_load_rulebook_ms"] = (
        wall([sys.executable, "-c", "import cli, engine; engine.load_rulebook()"], cold_runs) * 1e3
    )
    figures.append(
        Figure(
            "cold start `backplan plan`",
            "ms",
            cold,
            cold_floor,
            "python -c 'import typer'",
            f"≤ {TARGETS['cold_ms']:g} ms",
            cold <= TARGETS["cold_ms"],
        )
    )

    sample = items[:n_scaling]
    base_med = statistics.median(time_each(plan, sample)) * 1e3
    info["base_mean_rules_fired"] = statistics.mean(len(p.trace) for p in plans)
    for breadth in ("narrow", "broad"):
        wait_for_quiet(f"scaling ({breadth})", log)
        log(f"rule-count scaling: a synthetic rule set 10x the size ({breadth} rules)")
        with tempfile.TemporaryDirectory(prefix="backplan-bench-") as tmp:
            scaled_dir = Path(tmp) / "rules"
            count = make_scaled_rules(engine.default_rules_dir(), scaled_dir, 10, book.knowledge, breadth=breadth)
            start = time.perf_counter()
            scaled_book, scaled_plan = make_planner(scaled_dir)
            info[f"scaled_{breadth}_rulebook_load_ms"] = (time.perf_counter() - start) * 1e3
            shards = getattr(scaled_book.evaluator, "shards", None)
            info[f"scaled_{breadth}_select_shards"] = shards("select") if shards else 1
            for data in sample[:100]:
                scaled_plan(data)
            scaled_med = statistics.median(time_each(scaled_plan, sample)) * 1e3
            base_med = min(base_med, statistics.median(time_each(plan, sample)) * 1e3)  # interleaved
            fired = []
            for p in parsed[:200]:
                with contextlib.suppress(engine.EngineError):  # the baseline engine fails some (A/B runs)
                    fired.append(len(engine.recommend(p, scaled_book).trace))
            info[f"scaled_{breadth}_mean_rules_fired"] = statistics.mean(fired) if fired else float("nan")
        figures.append(
            Figure(
                f"per plan, {count} rules (10x, {breadth})",
                "ms",
                scaled_med,
                base_med,
                f"per plan, {len(book.rules.rules)} rules",
                f"ratio ≤ {TARGETS['scale']:g}",
                scaled_med / base_med <= TARGETS["scale"],
                note=f"{statistics.mean(fired):.1f} rules fired a plan (bundled: {info['base_mean_rules_fired']:.1f})",
            )
        )

    wait_for_quiet("rules check", log)
    figures.extend(rules_check_figures(book.knowledge, log, info))

    log(f"RSS growth over {n_rss:,} plans (fresh process)")
    growth, before, after = rss_growth_mb("plan", n_rss, 2000)
    floor_growth, _, _ = rss_growth_mb("floor", n_rss, 2000)
    info["rss_before_kb"], info["rss_after_kb"] = before, after
    figures.append(
        Figure(
            f"RSS growth over {n_rss:,} plans",
            "MB",
            growth,
            floor_growth,
            f"{n_rss:,} trivial evals",
            f"< {TARGETS['rss_mb']:g} MB" + (" (over 100,000)" if n_rss != 100_000 else ""),
            growth < TARGETS["rss_mb"],
            note="quick run: fewer plans than the target's 100,000" if n_rss != 100_000 else "",
        )
    )
    return figures, info


def _check_seconds(rules: Path, knowledge: engine.Knowledge) -> tuple[float, float, int]:
    """CPU seconds of loading ``rules`` (schema, references, limits) and of `rules check` as a whole
    (the same load, then every whole-set check and proof); and the rule count."""
    from engine.check import problems

    start = time.process_time()
    ruleset = engine.load_rules(rules, knowledge)
    loaded = time.process_time()
    found = problems(ruleset, knowledge)
    done = time.process_time()
    if found:
        raise SystemExit(f"rules check found problems in {rules}: {found[0].line()}")
    return loaded - start, done - start, len(ruleset.rules)


def rules_check_figures(knowledge: engine.Knowledge, log: Callable[[str], None], info: dict[str, Any]) -> list[Figure]:
    """`backplan rules check` on the bundled rules and on a generated 5,000-rule set (bench/synth.py,
    "narrow", seed 7), in CPU seconds (a busy machine does not count against it); the floor is loading
    the same rules without the whole-set checks. The best of ``ROUNDS`` runs."""
    figures = []
    with tempfile.TemporaryDirectory(prefix="backplan-bench-check-") as tmp:
        bundled = engine.default_rules_dir()
        base = len(engine.load_rules(bundled, knowledge).rules)
        scaled = Path(tmp) / "rules"
        make_scaled_rules(bundled, scaled, -(-5000 // base), knowledge, breadth="narrow", seed=7)
        for name, rules, target in (
            ("bundled", bundled, TARGETS_CHECK["bundled_s"]),
            ("rules_5000", scaled, TARGETS_CHECK["rules_5000_s"]),
        ):
            log(f"rules check: {name}")
            runs = [_check_seconds(rules, knowledge) for _ in range(ROUNDS)]
            load, total, n = min(runs, key=lambda r: r[1])
            info[f"rules_check_{name}_load_s"] = load
            figures.append(
                Figure(
                    f"`rules check`, {n:,} rules" + (" (generated)" if name != "bundled" else ""),
                    "s",
                    total,
                    load,
                    "loading them (no whole-set checks)",
                    f"≤ {target:g} s",
                    total <= target,
                    note="" if name == "bundled" else "bench/synth.py, narrow rules, seed 7",
                )
            )
    return figures


def _stage_costs(book: engine.RuleBook, intakes: Sequence[engine.Intake]) -> dict[str, float]:
    """Median cost of the durable evaluation of each stage (the engine's rule matching alone)."""
    from engine.facts import intake_fact, stage_fact
    from engine.planner import decide

    out: dict[str, float] = {}
    facts: dict[str, list[dict[str, Any]]] = {"screen": [], "route": [], "select": []}
    for intake in intakes:
        decisions, programme = decide(intake, book)
        base = intake_fact(intake, book.knowledge)
        facts["screen"].append(stage_fact(base, None, (), book.rules.derived))
        if programme:
            facts["route"].append(stage_fact(base, None, decisions.derived, book.rules.derived))
            facts["select"].append(stage_fact(base, programme, decisions.derived, book.rules.derived))
    for stage, stage_facts in facts.items():
        times = time_each(lambda f, s=stage: book.evaluator.evaluate(s, f), stage_facts)  # type: ignore[misc]
        out[f"durable_{stage}_median_ms"] = statistics.median(times) * 1e3
        out[f"reference_check_{stage}_median_ms"] = (
            statistics.median(time_each(book.index.checks[stage], stage_facts)) * 1e3
        )
    return out


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
            f"{f.ratio:.2f}x" if f.ratio == f.ratio else "-",
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
    global ROUNDS
    ROUNDS = 2 if args.quick else 3
    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    load_before = loadavg()
    figures, info = measure(args.quick, args.workers, log)
    load_after = loadavg()
    machine = (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}"
    )
    print(f"backplan {engine.__version__} benchmark ({'quick' if args.quick else 'full'}) on {machine}")
    print(f"load average (1 min) before {load_before}, after {load_after}")
    shares = ", ".join(f"{section} {share:.0%}" for section, share in QUIET.items())
    print(f"CPU used by other processes just before each section: {shares}")
    if any(share > 0.10 for share in QUIET.values()):
        print("WARNING: other processes were busy during the run (waited 3 minutes at most); timings are pessimistic")
    if ENGINE_ROOT:
        print(f"engine measured: {ENGINE_ROOT}/engine")
    print(table(figures))
    if ENGINE_ERRORS:
        print(f"ENGINE ERRORS (plans refused, fail closed) while measuring: {ENGINE_ERRORS}")
    print()
    for key, value in info.items():
        print(f"  {key}: {_fmt(value) if isinstance(value, float) else value}")
    print(f"  total bench time: {time.perf_counter() - started:.0f} s")
    if args.json:
        payload = {
            "engine_version": engine.__version__,
            "mode": "quick" if args.quick else "full",
            "machine": machine,
            "loadavg": {"before": load_before, "after": load_after},
            "others_busy_before_section": QUIET,
            "figures": [{**asdict(f), "ratio": f.ratio} for f in figures],
            "engine_errors": ENGINE_ERRORS,
            "info": info,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0 if all(f.met is not False for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
