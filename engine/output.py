"""Output files (``--out``, ``--save``): regular files only, replaced atomically, permissions kept.

A result is written to a temporary file in the target's own folder, flushed to disk and renamed over
the target in one step (``os.replace``), so a reader sees the old file or the new one, never a part.
Before the rename the temporary file gets the mode and owner of the file it replaces; a new file gets
the usual mode for the user's umask.

Refused without being touched (``OutputError``, exit 2): a folder, a device (``/dev/null`` included,
even for root), a FIFO, a socket, an existing file we may not write, and a symlink whose target is
one of those. A symlink to a regular file is written through: its target is replaced, the link kept.

No temporary file outlives the write: it is removed on any error and, while it exists, on SIGINT,
SIGTERM and SIGHUP (the signal then has its usual effect). Only SIGKILL or a power cut can orphan
one; temporary files are named ``.NAME.backplan-tmp-PID-RANDOM`` and the next write to NAME removes
those whose process is gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from .errors import InputError

TEMP_TAG = ".backplan-tmp-"
_NAME_ROOM = 200  # the part of the target's name kept in a temporary name (NAME_MAX is 255)
_TEMP = re.compile(r"\.(?P<name>.+)" + re.escape(TEMP_TAG) + r"(?P<pid>\d+)-[0-9a-f]{8}")
_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class OutputError(InputError):
    """An output file cannot be written; nothing was changed (exit 2)."""


def describe(mode: int) -> str | None:
    """What a file of this mode is, when it is not a regular file (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"  # pragma: no cover - doors, whiteouts and other rarities


def _error(path: Path | str, option: str, message: str) -> OutputError:
    return OutputError(f"cannot write: {message}", file=str(path), location=option)


def check_target(path: Path, option: str = "--out") -> tuple[Path, os.stat_result | None]:
    """The regular file to write for ``path`` and its current status (None if it does not exist yet).

    ``path`` itself, or for a symlink the file it finally points to. Nothing is created or changed."""
    try:
        status: os.stat_result | None = os.stat(path)  # follows symlinks: a link is judged by its target
    except FileNotFoundError:
        status = None
    except OSError as exc:
        raise _error(path, option, exc.strerror or str(exc)) from None
    if status is not None:
        kind = describe(status.st_mode)
        if kind is not None:
            raise _error(path, option, f"is {kind}, not a regular file")
        if not os.access(path, os.W_OK):
            raise _error(path, option, "permission denied (the file is read-only)")
    real = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    if not real.parent.is_dir():
        raise _error(path, option, f"no such folder: {real.parent}")
    return real, status


def check_folder(path: Path, option: str = "--out") -> None:
    """Refuse, before any work, a ``path`` that cannot become a writable folder. Nothing is created."""
    existing = Path(path)
    while not existing.exists():
        if existing.is_symlink():
            raise _error(path, option, f"{existing} is a broken symlink")
        if existing.parent == existing:
            break
        existing = existing.parent
    try:
        mode = os.stat(existing).st_mode
    except OSError as exc:
        raise _error(path, option, exc.strerror or str(exc)) from None
    kind = describe(mode)
    if kind != "a folder":
        what = "a file" if kind is None else kind
        raise _error(path, option, f"{existing} is {what}, expected a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _error(path, option, f"permission denied: {existing}")


def temp_path(target: Path) -> Path:
    """A new temporary name beside ``target``, recognisably ours: ``.NAME.backplan-tmp-PID-RANDOM``."""
    name = f".{target.name[:_NAME_ROOM]}{TEMP_TAG}{os.getpid()}-{secrets.token_hex(4)}"
    return target.parent / name


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (this one does; someone else's counts as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OverflowError:
        return False
    return True


def orphans(folder: Path | str, pattern: re.Pattern[str]) -> Iterator[tuple[os.DirEntry[str], re.Match[str]]]:
    """The entries of ``folder`` whose name ``pattern`` matches, made by a process (its ``pid`` group) that
    no longer runs: what a run killed with SIGKILL left. None if the folder cannot be read."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is not None and not _alive(int(match["pid"])):
            yield entry, match


def remove_orphans(target: Path) -> list[Path]:
    """Remove temporary files left beside ``target`` by writes whose process no longer runs."""
    removed: list[Path] = []
    for entry, match in orphans(target.parent, _TEMP):
        if match["name"] != target.name[:_NAME_ROOM]:
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


class _Signalled(BaseException):
    """Raised by our handler to abandon a write; the signal is delivered again once it is cleaned up."""

    def __init__(self, signum: int, frame: FrameType | None) -> None:
        super().__init__(signum)
        self.signum = signum
        self.frame = frame


Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


@contextlib.contextmanager
def removed_on_signal(path: Path, *, target: Path | None = None, option: str = "--out") -> Iterator[None]:
    """While inside: SIGINT, SIGTERM or SIGHUP remove ``path`` first, then act as they would have.

    A handler that was in place is called after the removal (Python's SIGINT handler raises
    KeyboardInterrupt); a default one kills the process as the signal would have. Ignored signals stay
    ignored. Should that handler return, ``OutputError`` names ``target`` (default ``path``) and
    ``option``. Outside the main thread, where handlers cannot be set, this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Handler] = {}

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        previous.clear()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise _Signalled(signum, frame)

    for signum in _SIGNALS:
        handler = signal.getsignal(signum)
        if handler in (signal.SIG_IGN, None):
            continue
        previous[signum] = handler
        signal.signal(signum, on_signal)
    saved = dict(previous)
    try:
        yield
    except _Signalled as caught:
        restore()
        with contextlib.suppress(OSError):
            os.unlink(path)
        old = saved.get(caught.signum)
        if callable(old):
            old(caught.signum, caught.frame)  # e.g. KeyboardInterrupt for SIGINT
        else:
            os.kill(os.getpid(), caught.signum)  # the default action, now restored: the process ends
        name = signal.Signals(caught.signum).name
        raise _error(target or path, option, f"interrupted by {name}, nothing written") from None
    finally:
        restore()


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every file system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def adopt(fd: int, status: os.stat_result | None) -> None:
    """Give the open file ``fd`` the owner and permission bits of ``status`` (the file it will replace).

    The owner is kept where the process may set it (root; or a group the user belongs to)."""
    if status is None:
        return
    mine = os.fstat(fd)
    if (mine.st_uid, mine.st_gid) != (status.st_uid, status.st_gid):
        with contextlib.suppress(PermissionError):
            os.fchown(fd, status.st_uid, status.st_gid)
        if mine.st_gid != status.st_gid:
            with contextlib.suppress(PermissionError):
                os.fchown(fd, -1, status.st_gid)
    os.fchmod(fd, stat.S_IMODE(status.st_mode))  # after chown, which may clear set-id bits


def replace_checked(source: Path, target: Path, shown: Path, option: str) -> None:
    """Rename ``source`` over ``target`` unless ``target`` has meanwhile become something else."""
    try:
        now = os.lstat(target)
    except FileNotFoundError:
        pass
    else:
        kind = describe(now.st_mode)
        if kind is not None:
            raise _error(shown, option, f"is {kind}, not a regular file")
    os.replace(source, target)
    _sync_folder(target.parent)


def write_atomic(path: Path, data: bytes | str | Iterable[bytes], *, option: str = "--out") -> None:
    """Replace (or create) the regular file ``path`` with ``data``, all or nothing.

    ``option`` names the command-line option in errors (``--out``, ``--save``). Raises ``OutputError``;
    on any error or signal the target is unchanged and no temporary file is left."""
    path = Path(path)
    target, status = check_target(path, option)
    remove_orphans(target)
    chunks: Iterable[bytes]
    if isinstance(data, str):
        chunks = [data.encode("utf-8")]
    elif isinstance(data, bytes):
        chunks = [data]
    else:
        chunks = data
    tmp = temp_path(target)
    try:
        with removed_on_signal(tmp, target=path, option=option):
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
            try:
                for chunk in chunks:
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
                adopt(fd, status)
                os.fsync(fd)
            finally:
                os.close(fd)
            replace_checked(tmp, target, path, option)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _error(path, option, exc.strerror or str(exc)) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
