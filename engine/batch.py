"""``backplan batch``: one answers object a line in, one record a line out, in input order, streaming.

Records are exactly one compact JSON object a line::

    {"line": N, "plan": {...}}                      the plan for line N
    {"line": N, "error": {"location": ..., "message": ..., ...}}   why line N gave no plan

The input is read line by line, in binary, never whole: memory stays flat whatever its size. Only
``\\n`` ends a line (``\\r\\n`` too); a line that is not UTF-8, not JSON, longer than 1 MiB, too deep,
with a huge number or with bad answers gives its own error record and the rest go on.

``jobs > 1`` plans in that many worker processes (forked where that is safe, else spawned; each builds
its own rule book: a durable_rules host is never shared) with a bounded number of lines in flight, and writes the
records in input order as they complete. A worker writes a chunk's records to a file in a private
folder of the temporary folder (``TMPDIR``), and the parent copies that file to the output with
``sendfile``: records never pass through the parent's Python objects. The folder is removed when the
run ends, however it ends (SIGKILL aside: the next run with workers removes what a killed run left).

With an output file, records go to ``FILE.partial`` as they complete; an interrupted run (signal,
crash, internal error) keeps the records it finished there, ``resume=True`` continues from them, and
a complete run renames ``FILE.partial`` to ``FILE`` in one step (keeping FILE's mode and owner).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import BinaryIO, Protocol

from .errors import BackplanError, EngineError, InputError, IntakeError
from .intake import parse_answers_text, parse_intake
from .output import OutputError, adopt, check_target, describe, orphans, replace_checked
from .plan import Plan
from .planner import RuleBook, load_rulebook, recommend
from .rulebook import forget_rulebooks

MAX_LINE_BYTES = 1 << 20  # as for an answers file: a longer line is an error record, never read whole
CHUNK_LINES = 64  # lines sent to a worker at once
CHUNK_BYTES = 1 << 20  # ... or fewer, once they hold this many bytes
WINDOW_PER_JOB = 4  # chunks in flight per worker: enough to keep it busy, few enough to keep memory flat
FLUSH_SECONDS = 0.5  # finished records reach the output at least this often
_BOM = b"\xef\xbb\xbf"
_RECORD = re.compile(rb'\{"line":(\d+),"(plan|error)":')
_SPILL_PREFIX = "backplan-batch-"  # then the parent's pid, "-" and a random part: the workers' spill folder
_SPILL = re.compile(re.escape(_SPILL_PREFIX) + r"(?P<pid>\d+)-[A-Za-z0-9_]+")
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_FORK_PLATFORM = sys.platform.startswith("linux")
_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

Line = tuple[int, bytes | None]  # line number, content (None: longer than MAX_LINE_BYTES)


class Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...

    def flush(self) -> object: ...


@dataclass
class Summary:
    """What a run wrote; ``resumed`` of the records were already in FILE.partial from an earlier run."""

    plans: int = 0
    errors: int = 0
    resumed: int = 0

    @property
    def records(self) -> int:
        return self.plans + self.errors


class Interrupted(Exception):
    """A signal stopped the run; every record finished before it was written (``kept`` holds them)."""

    def __init__(self, signum: int, summary: Summary, kept: Path | None) -> None:
        self.signum = signum
        self.summary = summary
        self.kept = kept
        super().__init__(f"interrupted by {signal.Signals(signum).name} after {summary.records} records")


# --- one line ----------------------------------------------------------------------------------------


def _record(number: int, key: str, value: object) -> bytes:
    return (json.dumps({"line": number, key: value}, separators=(",", ":")) + "\n").encode("utf-8")


def process_line(number: int, content: bytes | None, file: str, book: RuleBook) -> tuple[bytes, bool]:
    """The record for line ``number`` of ``file`` and whether it is a plan. ``EngineError`` propagates."""
    where = f"{file}:{number}"
    try:
        if content is None:
            raise IntakeError(f"line longer than {MAX_LINE_BYTES >> 20} MiB", file=where)
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise IntakeError(f"not UTF-8 text (byte {exc.start})", file=where) from None
        if not text.strip():
            raise IntakeError("empty line, expected an answers object", file=where)
        data = parse_answers_text(text, file=where, fmt="json")
        answers = parse_intake(data, book.knowledge, file=where, resumable=False)
        plan = recommend(answers, book)
    except InputError as exc:
        return _record(number, "error", exc.as_dict()), False
    return plan_record(number, plan), True


def plan_record(number: int, plan: Plan) -> bytes:
    """The same bytes as ``_record(number, "plan", plan.model_dump(mode="json"))``, serialised by pydantic's
    own encoder straight from the models: a third of the cost."""
    body = plan.model_dump_json()
    if not body.isascii():  # rare: pydantic's own ensure_ascii costs a third more on every plan
        from .render.escape import json_ascii

        body = json_ascii(body)
    return b'{"line":%d,"plan":%s}\n' % (number, body.encode("ascii"))


# --- reading -----------------------------------------------------------------------------------------


def open_input(path: Path) -> BinaryIO:
    """The input for reading: a regular file or a FIFO (a pipe); a folder, device or socket is refused."""
    file = str(path)
    try:
        kind = describe(os.stat(path).st_mode)
        if kind == "a folder":
            raise IntakeError("is a folder, expected a file", file=file)
        if kind is not None and kind != "a FIFO":
            raise IntakeError(f"is {kind}, not a regular file", file=file)
        return open(path, "rb", buffering=1 << 16)
    except FileNotFoundError:
        raise IntakeError("file not found", file=file) from None
    except OSError as exc:
        raise IntakeError(f"cannot read: {exc.strerror or exc}", file=file) from None


def read_lines(stream: BinaryIO, file: str) -> Iterator[tuple[int, bytes | None, int]]:
    """(line number, content without its line end or None if over MAX_LINE_BYTES, bytes read so far)."""
    limit = MAX_LINE_BYTES + 2  # the content and "\r\n"
    number = consumed = 0
    try:
        while True:
            raw = stream.readline(limit)
            if not raw:
                return
            consumed += len(raw)
            number += 1
            content: bytes | None
            if raw.endswith(b"\n"):
                content = raw[:-1]
            elif len(raw) == limit:  # longer still: skip to the end of the line, a piece at a time
                while True:
                    more = stream.readline(1 << 16)
                    consumed += len(more)
                    if not more or more.endswith(b"\n"):
                        break
                content = None
            else:  # the last line, with no line end
                content = raw
            if content is not None:
                if number == 1 and content.startswith(_BOM):
                    content = content[len(_BOM) :]  # a byte-order mark is not part of the text
                content = content.removesuffix(b"\r")
                if len(content) > MAX_LINE_BYTES:
                    content = None
            yield number, content, consumed
    except OSError as exc:
        raise IntakeError(f"cannot read after line {number}: {exc.strerror or exc}", file=file) from None


# --- workers -----------------------------------------------------------------------------------------

_WORKER_BOOK: RuleBook | None = None


def _worker_init(parent: int) -> None:
    # The parent decides when a run stops (Ctrl-C reaches the whole process group); SIGTERM and SIGHUP
    # end a worker at once (a forked worker would otherwise inherit the parent's handlers). A worker
    # whose parent is gone (killed) exits rather than wait forever for work. A forked worker builds its
    # own rule book (durable_rules host) rather than use its copy of the parent's.
    global _WORKER_BOOK
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    _WORKER_BOOK = None
    forget_rulebooks()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="backplan-parent-watch", daemon=True).start()


def start_method() -> str:
    """How worker processes start: ``fork`` on Linux when this process runs a single thread (so no lock
    can be held by a thread the child would lack; macOS's system libraries are not fork-safe at all), else
    ``spawn``. A forked worker starts in milliseconds with the engine already imported; a spawned one
    imports it again (about 0.3 s of CPU each), which was most of what two jobs lost against one on a
    short input."""
    import multiprocessing

    if not _FORK_PLATFORM or "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() != 1:
        return "spawn"
    try:
        threads = len(os.listdir("/proc/self/task"))  # native threads too, where Linux shows them
    except OSError:
        threads = 1
    return "fork" if threads == 1 else "spawn"


@dataclass(frozen=True)
class _Done:
    """A worker's finished chunk: its records in ``spill`` (a file of ``size`` bytes) or, if that file could
    not be written, in ``records``; and the error that stopped the chunk, if any."""

    records: bytes
    spill: str | None
    size: int
    plans: int
    errors: int
    failure: BackplanError | None


def _work(dirs: tuple[str | None, str | None], file: str, lines: list[Line], spill: str | None) -> _Done:
    """Plan a chunk of lines in a worker. Its records go to the file ``spill`` (the parent copies them to the
    output without reading them into Python: a plan record is ~20 KB, and piping it back costs more than a
    file), or back in memory when there is no spill file or it cannot be written."""
    global _WORKER_BOOK
    out: list[bytes] = []
    plans = 0
    failure: BackplanError | None = None
    try:
        if _WORKER_BOOK is None:
            _WORKER_BOOK = load_rulebook(*(Path(d) if d is not None else None for d in dirs))
        for number, content in lines:
            record, is_plan = process_line(number, content, file, _WORKER_BOOK)
            out.append(record)
            plans += is_plan
    except BackplanError as exc:
        failure = exc
    except Exception as exc:
        failure = EngineError(f"{type(exc).__name__}: {exc}")
    records = b"".join(out)
    errors = len(out) - plans
    if spill is not None and records:
        try:
            fd = os.open(spill, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC, 0o600)
            try:
                view = memoryview(records)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            return _Done(b"", spill, len(records), plans, errors, failure)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(spill)
    return _Done(records, None, 0, plans, errors, failure)


Records = Generator[tuple[_Done, int], None, None]  # (a finished chunk, input bytes read so far)


def _serial(lines: Iterator[tuple[int, bytes | None, int]], file: str, book: RuleBook) -> Records:
    for number, content, consumed in lines:
        record, is_plan = process_line(number, content, file, book)
        yield _Done(record, None, 0, int(is_plan), int(not is_plan), None), consumed


def _chunks(lines: Iterator[tuple[int, bytes | None, int]]) -> Iterator[tuple[list[Line], int]]:
    chunk: list[Line] = []
    size = consumed = 0
    for number, content, consumed in lines:
        chunk.append((number, content))
        size += len(content) if content is not None else 0
        if len(chunk) >= CHUNK_LINES or size >= CHUNK_BYTES:
            yield chunk, consumed
            chunk, size = [], 0
    if chunk:
        yield chunk, consumed


def _start_pool(jobs: int, dirs: tuple[str | None, str | None]) -> ProcessPoolExecutor:
    """``jobs`` worker processes, started at once and each loading its rule book, so that starting them
    overlaps the caller's own work (loading and checking its rule book)."""
    import multiprocessing

    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context(start_method()),
        initializer=_worker_init,
        initargs=(os.getpid(),),
    )
    for stream in (sys.stdout, sys.stderr):  # a forked worker must not write a copy of what is buffered
        with contextlib.suppress(Exception):
            stream.flush()
    for _ in range(jobs):
        pool.submit(_work, dirs, "", [], None)
    return pool


