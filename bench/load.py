"""Load on ``backplan serve --workers 2``, measured with wrk, beside the in-process plan throughput.

    python bench/load.py                      # about 2 minutes on 2 cores
    python bench/load.py --quick              # a smoke run: 3 s a level, 10,000 requests for the memory run
    python bench/load.py --json load.json     # also write every figure as JSON

One run, one machine, one cohort (``bench/cohort.py``: 200 people, mixed as users would be):

1. **In-process**: answers (a dict) -> ``parse_intake`` -> ``recommend`` -> ``Plan.to_json()``, in this
   process, plans per second (best of 3 passes over the cohort). The server does the same work per
   request, plus reading the JSON body and HTTP.
2. **HTTP**: ``backplan serve --workers 2`` on a loopback port; ``wrk`` POSTs the cohort's answers to
   ``/api/plan`` in turn (a Lua script), at 1, 16 and 64 connections (``--duration`` seconds each, after a
   warm-up): requests/s, p50/p95/p99 latency, and every error wrk counts (connect, read, write,
   timeout, non-2xx).
3. **Memory**: the resident set (VmRSS) of each worker process after the warm-up, then after
   ``--total`` more requests (100,000 by default; wrk's threads stop themselves at their share).

The exit status is 1 if any request failed or a worker grew by more than ``--max-growth`` MiB.
Only the loopback address is used; every run is bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from cohort import cohort  # noqa: E402
from run import QUIET, loadavg, wait_for_quiet  # noqa: E402

import engine  # noqa: E402
from engine.intake import parse_intake  # noqa: E402
from tests.web_server import free_port, wait_healthy  # noqa: E402  (the server tests' own helpers)

LEVELS = (1, 16, 64)

LUA = r"""
local bodies = {
%(bodies)s
}
local counter = 0
local done_here = 0
local limit = 0

function setup(thread)
  thread:set("limit", %(per_thread)d)
end

function init(args)
  limit = tonumber(wrk.thread:get("limit")) or 0
  counter = math.random(#bodies) - 1
end

function request()
  counter = counter %% #bodies + 1
  return wrk.format("POST", "/api/plan", {["Content-Type"] = "application/json"}, bodies[counter])
end

function response(status, headers, body)
  done_here = done_here + 1
  if limit > 0 and done_here == limit then
    -- this thread has had its share: say so (wrk itself would idle until --duration ends), and stop
    local marker = io.open("%(marker)s", "a")
    marker:write("done\n")
    marker:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %%d, "duration_us": %%d, "bytes": %%d, "connect": %%d, "read": %%d, "write": %%d, ' ..
    '"status": %%d, "timeout": %%d, "p50_us": %%d, "p95_us": %%d, "p99_us": %%d, "max_us": %%d, "mean_us": %%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
end
"""


def in_process(people: list[dict[str, Any]], book: engine.RuleBook, passes: int = 3) -> float:
    """Plans per second in this process: answers -> validated intake -> plan -> JSON, best of ``passes``."""
    best = math.inf
    for _ in range(passes):
        start = time.perf_counter()
        for answers in people:
            engine.recommend(parse_intake(answers, book.knowledge, resumable=False), book).to_json()
        best = min(best, time.perf_counter() - start)
    return len(people) / best


def workers_of(pid: int) -> list[int]:
    """The server's worker processes (its children that run the app, not multiprocessing's helpers)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            cmdline = (status.parent / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        ppid = re.search(r"^PPid:\s+(\d+)", text, re.M)
        if ppid and int(ppid.group(1)) == pid and "resource_tracker" not in cmdline:
            found.append(int(status.parent.name))
    return sorted(found)


def rss_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) / 1024 if match else float("nan")


def wrk(url: str, script: Path, connections: int, *, duration: float, timeout_s: float) -> dict[str, Any]:
    threads = min(2, connections)
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
        "-s", str(script), url,
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=True).stdout
    match = re.search(r"^RESULT (\{.*\})$", out, re.M)
    if match is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    result: dict[str, Any] = json.loads(match.group(1))
    result["connections"] = connections
    result["threads"] = threads
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    return result


def write_script(path: Path, bodies: list[str], per_thread: int) -> Path:
    """The Lua script; with ``per_thread``, each thread stops after that many responses and appends a
    line to the returned marker file."""
    quoted = ",\n".join(f"  [==[{b}]==]" for b in bodies)
    marker = path.with_suffix(".done")
    path.write_text(LUA % {"bodies": quoted, "per_thread": per_thread, "marker": str(marker)}, encoding="utf-8")
    return marker


