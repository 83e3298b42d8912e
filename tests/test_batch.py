"""``backplan batch`` streams: records in input order as they complete, bad lines as error records,
worker processes, FILE.partial and --resume, flat memory.

Through typer's CliRunner for the record contract, through ``engine.batch`` for streaming and memory,
and through real subprocesses for signals and peak RSS. No timing assertions: the speed-up of --jobs
is measured and reported in docs/batch.md.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import engine
from cli import app
from engine import batch as batch_module
from engine.batch import MAX_LINE_BYTES, Summary, read_lines, run_batch
from engine.errors import EngineError
from engine.output import TEMP_TAG
from tests.conftest import BASE_ANSWERS, EXAMPLES, ROOT, answers

runner = CliRunner()


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def records(text: str | bytes) -> list[dict[str, Any]]:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return [json.loads(line) for line in text.splitlines()]


def cohort_lines(count: int) -> list[bytes]:
    """Varied answers, with every tenth line bad in one of several ways."""
    bad = [b"{not json", json.dumps(answers(age=9)).encode(), b"", b"\xff\xfe", b"[1, 2]"]
    out: list[bytes] = []
    for i in range(count):
        if i % 10 == 9:
            out.append(bad[(i // 10) % len(bad)])
            continue
        pain = ["none", "acute", "chronic"][i % 3]
        out.append(
            json.dumps(
                answers(
                    age=16 + (i * 7) % 80,
                    experience=["beginner", "intermediate", "advanced"][i % 3],
                    pain__status=pain,
                    pain__intensity=0 if pain == "none" else 1 + i % 9,
                    screening__fever=i % 17 == 0,
                )
            ).encode()
        )
    return out


def write_cohort(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cohort(tmp_path_factory.mktemp("cohort") / "cohort.jsonl", cohort_lines(60))


@pytest.fixture(scope="module")
def expected(cohort: Path) -> bytes:
    """The records of an uninterrupted run in this process (one job), as bytes."""
    result = run("batch", str(cohort))
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes


# --- the record contract ------------------------------------------------------------------------------


def test_records_in_order_with_their_line_numbers(cohort: Path, expected: bytes) -> None:
    got = records(expected)
    assert [r["line"] for r in got] == list(range(1, 61))
    assert all(set(r) == {"line", "plan"} or set(r) == {"line", "error"} for r in got)
    assert [("error" in r) for r in got] == [i % 10 == 9 for i in range(60)]
    # one compact JSON object a line, exactly as json.dumps(separators=(",", ":")) writes it
    for line, record in zip(expected.splitlines(), got, strict=True):
        assert line == json.dumps(record, separators=(",", ":")).encode()


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.toml")))
def test_a_plan_record_is_the_plan_as_json_dumps_writes_it(book: engine.RuleBook, example: str) -> None:
    """The record is written by pydantic's encoder for speed; it must be the very bytes ``json.dumps`` gives
    for the plan's JSON value (ASCII escapes, no spaces), non-ASCII words included."""
    from engine.intake import parse_answers_text

    path = EXAMPLES / example
    data = parse_answers_text(path.read_text(encoding="utf-8"), file=str(path))
    record, is_plan = batch_module.process_line(7, json.dumps(data).encode(), "in.jsonl", book)
    plan = engine.recommend(engine.parse_intake(data, book.knowledge), book)
    expected = json.dumps({"line": 7, "plan": plan.model_dump(mode="json")}, separators=(",", ":")) + "\n"
    assert is_plan and record == expected.encode()
    assert json.loads(record)["plan"] == json.loads(plan.to_json())
    warning = plan.warnings[0].model_copy(update={"message": "Élan — 3 × “hold” ≥ 30 s 😀"})
    worded = plan.model_copy(update={"warnings": (warning, *plan.warnings[1:])})
    expected = json.dumps({"line": 7, "plan": worded.model_dump(mode="json")}, separators=(",", ":")) + "\n"
    assert batch_module.plan_record(7, worded) == expected.encode()


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_jobs_2_equals_jobs_1_byte_for_byte(
    cohort: Path, expected: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: str
) -> None:
    monkeypatch.setattr(batch_module, "CHUNK_LINES", 3)  # many chunks, so both workers take turns
    monkeypatch.setattr(batch_module, "start_method", lambda: start)
    result = run("batch", str(cohort), "--jobs", "2")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == expected
    assert result.stderr == "54 plans, 6 error records\n"
    out = tmp_path / "plans.jsonl"
    result = run("batch", str(cohort), "--jobs", "2", "--out", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert out.read_bytes() == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plans.jsonl"]


def test_workers_are_forked_only_from_a_single_threaded_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fork copies one thread: a lock another thread holds would stay locked in the child forever."""
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert batch_module.start_method() == "spawn"
    finally:
        release.set()
        other.join()
    monkeypatch.setattr(batch_module, "_FORK_PLATFORM", True)
    monkeypatch.setattr(batch_module.threading, "active_count", lambda: 1)
    monkeypatch.setattr(batch_module.os, "listdir", lambda path: ["1"] if path == "/proc/self/task" else [])
    assert batch_module.start_method() == "fork"
    monkeypatch.setattr(batch_module.os, "listdir", lambda path: ["1", "2"])  # a native thread
    assert batch_module.start_method() == "spawn"
    monkeypatch.setattr(batch_module.os, "listdir", lambda path: ["1"] if path == "/proc/self/task" else [])
    monkeypatch.setattr(batch_module, "_FORK_PLATFORM", False)  # e.g. macOS
    assert batch_module.start_method() == "spawn"


def test_workers_spill_their_records_to_a_private_folder_that_goes_away(
    cohort: Path, expected: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers write each chunk's records to a file in a private folder of TMPDIR; the parent copies it to
    the output (by sendfile where the output takes it) and removes the folder. Orphans of dead runs go."""
    monkeypatch.setattr(batch_module, "CHUNK_LINES", 3)
    monkeypatch.setattr(batch_module.tempfile, "tempdir", str(tmp_path))
    orphan = tmp_path / "backplan-batch-999999999-dead"  # no such process
    orphan.mkdir()
    (orphan / "1").write_bytes(b"{}")
    foreign = tmp_path / f"backplan-batch-{os.getpid()}-alive"  # a running process's: kept
    foreign.mkdir()
    seen: list[tuple[str | None, int, int]] = []
    emit = batch_module._emit

    def spy(done: Any, sink: Any) -> None:
        mode = lambda path: stat.S_IMODE(os.stat(path).st_mode)  # noqa: E731
        seen.append((done.spill, mode(done.spill), mode(Path(done.spill).parent)) if done.spill else (None, 0, 0))
        emit(done, sink)

    monkeypatch.setattr(batch_module, "_emit", spy)
    out = tmp_path / "plans.jsonl"
    result = run("batch", str(cohort), "--jobs", "2", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == expected
    assert len(seen) == 20
    assert {(mode, folder_mode) for _, mode, folder_mode in seen} == {(0o600, 0o700)}
    folders = {Path(str(spill)).parent for spill, _, _ in seen}
    assert len(folders) == 1 and next(iter(folders)).name.startswith(f"backplan-batch-{os.getpid()}-")
    assert sorted(p.name for p in tmp_path.iterdir()) == [foreign.name, "plans.jsonl"]


def test_spilled_records_reach_an_output_that_refuses_sendfile(
    cohort: Path, expected: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An O_APPEND output (``>> FILE``) refuses sendfile: the records are read and written instead."""
    monkeypatch.setattr(batch_module, "CHUNK_LINES", 3)
    target = tmp_path / "appended.jsonl"
    target.write_bytes(b"before\n")
    with open(target, "ab") as sink:
        summary = run_batch(cohort, None, book=engine.load_rulebook(), stdout=sink, jobs=2)
    assert summary.records == 60
    assert target.read_bytes() == b"before\n" + expected


def test_without_a_spill_folder_the_records_come_back_in_memory(
    cohort: Path, expected: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch_module, "CHUNK_LINES", 3)
    monkeypatch.setattr(batch_module.tempfile, "tempdir", str(tmp_path / "missing"))
    seen: list[str | None] = []
    emit = batch_module._emit
    monkeypatch.setattr(batch_module, "_emit", lambda done, sink: (seen.append(done.spill), emit(done, sink)))
    result = run("batch", str(cohort), "--jobs", "2")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == expected
    assert seen == [None] * 20


def test_bad_lines_give_error_records_and_the_rest_go_on(tmp_path: Path) -> None:
    good = json.dumps(BASE_ANSWERS).encode()
    first = next(iter(BASE_ANSWERS["screening"]))
    duplicate = good.replace(f'"{first}": false'.encode(), f'"{first}": true, "{first}": false'.encode())
    assert duplicate != good
    missing = dict(BASE_ANSWERS)
    del missing["screening"]
    huge = good.replace(b'"age": 35', b'"age": ' + b"9" * 5000)
    deep = b'{"age": ' + b"[" * 40 + b"]" * 40 + b"}"
    long_line = b'{"age": "' + b"x" * (MAX_LINE_BYTES + 10) + b'"}'
    lines = [good, b"{not json", b"\xff\xfe", huge, duplicate, json.dumps(missing).encode(), deep, long_line, b"  "]
    lines.append(good)
    path = write_cohort(tmp_path / "bad.jsonl", lines)
    result = run("batch", str(path))
    assert result.exit_code == 0, result.stderr
    got = records(result.stdout)
    assert [r["line"] for r in got] == list(range(1, 11))
    assert "plan" in got[0] and "plan" in got[9]
    errors = {r["line"]: r["error"] for r in got if "error" in r}
    assert sorted(errors) == list(range(2, 10))
    for number, error in errors.items():
        assert set(error) >= {"location", "message", "file", "kind"}
        assert error["file"] == f"{path}:{number}"
    assert errors[2]["message"].startswith("malformed JSON")
    assert errors[3]["message"] == "not UTF-8 text (byte 0)"
    assert errors[4]["message"] == "an integer longer than 20 digits"
    assert errors[5]["message"] == f"malformed JSON: duplicate key '{first}'"
    assert errors[6]["message"].startswith(f"{len(BASE_ANSWERS['screening'])} answers missing: screening.")
    assert "--resume" not in errors[6]["message"]  # a batch line cannot be resumed with intake
    assert errors[7]["message"] == "nested deeper than 32 levels"
    assert errors[8]["message"] == "line longer than 1 MiB"
    assert errors[9]["message"] == "empty line, expected an answers object"
    assert result.stderr == "2 plans, 8 error records\n"


def test_line_ends_bom_and_a_last_line_without_newline(tmp_path: Path) -> None:
    good = json.dumps(BASE_ANSWERS).encode()
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + good + b"\r\n" + good + b"\n\n" + good)
    got = records(run("batch", str(path)).stdout)
    assert [(r["line"], "plan" in r) for r in got] == [(1, True), (2, True), (3, False), (4, True)]


def test_an_empty_input_gives_an_empty_output(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    out = tmp_path / "plans.jsonl"
    result = run("batch", str(path), "--out", str(out))
    assert result.exit_code == 0 and result.stderr == "0 plans, 0 error records\n"
    assert out.read_bytes() == b""


@pytest.mark.parametrize("where", ["folder", "device"])
def test_a_special_input_is_refused(tmp_path: Path, where: str) -> None:
    path = tmp_path if where == "folder" else Path("/dev/zero")
    if where == "device" and not path.exists():
        pytest.skip("needs /dev/zero")
    result = run("batch", str(path))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"backplan: error: {path}: is a ") and len(result.stderr.splitlines()) == 1


def test_jobs_out_of_range_is_one_line(cohort: Path) -> None:
    result = run("batch", str(cohort), "--jobs", "0")
    assert result.exit_code == 2 and result.stderr.splitlines() == [
        "backplan: error: --jobs: expected 1 to 256 worker processes, got 0"
    ]


# --- streaming ----------------------------------------------------------------------------------------


class _Sink:
    def __init__(self) -> None:
        self.data = bytearray()
        self.wrote = threading.Event()

    def write(self, data: bytes) -> None:
        self.data += data
        self.wrote.set()

    def flush(self) -> None:
        return None


def test_records_are_written_before_the_input_ends(tmp_path: Path, book: engine.RuleBook) -> None:
    """A pipe delivers one line at a time and only after the record of the one before is out."""
    fifo = tmp_path / "in.pipe"
    os.mkfifo(fifo)
    sink = _Sink()
    good = json.dumps(BASE_ANSWERS).encode() + b"\n"
    failures: list[str] = []

    def feed() -> None:
        with open(fifo, "wb", buffering=0) as pipe:
            for _ in range(3):
                sink.wrote.clear()
                pipe.write(good)
                if not sink.wrote.wait(30):
                    failures.append("no record before the next line was sent")
                    return

    feeder = threading.Thread(target=feed)
    feeder.start()
    summary = run_batch(fifo, None, book=book, stdout=sink)
    feeder.join()
    assert failures == []
    assert summary == Summary(plans=3, errors=0)
    assert [r["line"] for r in records(bytes(sink.data))] == [1, 2, 3]


def test_reading_a_huge_line_keeps_memory_flat(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as f:
        f.write(b"{}\n")
        f.write(b"x" * (24 << 20))  # 24 MiB without a line end
        f.write(b"\n{}\n")
    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            seen = [(n, c) for n, c, _ in read_lines(stream, str(path))]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == [(1, b"{}"), (2, None), (3, b"{}")]
    assert peak < 4 * MAX_LINE_BYTES, f"{peak} bytes at peak while reading"


# --- FILE.partial and --resume ------------------------------------------------------------------------


def test_resume_after_a_simulated_interruption(cohort: Path, expected: bytes, tmp_path: Path) -> None:
    out = tmp_path / "plans.jsonl"
    lines = expected.splitlines(keepends=True)
    # An interrupted run: 23 records, then a torn one (a crash while it was written).
    (tmp_path / "plans.jsonl.partial").write_bytes(b"".join(lines[:23]) + lines[23][:100])
    result = run("batch", str(cohort), "--out", str(out), "--resume")
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == expected
    assert result.stderr == "54 plans, 6 error records; 23 of them kept from the interrupted run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plans.jsonl"]


@pytest.mark.parametrize("done", [0, 1, 60])
def test_resume_at_the_edges(cohort: Path, expected: bytes, tmp_path: Path, done: int) -> None:
    out = tmp_path / "plans.jsonl"
    (tmp_path / "plans.jsonl.partial").write_bytes(b"".join(expected.splitlines(keepends=True)[:done]))
    result = run("batch", str(cohort), "--out", str(out), "--resume", "--jobs", "2")
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == expected


def test_resume_without_a_partial_starts_afresh(cohort: Path, expected: bytes, tmp_path: Path) -> None:
    out = tmp_path / "plans.jsonl"
    result = run("batch", str(cohort), "--out", str(out), "--resume")
    assert result.exit_code == 0 and out.read_bytes() == expected


def test_a_new_run_without_resume_replaces_a_stale_partial(cohort: Path, expected: bytes, tmp_path: Path) -> None:
    out = tmp_path / "plans.jsonl"
    (tmp_path / "plans.jsonl.partial").write_bytes(b'{"line":1,"plan":{"stale":true}}\n')
    assert run("batch", str(cohort), "--out", str(out)).exit_code == 0
    assert out.read_bytes() == expected


def test_resume_refuses_a_partial_of_something_else(cohort: Path, tmp_path: Path) -> None:
    out = tmp_path / "plans.jsonl"
    partial = tmp_path / "plans.jsonl.partial"
    for text in (b"not a record\n", b'{"line":2,"plan":{}}\n'):
        partial.write_bytes(text)
        result = run("batch", str(cohort), "--out", str(out), "--resume")
        assert result.exit_code == 2, result.stderr
        assert result.stderr.startswith(f"backplan: error: {partial}: --resume: line 1 is not record 1")
        assert partial.read_bytes() == text and not out.exists()
    # More records than the input has lines: not the output of this input.
    partial.write_bytes(b"".join(b'{"line":%d,"error":{}}\n' % n for n in range(1, 62)))
    result = run("batch", str(cohort), "--out", str(out), "--resume")
    assert result.exit_code == 2 and "holds 61 records but" in result.stderr and "has only 60 lines" in result.stderr
    assert not out.exists()


def test_resume_needs_out(cohort: Path) -> None:
    result = run("batch", str(cohort), "--resume")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == "backplan: error: --resume: needs --out FILE: only a run writing a file can be resumed\n"


def test_an_internal_error_keeps_the_finished_records(
    cohort: Path, expected: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = batch_module.recommend

    def failing(intake: engine.Intake, book: engine.RuleBook) -> engine.Plan:
        if intake.age == 16 + (25 * 7) % 80:  # line 26
            raise EngineError("rule engine disagreement (injected)")
        return real(intake, book)

    monkeypatch.setattr(batch_module, "recommend", failing)
    out = tmp_path / "plans.jsonl"
    out.write_bytes(b"old\n")
    result = run("batch", str(cohort), "--out", str(out))
    assert result.exit_code == 1 and result.stdout == ""
    line = result.stderr.strip()
    assert line.startswith("backplan: error: internal error, no plan produced: rule engine disagreement (injected)")
    assert f"kept in {out}.partial: continue with --resume" in line
    assert out.read_bytes() == b"old\n", "FILE is untouched"
    partial = tmp_path / "plans.jsonl.partial"
    assert partial.read_bytes() == b"".join(expected.splitlines(keepends=True)[:25])
    monkeypatch.setattr(batch_module, "recommend", real)
    assert run("batch", str(cohort), "--out", str(out), "--resume").exit_code == 0
    assert out.read_bytes() == expected and not partial.exists()


def test_a_special_out_is_refused_before_any_work(cohort: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "plans.jsonl"
    os.mkfifo(fifo)
    result = run("batch", str(cohort), "--out", str(fifo))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"backplan: error: {fifo}: --out: cannot write: is a FIFO")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plans.jsonl"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_missing_input_leaves_the_partial_alone(tmp_path: Path) -> None:
    partial = tmp_path / "plans.jsonl.partial"
    partial.write_bytes(b'{"line":1,"error":{}}\n')
    result = run("batch", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "plans.jsonl"))
    assert result.exit_code == 2 and "file not found" in result.stderr
    assert partial.read_bytes() == b'{"line":1,"error":{}}\n'


@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_out_keeps_mode_and_symlink(cohort: Path, expected: bytes, tmp_path: Path, mode: int) -> None:
    real = tmp_path / "data" / "plans.jsonl"
    real.parent.mkdir()
    real.write_bytes(b"old\n")
    real.chmod(mode)
    link = tmp_path / "plans.jsonl"
    link.symlink_to(real)
    result = run("batch", str(cohort), "--out", str(link))
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and real.read_bytes() == expected
    assert stat.S_IMODE(real.stat().st_mode) == mode
    assert sorted(p.name for p in real.parent.iterdir()) == ["plans.jsonl"]


# --- signals, in a real process -----------------------------------------------------------------------


def _start(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    """``backplan batch ARGS`` in a subprocess whose temporary folder (the workers' spill files) is
    ``cwd/tmp``, so that a test sees what a run leaves there."""
    (cwd / "tmp").mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "batch", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(cwd / "tmp")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for_records(partial: Path, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if partial.exists() and partial.stat().st_size > 0:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("no record was written")


def _complete_records(data: bytes) -> list[dict[str, Any]]:
    assert data.endswith(b"\n"), "a signal leaves only whole records"
    got = records(data)
    assert [r["line"] for r in got] == list(range(1, len(got) + 1))
    return got


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigterm_keeps_whole_records_and_leaves_no_temp(tmp_path: Path, jobs: str) -> None:
    cohort = write_cohort(tmp_path / "big.jsonl", cohort_lines(100) * 200)  # far more than a few seconds
    out = tmp_path / "plans.jsonl"
    partial = tmp_path / "plans.jsonl.partial"
    with _start([str(cohort), "--out", str(out), "--jobs", jobs], tmp_path) as proc:
        _wait_for_records(partial, proc)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM, stderr
    message = stderr.decode().strip()
    assert message.startswith("backplan: error: interrupted by SIGTERM: "), message
    assert f"records kept in {partial} (continue with: backplan batch {cohort} --out {out} --resume)" in message
    kept = _complete_records(partial.read_bytes())
    assert f": {len(kept)} records kept" in message
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.jsonl", "plans.jsonl.partial", "tmp"]
    assert not [p for p in tmp_path.iterdir() if TEMP_TAG in p.name]
    assert list((tmp_path / "tmp").iterdir()) == [], "the workers' spill folder is removed"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigint_on_stdout_stops_after_whole_records(tmp_path: Path, jobs: str) -> None:
    cohort = write_cohort(tmp_path / "big.jsonl", cohort_lines(100) * 200)
    with _start([str(cohort), "--jobs", jobs], tmp_path) as proc:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert json.loads(first)["line"] == 1
        proc.send_signal(signal.SIGINT)
        # Read on through the same buffered reader (communicate() would skip what readline buffered).
        rest = proc.stdout.read()
        assert proc.stderr is not None
        stderr = proc.stderr.read()
        proc.wait(timeout=60)
    assert proc.returncode == 1, stderr
    got = _complete_records(first + rest)
    assert stderr.decode().strip() == f"backplan: error: interrupted by SIGINT after {len(got)} records"
    assert list((tmp_path / "tmp").iterdir()) == []


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _workers(pid: int) -> list[int]:
    """The worker processes of a batch run: forked (the parent's command line) or spawned (not
    multiprocessing's resource tracker)."""
    parent = Path(f"/proc/{pid}/cmdline").read_bytes()
    return [c for c in _children(pid) if _cmdline(c) == parent or b"spawn_main" in _cmdline(c)]


_NEEDS_PROC_CHILDREN = pytest.mark.skipif(
    not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(), reason="needs Linux /proc children"
)


@_NEEDS_PROC_CHILDREN
def test_a_killed_worker_is_an_internal_error_and_keeps_the_records(tmp_path: Path) -> None:
    cohort = write_cohort(tmp_path / "big.jsonl", cohort_lines(100) * 200)
    out = tmp_path / "plans.jsonl"
    partial = tmp_path / "plans.jsonl.partial"
    with _start([str(cohort), "--out", str(out), "--jobs", "2"], tmp_path) as proc:
        _wait_for_records(partial, proc)
        os.kill(_workers(proc.pid)[0], signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    line = stderr.decode().strip()
    assert line.startswith("backplan: error: internal error, no plan produced: a batch worker process ended")
    assert line.endswith(f"(the records finished before it are kept in {partial}: continue with --resume)")
    _complete_records(partial.read_bytes())
    assert not out.exists()
    assert list((tmp_path / "tmp").iterdir()) == [], "the workers' spill folder is removed"


@_NEEDS_PROC_CHILDREN
def test_workers_do_not_outlive_a_killed_parent(tmp_path: Path) -> None:
    cohort = write_cohort(tmp_path / "big.jsonl", cohort_lines(100) * 200)
    partial = tmp_path / "plans.jsonl.partial"
    with _start([str(cohort), "--out", str(tmp_path / "plans.jsonl"), "--jobs", "2"], tmp_path) as proc:
        _wait_for_records(partial, proc)
        workers = _workers(proc.pid)
        assert len(workers) == 2
        command = _cmdline(workers[0])
        proc.kill()
        proc.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{w}").exists() and _cmdline(w) == command for w in workers):
        assert time.monotonic() < deadline, "a worker outlived its parent"
        time.sleep(0.1)
    # SIGKILL aside: what was flushed is whole records, and --resume would cut a torn last line.
    assert partial.exists()
    # The killed run's spill folder is an orphan; the next run with workers removes it.
    orphans = list((tmp_path / "tmp").iterdir())
    assert [p.name.startswith(f"backplan-batch-{proc.pid}-") for p in orphans] == [True]
    small = write_cohort(tmp_path / "small.jsonl", cohort_lines(3))
    with _start([str(small), "--jobs", "2"], tmp_path) as again:
        again.communicate(timeout=120)
    assert again.returncode == 0
    assert list((tmp_path / "tmp").iterdir()) == []


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.slow
def test_sigterm_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    cohort = write_cohort(tmp_path / "c.jsonl", cohort_lines(3000))
    whole = tmp_path / "whole.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "cli", "batch", str(cohort), "--out", str(whole)],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = tmp_path / "plans.jsonl"
    partial = tmp_path / "plans.jsonl.partial"
    with _start([str(cohort), "--out", str(out), "--jobs", "2"], ROOT) as proc:
        _wait_for_records(partial, proc)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM
    assert 0 < len(_complete_records(partial.read_bytes())) < 3000
    resumed = subprocess.run(
        [sys.executable, "-m", "cli", "batch", str(cohort), "--out", str(out), "--resume", "--jobs", "2"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_bytes() == whole.read_bytes()
    assert not partial.exists()


# --- memory ---------------------------------------------------------------------------------------------

_PEAK = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
sys.stderr.write(done.stderr.decode())
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def _peak_rss_kib(args: list[str]) -> tuple[int, int, str]:
    """(exit status, largest peak RSS in KiB among the process and its workers, stderr)."""
    command = [sys.executable, "-c", _PEAK, sys.executable, "-m", "cli", "batch", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    status, peak = done.stdout.split()
    return int(status), int(peak), done.stderr


def _big_cohort(path: Path, count: int) -> Path:
    pool = cohort_lines(200)
    with path.open("wb") as f:
        for i in range(count):
            f.write(pool[i % len(pool)] + b"\n")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_memory_stays_flat_for_200_000_lines(tmp_path: Path, jobs: str) -> None:
    cohort = _big_cohort(tmp_path / "big.jsonl", 200_000)
    status, peak, stderr = _peak_rss_kib([str(cohort), "--jobs", jobs])
    assert status == 0, stderr
    assert stderr == "180000 plans, 20000 error records\n"
    assert peak < 200 * 1024, f"peak RSS {peak / 1024:.0f} MiB"


def test_memory_of_a_small_run_for_comparison(cohort: Path) -> None:
    """The same measurement on 60 lines, so the slow test's figure has a baseline (not asserted tight)."""
    status, peak, _ = _peak_rss_kib([str(cohort)])
    assert status == 0 and peak < 200 * 1024