def _parallel(
    lines: Iterator[tuple[int, bytes | None, int]],
    file: str,
    jobs: int,
    dirs: tuple[str | None, str | None],
    stop: _Stop,
    pool: ProcessPoolExecutor,
) -> Records:
    pending: deque[tuple[Future[_Done], int]] = deque()
    chunks = _chunks(lines)
    window = jobs * WINDOW_PER_JOB
    spill = _spill_folder()
    try:
        exhausted = False
        index = 0
        while True:
            while not exhausted and len(pending) < window:
                item = next(chunks, None)
                if item is None:
                    exhausted = True
                    break
                chunk, consumed = item
                index += 1
                target = None if spill is None else os.path.join(spill, str(index))
                try:
                    pending.append((pool.submit(_work, dirs, file, chunk, target), consumed))
                except BrokenProcessPool:  # a worker died while the window was being filled
                    raise _broken(stop) from None
            if not pending:
                return
            future, consumed = pending.popleft()
            while not future.done():
                wait([future], timeout=0.25, return_when=FIRST_COMPLETED)
            try:
                done = future.result()
            except BrokenProcessPool:
                raise _broken(stop) from None
            yield done, consumed
            if done.failure is not None:
                raise done.failure
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if spill is not None:
            shutil.rmtree(spill, ignore_errors=True)