def wrk_count(url: str, script: Path, marker: Path, connections: int, threads: int, limit_s: float) -> dict[str, Any]:
    """wrk until every thread has had its share of requests (the marker file says so), then SIGINT, on
    which wrk prints its summary; the rate is over the time to the last thread's share."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{int(limit_s)}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        while process.poll() is None and time.monotonic() - start < limit_s:
            if marker.exists() and marker.read_text().count("done") >= threads:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - start
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    match = re.search(r"^RESULT (\{.*\})$", out, re.M)
    if match is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    result: dict[str, Any] = json.loads(match.group(1))
    result["seconds"] = elapsed
    result["rps"] = result["requests"] / elapsed
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s a level and 10,000 requests for memory")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds at each concurrency level")
    parser.add_argument("--total", type=int, default=100_000, help="requests in the memory run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-growth", type=float, default=8.0, help="MiB a worker may grow in the memory run")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.total = 3.0, 10_000
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    book = engine.load_rulebook()
    people = cohort(200, book.knowledge)
    for n, person in enumerate(people):  # bench/cohort.py predates answers v2's ``active``: two in three are
        person.setdefault("active", n % 3 != 0)
    bodies = [json.dumps(p, separators=(",", ":")) for p in people]
    print(f"cohort: {len(people)} people; cores: {os.cpu_count()}; workers: {args.workers}", flush=True)

    def say(text: str) -> None:
        print(text, flush=True)

    print(f"load average (1 min) before: {loadavg()}", flush=True)
    wait_for_quiet("in-process", say)
    local = in_process(people, book)
    print(f"in-process: {local:,.0f} plans/s (1 process)", flush=True)

    wait_for_quiet("HTTP", say)  # before the server starts: during the runs its workers are the others
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile(prefix="backplan-serve-", suffix=".log", delete=False)  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--port", str(port), "--workers", str(args.workers)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    results: dict[str, Any] = {"in_process_plans_per_s": local, "workers": args.workers, "levels": []}
    failed = False
    try:
        try:
            wait_healthy(url, server)
        except RuntimeError as exc:  # exited, or no answer in time: say so without a traceback
            raise SystemExit(str(exc)) from None
        with tempfile.TemporaryDirectory() as tmp:
            unlimited = Path(tmp) / "load.lua"
            write_script(unlimited, bodies, 0)
            wrk(url, unlimited, 16, duration=3, timeout_s=60)  # warm-up: both workers, every code path
            for level in LEVELS:
                r = wrk(url, unlimited, level, duration=args.duration, timeout_s=args.duration + 60)
                results["levels"].append(r)
                failed |= r["errors"] > 0
                print(
                    f"c={level:>3}: {r['rps']:8,.0f} req/s  p50 {r['p50_us'] / 1000:6.2f} ms  "
                    f"p95 {r['p95_us'] / 1000:6.2f} ms  p99 {r['p99_us'] / 1000:6.2f} ms  "
                    f"requests {r['requests']:,}  errors {r['errors']}",
                    flush=True,
                )
            workers = workers_of(server.pid)
            before = {pid: rss_mib(pid) for pid in workers}
            counted = Path(tmp) / "count.lua"
            threads = 2
            marker = write_script(counted, bodies, math.ceil(args.total / threads))
            r = wrk_count(url, counted, marker, 16, threads, limit_s=3600)
            elapsed = r["seconds"]
            after = {pid: rss_mib(pid) for pid in workers}
            growth = {pid: after[pid] - before[pid] for pid in workers}
            failed |= r["errors"] > 0 or r["requests"] < args.total
            failed |= any(g > args.max_growth for g in growth.values())
            results["memory"] = {
                "requests": r["requests"],
                "errors": r["errors"],
                "seconds": elapsed,
                "rps": r["rps"],
                "rss_before_mib": list(before.values()),
                "rss_after_mib": list(after.values()),
                "growth_mib": list(growth.values()),
            }
            print(
                f"memory: {r['requests']:,} requests in {elapsed:.0f} s, errors {r['errors']}; worker RSS "
                + ", ".join(f"{before[p]:.1f} -> {after[p]:.1f} MiB ({growth[p]:+.1f})" for p in workers),
                flush=True,
            )
        results["ratio_http_c16_to_in_process"] = results["levels"][1]["rps"] / local
        results["others_cpu_before"] = dict(QUIET)
        results["loadavg_after"] = loadavg()
        print(f"CPU used by other processes before: {QUIET}; load average (1 min) after: {loadavg()}")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        output = Path(log.name).read_text(errors="replace")
        os.unlink(log.name)
        if "Traceback" in output or "error" in output.lower().replace("errors 0", ""):
            print("server log:\n" + output, file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print("FAILED" if failed else "ok: no error, no memory growth beyond the limit")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
