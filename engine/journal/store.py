"""Where check-ins are kept: SQLAlchemy Core over a SQLite file (the default) or a PostgreSQL server.

``--journal`` takes a file name (SQLite) or a database URL (``postgresql://user@host/db``; ``sqlite:///f``).
Without it the file is ``journal.sqlite3`` in ``$BACKPLAN_DATA_DIR``, else ``$XDG_DATA_HOME/backplan``, else
``~/.local/share/backplan``: the folder is created 0700 and the file 0600 (health data), in WAL mode so
that readers never wait for a writer and several processes can write (each write waits for the lock).

The schema is versioned (table ``backplan_schema``); opening a journal applies the migrations it lacks,
one transaction each, under a lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock), so two
processes opening a new journal at once migrate it once. A journal newer than this program is refused.
A check-in is one row keyed by (person, date): recording the same date again replaces it (an upsert, in
one statement, so concurrent writers lose nothing).

Nothing is created by reading: ``progress`` and ``journal export`` on a journal that does not exist see
no check-ins.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from ..errors import EngineError, InputError
from .progression import DONE, CheckIn

DATA_DIR_ENV = "BACKPLAN_DATA_DIR"
FILE_NAME = "journal.sqlite3"
PERSON_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")
CONNECT_TIMEOUT = 5  # seconds to reach a database server
LOCK_TIMEOUT = 30  # seconds a SQLite writer waits for the lock

metadata = sa.MetaData()
schema_table = sa.Table("backplan_schema", metadata, sa.Column("version", sa.Integer, nullable=False))
checkins = sa.Table(
    "checkins",
    metadata,
    sa.Column("person", sa.String(64), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("pain_during", sa.SmallInteger, nullable=False),
    sa.Column("pain_next_day", sa.SmallInteger, nullable=False),
    sa.Column("done", sa.String(4), nullable=False),
    sa.Column("symptoms", sa.Text, nullable=False),  # a JSON list of screening question ids (version 2)
)


def _v1(conn: Connection) -> None:
    conn.execute(
        sa.text(
            "CREATE TABLE checkins (person VARCHAR(64) NOT NULL, day DATE NOT NULL, pain_during SMALLINT NOT NULL, "
            "pain_next_day SMALLINT NOT NULL, done VARCHAR(4) NOT NULL, PRIMARY KEY (person, day))"
        )
    )


def _v2(conn: Connection) -> None:
    """Symptoms reported with a check-in (screening questions that became yes)."""
    conn.execute(sa.text("ALTER TABLE checkins ADD COLUMN symptoms TEXT NOT NULL DEFAULT '[]'"))


# Version n is reached by running MIGRATIONS[n - 1]; never edit one that has shipped, add the next.
MIGRATIONS = (_v1, _v2)
SCHEMA_VERSION = len(MIGRATIONS)


def default_path() -> Path:
    base = os.environ.get(DATA_DIR_ENV)
    if base:
        return Path(base) / FILE_NAME
    xdg = os.environ.get("XDG_DATA_HOME")
    root = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return root / "backplan" / FILE_NAME


@dataclass(frozen=True)
class Target:
    """A journal location: a SQLite file or a server URL, as the user gave it (passwords hidden)."""

    url: sa.URL
    path: Path | None  # the SQLite file, when it is one
    given: str = ""  # the URL as the user wrote it, password hidden

    @property
    def shown(self) -> str:
        return str(self.path) if self.path is not None else self.given


def resolve(journal: str | None) -> Target:
    """``--journal`` (a file or a URL), or the default file; ``InputError`` for what cannot be a journal."""
    if journal is None or journal == "":
        path = default_path()
        return Target(sa.URL.create("sqlite+pysqlite", database=str(path)), path)
    if "://" not in journal:
        path = Path(journal).expanduser()
        return Target(sa.URL.create("sqlite+pysqlite", database=str(path)), path)
    try:
        url = sa.make_url(journal)
    except ArgumentError:
        raise InputError("not a database URL", location="--journal") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise InputError("a SQLite journal needs a file name (sqlite:///FILE)", location="--journal")
        path = Path(url.database).expanduser()
        return Target(url.set(drivername="sqlite+pysqlite", database=str(path)), path)
    if backend == "postgresql":
        # psycopg (3) is the driver backplan installs, whatever driver the URL names
        return Target(url.set(drivername="postgresql+psycopg"), None, url.render_as_string(hide_password=True))
    raise InputError(
        f"unsupported database '{backend}': give a file name, sqlite:///FILE or postgresql://...", location="--journal"
    )


def check_person(person: str) -> str:
    if not PERSON_PATTERN.match(person):
        raise InputError(
            "a person id is 1 to 64 letters, digits or . _ @ + - (starting with a letter or digit)",
            location="--person",
        )
    return person


class Journal:
    """An open journal. Use as a context manager; every method is one transaction."""

    def __init__(self, target: Target, engine: Engine) -> None:
        self.target = target
        self.engine = engine

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    def record(self, person: str, checkin: CheckIn) -> None:
        """Add a check-in; one already there for that person and date is replaced."""
        values = {
            "person": person,
            "day": checkin.date,
            "pain_during": checkin.pain_during,
            "pain_next_day": checkin.pain_next_day,
            "done": checkin.done,
            "symptoms": json.dumps(list(checkin.symptoms)),
        }
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = pg_insert(checkins).values(values)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(checkins).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["person", "day"],
            set_={k: stmt.excluded[k] for k in ("pain_during", "pain_next_day", "done", "symptoms")},
        )
        with self._errors(), self.engine.begin() as conn:
            conn.execute(stmt)

    def checkins(self, person: str) -> list[CheckIn]:
        """The person's check-ins in date order."""
        query = sa.select(checkins).where(checkins.c.person == person).order_by(checkins.c.day)
        with self._errors(), self._reading() as conn:
            rows = conn.execute(query).all()
        return [_checkin(row._mapping) for row in rows]

    def delete(self, person: str) -> int:
        """Delete every check-in of the person; how many there were."""
        with self._errors(), self.engine.begin() as conn:
            result = conn.execute(sa.delete(checkins).where(checkins.c.person == person))
        return int(result.rowcount or 0)

    def count(self, person: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(checkins)
        if person is not None:
            query = query.where(checkins.c.person == person)
        with self._errors(), self._reading() as conn:
            return int(conn.execute(query).scalar_one())

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection for reading: on SQLite a deferred transaction (WAL readers take no lock)."""
        with self.engine.connect() as conn:
            yield conn.execution_options(backplan_read=True)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except DBAPIError as exc:
            raise EngineError(f"journal {self.target.shown}: {_reason(exc)}") from None


class _Empty(Journal):
    """A journal that does not exist yet, opened for reading: no check-ins, nothing created."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def close(self) -> None:
        return None

    def record(self, person: str, checkin: CheckIn) -> None:  # pragma: no cover - never opened for writing
        raise EngineError("a missing journal was opened for reading only")

    def checkins(self, person: str) -> list[CheckIn]:
        return []

    def delete(self, person: str) -> int:
        return 0

    def count(self, person: str | None = None) -> int:
        return 0


def _checkin(row: Any) -> CheckIn:
    day = row["day"]
    if isinstance(day, str):  # pragma: no cover - SQLAlchemy's Date type converts on both backends
        day = datetime.date.fromisoformat(day)
    done = str(row["done"])
    symptoms = json.loads(row["symptoms"])
    if done not in DONE or not isinstance(symptoms, list):
        raise EngineError(f"a stored check-in of {row['person']} on {day} is damaged")
    return CheckIn(day, int(row["pain_during"]), int(row["pain_next_day"]), done, tuple(str(s) for s in symptoms))


def _reason(exc: BaseException) -> str:
    """The driver's one-line reason, without SQLAlchemy's statement dump."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    return text[:300] or type(orig).__name__


def open_journal(journal: str | None, *, create: bool) -> Journal:
    """Open (``create``: and create, migrate) the journal; ``InputError`` when it cannot be reached."""
    target = resolve(journal)
    if target.path is not None:
        if not create and not target.path.exists():
            return _Empty(target)
        _prepare_file(target.path, create)
        engine = sa.create_engine(
            target.url, connect_args={"timeout": LOCK_TIMEOUT, "isolation_level": None}, poolclass=sa.pool.NullPool
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
    else:
        try:
            engine = sa.create_engine(
                target.url, connect_args={"connect_timeout": CONNECT_TIMEOUT}, poolclass=sa.pool.NullPool
            )
        except (NoSuchModuleError, ArgumentError) as exc:
            raise InputError(f"cannot use the database URL: {exc}", location="--journal") from None
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except SQLAlchemyError as exc:
        engine.dispose()
        raise InputError(f"cannot reach the journal {target.shown}: {_reason(exc)}", location="--journal") from None
    journal_ = Journal(target, engine)
    try:
        ready = _migrate(journal_, create)
    except BaseException:
        engine.dispose()
        raise
    if not ready:  # a database with no journal in it yet, opened for reading
        engine.dispose()
        return _Empty(target)
    return journal_


def _prepare_file(path: Path, create: bool) -> None:
    """The SQLite file: a regular file, created 0600 in a folder created 0700."""
    try:
        info = path.stat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise InputError(f"cannot use the journal file: {exc.strerror}", file=str(path), location="--journal") from None
    if info is not None:
        if not stat.S_ISREG(info.st_mode):
            raise InputError("the journal is not a regular file", file=str(path), location="--journal")
        return
    if not create:  # pragma: no cover - open_journal returns an empty journal first
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    except FileExistsError:
        pass  # another process created it meanwhile
    except OSError as exc:
        raise InputError(
            f"cannot create the journal file: {exc.strerror}", file=str(path), location="--journal"
        ) from None


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # The driver is in autocommit mode (isolation_level None): SQLAlchemy's begin starts our own transaction.
    # IMMEDIATE takes the write lock at once (waiting up to LOCK_TIMEOUT), so a transaction never fails
    # half-way when it upgrades a read lock to a write lock.
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("backplan_read") else "BEGIN IMMEDIATE")


def _version(conn: Connection) -> int:
    if not sa.inspect(conn).has_table("backplan_schema"):
        return 0
    found = conn.execute(sa.select(schema_table.c.version)).scalar()
    return int(found or 0)


def _migrate(journal: Journal, create: bool) -> bool:
    """Bring the schema up to date (``create``); whether the journal's tables are there."""
    engine = journal.engine
    with journal._errors(), journal._reading() as conn:
        version = _version(conn)
    if version > SCHEMA_VERSION:
        raise InputError(
            f"the journal has schema version {version}, newer than this backplan knows ({SCHEMA_VERSION}): "
            "upgrade backplan",
            location="--journal",
            file=journal.target.shown,
        )
    if version == SCHEMA_VERSION:
        return True
    if not create and version == 0:
        return False  # an empty database, read: nothing to create (an older journal is migrated, though)
    with journal._errors(), engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(727387)"))  # one migrator at a time
        version = _version(conn)  # again, under the lock: another process may have migrated meanwhile
        for number in range(version, SCHEMA_VERSION):
            if number == 0:
                conn.execute(sa.text("CREATE TABLE IF NOT EXISTS backplan_schema (version INTEGER NOT NULL)"))
                conn.execute(sa.text("INSERT INTO backplan_schema (version) VALUES (0)"))
            MIGRATIONS[number](conn)
            conn.execute(sa.update(schema_table).values(version=number + 1))
    return True


def migrate_to(journal: str, version: int) -> None:
    """Create a journal at an older schema version (tests of the migrations)."""
    target = resolve(journal)
    if target.path is not None:
        _prepare_file(target.path, True)
    engine = sa.create_engine(target.url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE backplan_schema (version INTEGER NOT NULL)"))
            conn.execute(sa.text("INSERT INTO backplan_schema (version) VALUES (0)"))
            for number in range(version):
                MIGRATIONS[number](conn)
            conn.execute(sa.update(schema_table).values(version=version))
    finally:
        engine.dispose()


def export(journal: Journal, person: str) -> dict[str, Any]:
    """The person's journal as data: ``{"person", "schema_version", "checkins": [...]}``."""
    return {
        "person": person,
        "schema_version": SCHEMA_VERSION,
        "checkins": [c.to_dict() for c in journal.checkins(person)],
    }