def _spill_folder() -> str | None:
    """A new private folder for the workers' chunk files, in the temporary folder (``TMPDIR``), after
    removing the folders that runs killed with SIGKILL left there. None if it cannot be made: the records
    then come back in memory, as correct and a little slower."""
    try:
        root = tempfile.gettempdir()  # FileNotFoundError when no candidate folder is writable
    except OSError:
        return None
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    for entry, _ in orphans(root, _SPILL):
        try:
            status = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(status.st_mode) and (uid is None or status.st_uid == uid):
            shutil.rmtree(entry.path, ignore_errors=True)
    try:
        return tempfile.mkdtemp(prefix=f"{_SPILL_PREFIX}{os.getpid()}-", dir=root)
    except OSError:
        return None


def _emit(done: _Done, sink: Sink) -> None:
    """Write a finished chunk's records to the output: from memory, or copied from its spill file by the
    kernel (``sendfile``) when the output is a file descriptor that takes it, else read and written."""
    if done.spill is None:
        sink.write(done.records)
        return
    try:
        source = os.open(done.spill, os.O_RDONLY | os.O_NOFOLLOW | _CLOEXEC)
    except OSError as exc:
        raise EngineError(f"a worker's records are gone: {exc.strerror or exc}") from None
    try:
        os.unlink(done.spill)
        copied = 0
        target = _descriptor(sink)
        if target is not None:
            sink.flush()
            copied = _sendfile(target, source, done.size)
        while copied < done.size:
            piece = os.pread(source, min(done.size - copied, 1 << 20), copied)
            if not piece:
                raise EngineError("a worker's records are cut short")
            sink.write(piece)
            copied += len(piece)
    finally:
        os.close(source)


