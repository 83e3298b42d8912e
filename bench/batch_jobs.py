"""`backplan batch --jobs 2` against `--jobs 1`: the speed-up of the worker processes, measured side by side.

    python bench/batch_jobs.py                      # 20,000 lines, 5 rounds (about 3 minutes on 2 cores)
    python bench/batch_jobs.py --lines 4000 --rounds 3
    python bench/batch_jobs.py --json out.json      # also write the figures as JSON

What is timed: the installed ``backplan`` console script (beside ``sys.executable``) running
``backplan batch INPUT --jobs J`` as a subprocess, stdout to /dev/null, wall time from start to exit
(start-up, rule book loading and worker spawning included, as a user waits for them). INPUT is N lines
of JSON answers from the deterministic cohort (bench/cohort.py). One unmeasured warm-up of each
command first (so .pyc files and the rule-check verdict cache exist), then ``rounds`` rounds of one
run each, the order alternating (1, 2 / 2, 1 / ...) so that a drift in the machine's speed hits both;
the figure is median(--jobs 1) / median(--jobs 2), over every round and over the quiet rounds (other
processes used under 10% of the machine during the round, from /proc/stat; the target is for idle
cores; each round first waits a minute at most for a quiet machine). The child environment has no
``PYTHONDONTWRITEBYTECODE`` and a ``BACKPLAN_CACHE_DIR`` of its own (filled by the warm-up).

Two details say what the ratio can be on this machine at this moment, and where the time goes:

* the machine's ceiling: one CPU-bound Python process alone against two at once (wall), in the same
  rounds. On a shared virtual machine two busy vCPUs are often slower each than one alone, so 2.0x
  is not what two processes get even for perfectly parallel work;
* the workload's ceiling: two ``--jobs 1`` runs at once, each on one half of the input, against
  ``--jobs 1`` on all of it, in the same rounds: what two planning processes get on this machine with no
  coordination at all (when two processes slow each other down through the caches and memory they share,
  this is below the CPU-bound loop's ceiling, and no ``--jobs 2`` can beat it). Its ratio to ``--jobs 2``
  is the worker pool's efficiency (1.0: the pool costs nothing);
* the parent's own cost (``--parent``): ``engine.batch.run_batch`` with ``jobs=2`` in a fresh
  process, CPU seconds of the parent (``RUSAGE_SELF``: reading, chunking, sending lines, receiving
  and writing records) and of its workers (``RUSAGE_CHILDREN``), per input line, against one job's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _p in (str(ROOT), str(BENCH)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from cohort import cohort  # noqa: E402

import engine  # noqa: E402

SPIN = "sum(range(40_000_000))"  # one CPU-bound Python process, about a second here


def backplan_command() -> list[str]:
    """The installed console script (as a user runs it); ``python cli.py`` only if there is none."""
    script = Path(sys.executable).parent / "backplan"
    if script.exists():
        return [str(script)]
    return [sys.executable, str(ROOT / "cli.py")]


def child_env(cache_dir: Path | str) -> dict[str, str]:
    """The environment of a measured command: bytecode written and read as in a real install, its own
    rule-check verdict cache, no colours."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["BACKPLAN_CACHE_DIR"] = str(cache_dir)
    env["NO_COLOR"] = "1"
    return env


def write_input(path: Path, lines: int, knowledge: engine.Knowledge) -> Path:
    """``lines`` answers objects from the cohort, one JSON object a line; refuses an invalid cohort
    (a batch of error records would be measured instead of plans)."""
    people = cohort(min(lines, 2000), knowledge)
    for data in people[:50]:
        engine.parse_intake(data, knowledge)  # InputError: bench/cohort.py lags the answers format
    encoded = [json.dumps(p, separators=(",", ":")).encode("utf-8") for p in people]
    with open(path, "wb") as handle:
        for i in range(lines):
            handle.write(encoded[i % len(encoded)] + b"\n")
    return path


