"""The training journal's figures (docs/journal.md, docs/performance.md).

python bench/journal.py [--checkins 2000] [--postgres]

* check-ins per second recorded through ``Journal.record`` (one transaction each): one process, then 4
  processes at once, on a SQLite file (WAL) and, with ``--postgres``, on a PostgreSQL server this script
  starts from Debian's binaries (as the test suite does; default settings, fsync on);
* ``progress`` with 1,000 check-ins: the library call (durable_rules over the stream plus the replay guard,
  plan and dose ladder), and the whole ``backplan progress --format json`` command.

Medians of several runs; the machine's load is printed alongside (other work on it slows every figure).
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402
from engine.intake import answers_to_toml  # noqa: E402
from engine.journal.progression import CheckIn, progress  # noqa: E402
from engine.journal.store import open_journal  # noqa: E402
from tests.conftest import answers  # noqa: E402

DAY = datetime.date(2020, 1, 1)


def _item(n: int) -> CheckIn:
    return CheckIn(DAY + datetime.timedelta(days=n), n % 4, 2, "all" if n % 7 else "some")


def _write(args: tuple[str, str, int, int]) -> float:
    url, person, start, count = args
    with open_journal(url, create=True) as journal:
        began = time.perf_counter()
        for n in range(start, start + count):
            journal.record(person, _item(n))
        return time.perf_counter() - began


def _ready_then_write(args: tuple[str, str, int, int, Any]) -> float:
    url, person, start, count, barrier = args
    barrier.wait()  # every writer has started (imports done): they write at the same time
    return _write((url, person, start, count))


def rate(url: str, count: int, processes: int) -> float:
    """Check-ins per second, ``processes`` writers at once (each its own share, one person): all written over
    the longest writer's time (process start-up excluded)."""
    share = count // processes
    if processes == 1:
        return share / _write((url, "bench", 0, share))
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(processes)
        with context.Pool(processes) as pool:
            args = [(url, f"bench{processes}", p * share, share, barrier) for p in range(processes)]
            times = pool.map(_ready_then_write, args)
    return share * processes / max(times)


def progress_latency(url: str, answers_path: Path, runs: int = 5) -> tuple[float, float]:
    """(library, command) median seconds for ``progress`` over 1,000 check-ins of person "thousand"."""
    with open_journal(url, create=True) as journal:
        for n in range(1000):
            journal.record("thousand", _item(n))
        items = journal.checkins("thousand")
    book = engine.load_rulebook()
    intake = engine.load_intake(answers_path, book.knowledge)
    progress(intake, items, book)  # compile once (the command does too)
    library = []
    for _ in range(runs):
        began = time.perf_counter()
        progress(intake, items, book)
        library.append(time.perf_counter() - began)
    command = []
    backplan = Path(sys.executable).parent / "backplan"
    for _ in range(runs):
        began = time.perf_counter()
        where = ["--journal", url, "--person", "thousand"]
        done = subprocess.run(
            [str(backplan), "progress", str(answers_path), "--format", "json", *where],
            capture_output=True,
            check=False,
        )
        command.append(time.perf_counter() - began)
        if done.returncode != 0:
            raise SystemExit(done.stderr.decode())
    return statistics.median(library), statistics.median(command)


def report(name: str, url: str, count: int, answers_path: Path) -> None:
    one = statistics.median(rate(url, count, 1) for _ in range(3))
    four = statistics.median(rate(url, count, 4) for _ in range(3))
    library, command = progress_latency(url, answers_path)
    print(f"{name}: {one:,.0f} check-ins/s (1 process), {four:,.0f} check-ins/s (4 processes at once)")
    print(
        f"{name}: progress with 1,000 check-ins: {library * 1000:,.0f} ms (library), {command * 1000:,.0f} ms (command)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkins", type=int, default=2000)
    parser.add_argument("--postgres", action="store_true", help="also on a PostgreSQL server started here")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as folder:
        answers_path = Path(folder) / "answers.toml"
        pain = {"status": "chronic", "intensity": 2, "radiates_to_leg": False}
        answers_path.write_text(answers_to_toml(answers(experience="intermediate", pain=pain)), encoding="utf-8")
        report("SQLite", str(Path(folder) / "journal.sqlite3"), args.checkins, answers_path)
        if args.postgres:
            from tests.test_journal_store import PostgresServer, _binaries

            bin_dir = _binaries()
            if bin_dir is None:
                raise SystemExit("PostgreSQL binaries not found (apt-get install postgresql)")
            server = PostgresServer(bin_dir, durable=True)
            try:
                report("PostgreSQL", server.database(), args.checkins, answers_path)
            finally:
                server.stop()


if __name__ == "__main__":
    main()