def _descriptor(sink: Sink) -> int | None:
    fileno = getattr(sink, "fileno", None)
    if fileno is None:
        return None
    try:
        fd = fileno()
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return None
    return fd if isinstance(fd, int) else None


def _sendfile(target: int, source: int, size: int) -> int:
    """Bytes copied from ``source`` to ``target`` (which may refuse: an O_APPEND file, a terminal...)."""
    copied = 0
    while copied < size:
        try:
            sent = os.sendfile(target, source, copied, size - copied)
        except OSError:
            if copied:
                raise
            return 0  # refused before a byte moved: read and write instead
        if sent == 0:
            break
        copied += sent
    return copied


def _broken(stop: _Stop) -> BaseException:
    """What a dead worker means: the run was being stopped (a signal reached the workers too), or an
    internal error (the records finished so far are kept)."""
    if stop.signum is not None:
        return _StopNow()
    return EngineError("a batch worker process ended unexpectedly")


# --- stopping on signals -----------------------------------------------------------------------------


class _StopNow(BaseException):
    """Raised once by the signal handler, outside the critical section, to stop the run promptly."""


class _Stop:
    """SIGINT, SIGTERM and SIGHUP stop the run: at once, except while a record is being written."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.critical = False
        self.raised = False

    def handler(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        if not self.critical and not self.raised:
            self.raised = True
            raise _StopNow()

    @contextlib.contextmanager
    def critical_section(self) -> Iterator[None]:
        self.critical = True
        try:
            yield
        finally:
            self.critical = False
        if self.signum is not None and not self.raised:
            self.raised = True
            raise _StopNow()


@contextlib.contextmanager
def _stopping_on_signals() -> Iterator[_Stop]:
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {}
    for signum in _SIGNALS:
        handler = signal.getsignal(signum)
        if handler in (signal.SIG_IGN, None):
            continue
        previous[signum] = handler
        signal.signal(signum, stop.handler)
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# --- FILE.partial ------------------------------------------------------------------------------------


class PartialOutput:
    """``FILE.partial``: records appended as they complete, renamed to ``FILE`` when the run is complete.

    Opening it refuses a special ``FILE`` (folder, device, FIFO, socket) before any work, locks the
    partial file against a second run, gives it FILE's mode and owner if FILE exists, and, to resume,
    counts the complete records it holds (a torn last line is cut off)."""

    def __init__(self, out: Path, *, resume: bool = False, option: str = "--out") -> None:
        self.shown = Path(out)
        self.option = option
        self.target, status = check_target(self.shown, option)
        self.path = self.target.with_name(self.target.name + ".partial")
        self.summary = Summary()
        self._last_flush = time.monotonic()
        try:
            existing = os.lstat(self.path)
        except FileNotFoundError:
            existing = None
        except OSError as exc:
            raise self._error(exc.strerror or str(exc)) from None
        if existing is not None and (stat.S_ISLNK(existing.st_mode) or describe(existing.st_mode) is not None):
            kind = "a symlink" if stat.S_ISLNK(existing.st_mode) else describe(existing.st_mode)
            raise self._error(f"is {kind}, not a regular file")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | os.O_NOFOLLOW, 0o666)
        except OSError as exc:
            raise self._error(exc.strerror or str(exc)) from None
        try:
            self._lock(fd)
            adopt(fd, status)
            end = self._scan(fd) if resume and existing is not None else 0
            os.ftruncate(fd, end)
            os.lseek(fd, end, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            if existing is None:
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
            raise
        self.summary.resumed = self.summary.records
        self._file: BinaryIO | None = os.fdopen(fd, "wb", buffering=1 << 16)

    def _error(self, message: str, location: str | None = None) -> OutputError:
        return OutputError(f"cannot write: {message}", file=str(self.path), location=location or self.option)

    def _lock(self, fd: int) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise self._error("another backplan batch is writing it") from None

    def _scan(self, fd: int) -> int:
        """Count the complete records at the start of the file; the offset where they end."""
        end = 0
        with os.fdopen(os.dup(fd), "rb", buffering=1 << 16) as stream:
            stream.seek(0)
            while True:
                head = stream.readline(4096)
                size, complete = len(head), head.endswith(b"\n")
                while head and not complete:
                    more = stream.readline(1 << 16)
                    if not more:
                        break
                    size += len(more)
                    complete = more.endswith(b"\n")
                if not complete:  # the end, or a torn last line that an interrupted run left
                    return end
                number = self.summary.records + 1
                match = _RECORD.match(head)
                if match is None or int(match[1]) != number:
                    raise OutputError(
                        f"line {number} is not record {number} of a batch output, cannot continue from it "
                        "(delete the file to start again)",
                        file=str(self.path),
                        location="--resume",
                    )
                if match[2] == b"plan":
                    self.summary.plans += 1
                else:
                    self.summary.errors += 1
                end += size

    @property
    def records(self) -> int:
        return self.summary.records

    def write(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)

    def fileno(self) -> int:
        assert self._file is not None
        return self._file.fileno()

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def commit(self) -> None:
        """Make the finished output FILE: flushed to disk, FILE's mode and owner, renamed in one step."""
        assert self._file is not None
        try:
            self._file.flush()
            fd = self._file.fileno()
            try:
                status: os.stat_result | None = os.stat(self.target)
            except FileNotFoundError:
                status = None
            adopt(fd, status)
            os.fsync(fd)
            replace_checked(self.path, self.target, self.shown, self.option)
        except OSError as exc:
            raise OutputError(
                f"cannot write: {exc.strerror or exc}", file=str(self.shown), location=self.option
            ) from None
        finally:
            self._close()

    def abandon(self) -> Path | None:
        """Stop without FILE: keep FILE.partial if it holds records (and return it), else remove it."""
        with contextlib.suppress(OSError):
            self.flush()
        self._close()
        if self.records:
            return self.path
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        return None

    def _close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None


