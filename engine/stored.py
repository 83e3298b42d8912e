"""Loaded rule books kept on disk, so that a cold start does not parse and validate the same bytes again.

A rule book's knowledge and rules are a pure function of the TOML bytes in its two folders, the paths
they were given by and the engine's code. Once a set has loaded and passed every check, the validated
objects are pickled into the user's cache folder (the one ``verdicts`` uses), under the sha256 of all of
those, so any change to any rule, knowledge or engine file is a different key and is loaded (and checked)
from the files again. Only books that loaded and checked cleanly are kept: a defective set is refused from
its files every time.

What is read back is never trusted further than the folder it lies in: the folder must be the user's own
and closed to others (as ``~/.ssh`` must be), and unpickling resolves only the engine's own classes and
plain data types, never a function (a pickle naming ``os.system`` is refused, not run). Anything unexpected
(another Python, a truncated file, a foreign class) is no cache: the book is loaded from its files.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import stat
import sys
from pathlib import Path
from typing import Any

from . import verdicts

_FORMAT = "1"
_DATA = frozenset(
    {
        *(
            ("builtins", t)
            for t in ("dict", "list", "tuple", "set", "frozenset", "str", "bytes", "int", "float", "bool")
        ),
        *(("pathlib", t) for t in ("Path", "PosixPath", "PurePosixPath", "WindowsPath", "PureWindowsPath")),
        *(("datetime", t) for t in ("date", "datetime", "time", "timedelta", "timezone")),
        ("collections", "OrderedDict"),
    }
)


def key(*parts: str) -> str:
    """The name a loaded book is kept under: the engine's code, this Python and pydantic, and ``parts``."""
    import pydantic

    h = hashlib.sha256()
    for part in (_FORMAT, verdicts.engine_digest(), sys.version, pydantic.VERSION, *parts):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _folder() -> Path:
    return verdicts.cache_dir() / "books"


def _private(path: Path) -> bool:
    """Owned by this user and writable by nobody else (what lies there was written by this user)."""
    try:
        st = path.lstat()
    except OSError:
        return False
    owner = os.getuid() if hasattr(os, "getuid") else st.st_uid
    return st.st_uid == owner and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not stat.S_ISLNK(st.st_mode)


class _DataOnly(pickle.Unpickler):
    """Resolves the engine's classes and plain data types only: a pickle naming anything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _DATA:
            return super().find_class(module, name)
        if module.split(".")[0] == "engine":
            found = super().find_class(module, name)
            if isinstance(found, type):  # a model or dataclass of the engine, never a function
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not the engine's data")


def decode(data: bytes) -> Any:
    """Pickled engine data back as objects (only the engine's classes and plain data types)."""
    return _DataOnly(io.BytesIO(data)).load()


def fetch(name: str) -> Any | None:
    """The book kept under ``name``, or None (not kept, not ours, or not readable as the engine's data)."""
    folder = _folder()
    path = folder / f"{name}.pickle"
    if not (_private(folder) and _private(path)):
        return None
    try:
        return decode(path.read_bytes())
    except Exception:  # whatever is wrong with a cached copy, the files are read instead
        return None


def keep(name: str, value: object) -> None:
    """Keep ``value`` under ``name`` (``output.write_atomic``: all or nothing, no temporary file left even on a
    signal); quietly nothing if the cache folder cannot be written."""
    from .errors import InputError
    from .output import write_atomic

    folder = _folder()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not _private(folder):
            return
        path = folder / f"{name}.pickle"
        write_atomic(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), option="the cache")
        path.chmod(0o600)  # what fetch expects of it whatever the umask (the folder keeps others out anyway)
        _forget_old(folder, keep=path)
    except (OSError, InputError, pickle.PicklingError, TypeError, AttributeError):
        pass


# How many books the cache folder holds: every edit of a rule, knowledge or engine file, and every upgrade,
# is a new key, and the books of the old ones (some 270 KB each) would otherwise stay for good. A user with
# several rule folders in use keeps each of them; a book pruned and asked for again is loaded from its files.
KEPT_BOOKS = 16


def _forget_old(folder: Path, keep: Path) -> None:
    """Delete all but the ``KEPT_BOOKS`` most recently written books (``keep``, just written, always stays)."""
    books = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.endswith(".pickle") and entry.is_file(follow_symlinks=False) and entry.path != str(keep):
                books.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.name))
    for _, old in sorted(books, reverse=True)[KEPT_BOOKS - 1 :]:
        with contextlib.suppress(OSError):  # gone already (another process pruned it): never an error
            (folder / old).unlink()