def split_input(path: Path, first: int) -> tuple[Path, Path]:
    """The input's first ``first`` lines and the rest, as two files beside it."""
    with open(path, "rb") as handle:
        content = handle.readlines()
    halves = (path.with_name("half1.jsonl"), path.with_name("half2.jsonl"))
    for half, part in zip(halves, (content[:first], content[first:]), strict=True):
        half.write_bytes(b"".join(part))
    return halves


TICK = os.sysconf("SC_CLK_TCK")
OTHERS: list[float] = []  # CPU seconds other processes used during each timed run


def _busy() -> float:
    """CPU seconds used by everything on the machine (user + nice + system) since boot, from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            return sum(int(x) for x in handle.readline().split()[1:4]) / TICK
    except OSError:  # pragma: no cover - not Linux
        return 0.0


def timed(commands: Sequence[Sequence[str]], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the commands and their children) for ``commands`` run at once;
    what other processes used meanwhile is appended to ``OTHERS``."""
    busy = _busy()
    start = time.perf_counter()
    procs = [
        subprocess.Popen(list(c), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for c in commands
    ]
    cpu = 0.0
    failures = []
    for command, proc in zip(commands, procs, strict=True):
        assert proc.stderr is not None
        with proc.stderr:
            err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        cpu += usage.ru_utime + usage.ru_stime
        if proc.returncode != 0:
            failures.append(f"{' '.join(command)} exited {proc.returncode}: {err.decode()[-400:]}")
    wall = time.perf_counter() - start
    OTHERS.append(max(0.0, _busy() - busy - cpu))
    if failures:
        raise RuntimeError("; ".join(failures))
    return wall, cpu


QUIET_SHARE = 0.10  # a round is quiet when other processes used under this share of the machine during it


def measure(
    lines: int,
    rounds: int,
    log: Callable[[str], None] = lambda _: None,
    *,
    ceiling: bool = True,
    parent: bool = True,
    before_round: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """The --jobs 2 / --jobs 1 figures for ``lines`` input lines over ``rounds`` rounds (see the module).

    ``speedup`` is over every round; ``speedup_quiet`` over the rounds during which other processes
    used under ``QUIET_SHARE`` of the machine (the target is for idle cores), when there are any.
    ``before_round`` is called before each round (e.g. to wait for a quiet machine)."""
    book = engine.load_rulebook()
    out: dict[str, Any] = {"lines": lines, "rounds": rounds}
    cpus_n = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="backplan-bench-batch-") as tmp:
        path = write_input(Path(tmp) / "answers.jsonl", lines, book.knowledge)
        halves = split_input(path, lines // 2)
        env = child_env(Path(tmp) / "cache")
        cmd = {j: [*backplan_command(), "batch", str(path), "--jobs", str(j)] for j in (1, 2)}
        log(f"batch --jobs 1 and --jobs 2: warm-up, then {rounds} rounds of {lines:,} lines each")
        small = write_input(Path(tmp) / "warm.jsonl", 100, book.knowledge)
        for j in (1, 2):
            timed([[*backplan_command(), "batch", str(small), "--jobs", str(j)]], env)
        walls: dict[int, list[float]] = {1: [], 2: []}
        cpus: dict[int, list[float]] = {1: [], 2: []}
        spins: dict[int, list[float]] = {1: [], 2: []}
        split: list[float] = []  # two --jobs 1 at once, one on each half
        cmd_halves = [[*backplan_command(), "batch", str(half), "--jobs", "1"] for half in halves]
        shares: list[float] = []
        spin = [sys.executable, "-c", SPIN]
        for r in range(rounds):
            before_round()
            OTHERS.clear()
            round_wall = 0.0
            for j in (1, 2) if r % 2 == 0 else (2, 1):
                wall, cpu = timed([cmd[j]], env)
                walls[j].append(wall)
                cpus[j].append(cpu)
                round_wall += wall
            if ceiling:
                spins[1].append(timed([spin])[0])
                spins[2].append(timed([spin, spin])[0])
                split.append(timed(cmd_halves, env)[0])
                round_wall += spins[1][-1] + spins[2][-1] + split[-1]
            shares.append(sum(OTHERS) / (round_wall * cpus_n))
            log(
                f"  round {r + 1}: --jobs 1 {walls[1][-1]:.2f} s, --jobs 2 {walls[2][-1]:.2f} s "
                f"({walls[1][-1] / walls[2][-1]:.2f}x)"
                + (
                    f"; machine ceiling {2 * spins[1][-1] / spins[2][-1]:.2f}x, workload ceiling "
                    f"{walls[1][-1] / split[-1]:.2f}x"
                    if ceiling
                    else ""
                )
                + f"; others used {shares[-1]:.0%} of the machine"
            )
        out["jobs1_wall_s"] = walls[1]
        out["jobs2_wall_s"] = walls[2]
        out["jobs1_median_s"] = statistics.median(walls[1])
        out["jobs2_median_s"] = statistics.median(walls[2])
        out["speedup"] = out["jobs1_median_s"] / out["jobs2_median_s"]
        out["speedup_per_round"] = [a / b for a, b in zip(walls[1], walls[2], strict=True)]
        out["others_share_per_round"] = shares
        out["others_share"] = statistics.mean(shares)
        quiet = [i for i, share in enumerate(shares) if share < QUIET_SHARE]
        out["quiet_rounds"] = len(quiet)
        if quiet:
            out["jobs1_quiet_median_s"] = statistics.median(walls[1][i] for i in quiet)
            out["jobs2_quiet_median_s"] = statistics.median(walls[2][i] for i in quiet)
            out["speedup_quiet"] = out["jobs1_quiet_median_s"] / out["jobs2_quiet_median_s"]
        out["jobs1_cpu_s_median"] = statistics.median(cpus[1])
        out["jobs2_cpu_s_median"] = statistics.median(cpus[2])  # parent and workers
        if ceiling:
            out["ceiling_per_round"] = [2 * a / b for a, b in zip(spins[1], spins[2], strict=True)]
            out["ceiling"] = 2 * statistics.median(spins[1]) / statistics.median(spins[2])
            out["halves_wall_s"] = split
            out["workload_ceiling_per_round"] = [a / b for a, b in zip(walls[1], split, strict=True)]
            out["workload_ceiling"] = out["jobs1_median_s"] / statistics.median(split)
            out["pool_efficiency"] = statistics.median(split) / out["jobs2_median_s"]
            if quiet:
                out["ceiling_quiet"] = statistics.median(out["ceiling_per_round"][i] for i in quiet)
                out["workload_ceiling_quiet"] = out["jobs1_quiet_median_s"] / statistics.median(split[i] for i in quiet)
        if parent:
            log("parent's own CPU: run_batch in a fresh process, --jobs 2 and --jobs 1")
            out.update(parent_cost(path, lines, env))
    return out


def parent_cost(path: Path, lines: int, env: dict[str, str]) -> dict[str, float]:
    """CPU per input line of the parent and of the workers (``--parent`` in a fresh process)."""
    out: dict[str, float] = {}
    for jobs in (2, 1):
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--parent", str(path), "--jobs", str(jobs)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            check=True,
        )
        got = json.loads(done.stdout)
        if jobs == 2:
            out["parent_us_per_line"] = got["self_cpu_s"] / lines * 1e6
            out["workers_us_per_line"] = got["children_cpu_s"] / lines * 1e6
            out["parent_load_book_s"] = got["book_cpu_s"]
            out["parent_wall_s"] = got["wall_s"]
        else:
            out["jobs1_inprocess_us_per_line"] = got["self_cpu_s"] / lines * 1e6
    return out


def _parent_main(path: Path, jobs: int) -> None:
    """Run one batch in this process; print its CPU split as JSON (the run's own loading excluded)."""
    from engine.batch import run_batch

    class Null:
        def write(self, data: bytes, /) -> int:
            return len(data)

        def flush(self) -> None:
            return None

    book_cpu = 0.0

    def load() -> engine.RuleBook:
        nonlocal book_cpu
        start = time.process_time()
        book = engine.load_rulebook()
        book_cpu = time.process_time() - start
        return book

    self0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    run_batch(path, None, book=load, stdout=Null(), jobs=jobs)
    wall = time.perf_counter() - start
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers, joined by run_batch
    self_cpu = self1.ru_utime - self0.ru_utime + self1.ru_stime - self0.ru_stime - book_cpu
    payload = {
        "self_cpu_s": self_cpu,
        "children_cpu_s": kids.ru_utime + kids.ru_stime,
        "book_cpu_s": book_cpu,
        "wall_s": wall,
    }
    print(json.dumps(payload))


def report(r: dict[str, Any]) -> str:
    lines = [
        f"backplan batch, {r['lines']:,} lines, {r['rounds']} rounds (medians of wall time, start-up included)",
        f"  --jobs 1: {r['jobs1_median_s']:.2f} s  (rounds: {', '.join(f'{x:.2f}' for x in r['jobs1_wall_s'])})",
        f"  --jobs 2: {r['jobs2_median_s']:.2f} s  (rounds: {', '.join(f'{x:.2f}' for x in r['jobs2_wall_s'])})",
        f"  speed-up: {r['speedup']:.2f}x  (per round: {', '.join(f'{x:.2f}' for x in r['speedup_per_round'])});"
        " target >= 1.8x",
        f"  CPU, all processes: --jobs 1 {r['jobs1_cpu_s_median']:.2f} s, --jobs 2 {r['jobs2_cpu_s_median']:.2f} s",
    ]
    lines.append(
        f"  other processes used {r['others_share']:.0%} of the machine's CPU during the rounds (per round:"
        f" {', '.join(f'{x:.0%}' for x in r['others_share_per_round'])})"
    )
    if "speedup_quiet" in r:
        lines.append(
            f"  quiet rounds only (others < {QUIET_SHARE:.0%}): {r['quiet_rounds']} of {r['rounds']}, --jobs 1"
            f" {r['jobs1_quiet_median_s']:.2f} s, --jobs 2 {r['jobs2_quiet_median_s']:.2f} s,"
            f" speed-up {r['speedup_quiet']:.2f}x"
            + (f", machine ceiling {r['ceiling_quiet']:.2f}x" if "ceiling_quiet" in r else "")
            + (f", workload ceiling {r['workload_ceiling_quiet']:.2f}x" if "workload_ceiling_quiet" in r else "")
        )
    else:
        lines.append("  no quiet round: the speed-up above is not a measurement on idle cores")
    if "ceiling" in r:
        lines.append(f"  machine ceiling (1 CPU-bound process alone vs 2 at once): {r['ceiling']:.2f}x")
    if "workload_ceiling" in r:
        lines.append(
            f"  workload ceiling (--jobs 1 on all lines vs two --jobs 1 at once, each on half): "
            f"{r['workload_ceiling']:.2f}x (per round: "
            f"{', '.join(f'{x:.2f}' for x in r['workload_ceiling_per_round'])});"
            f" the pool's efficiency (halves at once / --jobs 2): {r['pool_efficiency']:.2f}"
        )
    if "parent_us_per_line" in r:
        lines.append(
            f"  --jobs 2 in-process: parent {r['parent_us_per_line']:.0f} us CPU a line (its rule book"
            f" {r['parent_load_book_s']:.2f} s not counted), workers {r['workers_us_per_line']:.0f} us a line;"
            f" --jobs 1: {r['jobs1_inprocess_us_per_line']:.0f} us a line"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--no-ceiling", action="store_true", help="skip the machine-ceiling runs")
    parser.add_argument("--parent", type=Path, help=argparse.SUPPRESS)  # internal: one in-process run
    parser.add_argument("--jobs", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.parent:
        _parent_main(args.parent, args.jobs)
        return 0
    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    from run import wait_for_quiet  # bench/run.py: waits until others use < 10% of the CPU

    load = os.getloadavg()[0]
    result = measure(
        args.lines,
        args.rounds,
        log,
        ceiling=not args.no_ceiling,
        before_round=lambda: wait_for_quiet("a round", log, patience=60.0),
    )
    result["loadavg_before"], result["loadavg_after"] = load, os.getloadavg()[0]
    print(report(result))
    print(f"  load average (1 min) before {load:.2f}, after {result['loadavg_after']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