# --- a run -------------------------------------------------------------------------------------------


def _skip(lines: Iterator[tuple[int, bytes | None, int]], count: int, partial: Path, file: str) -> int:
    consumed = seen = 0
    for seen, _, consumed in lines:
        if seen == count:
            return consumed
    raise OutputError(
        f"holds {count} records but {file} has only {seen} lines: it is not the output of this input "
        "(delete it to start again)",
        file=str(partial),
        location="--resume",
    )


def _stream(
    stream: BinaryIO,
    file: str,
    sink: Sink,
    summary: Summary,
    *,
    book: RuleBook,
    jobs: int,
    dirs: tuple[str | None, str | None],
    pool: ProcessPoolExecutor | None,
    skip: tuple[int, Path] | None,
    stop: _Stop,
    progress: Callable[[int], None] | None,
) -> None:
    lines = read_lines(stream, file)
    if skip is not None and skip[0] > 0:
        skipped = _skip(lines, skip[0], skip[1], file)
        if progress is not None:
            progress(skipped)
    records = _serial(lines, file, book) if pool is None else _parallel(lines, file, jobs, dirs, stop, pool)
    last_flush = time.monotonic()
    with contextlib.closing(records):
        for chunk, consumed in records:
            with stop.critical_section():
                _emit(chunk, sink)
                summary.plans += chunk.plans
                summary.errors += chunk.errors
                if time.monotonic() - last_flush >= FLUSH_SECONDS:
                    sink.flush()
                    last_flush = time.monotonic()
            if progress is not None:
                progress(consumed)
    with stop.critical_section():
        sink.flush()


def _with_kept(exc: BackplanError, kept: Path) -> BackplanError:
    """The same error, saying where the records finished before it are kept."""
    return type(exc)(
        f"{exc.message} (the records finished before it are kept in {kept}: continue with --resume)",
        file=exc.file,
        location=exc.location,
        rule=exc.rule,
        suggestion=exc.suggestion,
    )


def run_batch(
    source: Path,
    out: Path | None,
    *,
    book: RuleBook | Callable[[], RuleBook],
    stdout: Sink,
    jobs: int = 1,
    resume: bool = False,
    rules_dir: Path | None = None,
    knowledge_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """A whole run: records to ``stdout`` or, with ``out``, to ``out.partial`` and then renamed to ``out``.

    ``book``: the rule book, or a function that loads it; with ``jobs > 1`` it is called once the
    workers are starting, so that their start overlaps it. ``resume``: continue from the records an
    interrupted run left in ``out.partial``. ``progress`` is
    called with the number of input bytes read so far. Raises ``Interrupted`` on SIGINT, SIGTERM or
    SIGHUP, once the records finished before it are written; ``EngineError`` on an internal failure
    (a doubtful plan is never written); ``InputError`` for an unreadable input, a special ``out`` or
    an ``out.partial`` that is not a partial output of this input. On any of these ``out`` is
    untouched, and ``out.partial`` is kept if it holds records (the error says so).

    ``jobs > 1`` spawns worker processes: as for any spawned process, the caller's ``__main__`` must
    be importable (a script, ``-m`` or ``-c``; not a script read from stdin)."""
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    if out is None and resume:
        raise OutputError("needs --out FILE: only a run writing a file can be resumed", location="--resume")
    dirs = (None if rules_dir is None else str(rules_dir), None if knowledge_dir is None else str(knowledge_dir))
    pool = _start_pool(jobs, dirs) if jobs > 1 else None
    try:
        return _run(source, out, book, stdout, jobs, resume, dirs, pool, progress)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _run(
    source: Path,
    out: Path | None,
    book: RuleBook | Callable[[], RuleBook],
    stdout: Sink,
    jobs: int,
    resume: bool,
    dirs: tuple[str | None, str | None],
    pool: ProcessPoolExecutor | None,
    progress: Callable[[int], None] | None,
) -> Summary:
    loaded = book() if callable(book) else book
    summary = Summary()
    partial: PartialOutput | None = None
    with _stopping_on_signals() as stop:
        try:
            with open_input(source) as stream:  # an unreadable input is reported before FILE.partial is touched
                if out is not None:
                    partial = PartialOutput(out, resume=resume)
                    summary = partial.summary
                _stream(
                    stream,
                    str(source),
                    partial if partial is not None else stdout,
                    summary,
                    book=loaded,
                    jobs=jobs,
                    dirs=dirs,
                    pool=pool,
                    skip=(partial.records, partial.path) if partial is not None else None,
                    stop=stop,
                    progress=progress,
                )
                if partial is not None:
                    stop.raised = True  # the run is complete: a signal now cannot stop the rename
                    partial.commit()
        except (_StopNow, Exception) as exc:
            kept = partial.abandon() if partial is not None else None
            if stop.signum is not None:  # whatever the signal broke (e.g. a rule action), it is a stop
                raise Interrupted(stop.signum, summary, kept) from None
            if kept is not None and isinstance(exc, BackplanError):
                raise _with_kept(exc, kept) from None
            raise
        finally:
            stop.raised = True  # from here on a signal only sets the flag
    return summary
