"""The journal's storage, the same suite on a SQLite file and on a real PostgreSQL server.

The PostgreSQL server is started by this module from Debian's ``postgresql`` binaries (initdb, pg_ctl) in a
temporary folder, on a free port of 127.0.0.1, as the unprivileged ``postgres`` user when the tests run as
root, and stopped afterwards. Without the binaries the PostgreSQL half is skipped, except under CI
(``CI=true``), where it fails: CI installs them (``.ci/run``).
"""

from __future__ import annotations

import datetime
import glob
import multiprocessing
import os
import pwd
import shutil
import socket
import sqlite3
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from engine.errors import InputError
from engine.journal.progression import CheckIn
from engine.journal.store import SCHEMA_VERSION, export, migrate_to, open_journal
from tests.conftest import answers

runner = CliRunner()
DAY = datetime.date(2025, 3, 1)
WORKERS, PER_WORKER = 4, 500


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A throw-away PostgreSQL cluster: ``url(db)`` for a fresh database on it."""

    def __init__(self, bin_dir: Path, durable: bool = False) -> None:
        """``durable``: PostgreSQL's default fsync settings (bench); the tests turn fsync off."""
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="backplan-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user: str | None = None
        if os.geteuid() == 0:  # postgres refuses to run as root
            self.user = "postgres"
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "backplan", "--auth=trust", "-E", "UTF8", "--no-sync")
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=50"
            + ("" if durable else " -c fsync=off"),
            "start",
        )

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stdout}{done.stderr}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://backplan@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        import psycopg

        name = "j_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    bin_dir = _binaries()
    if bin_dir is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Debian's postgresql binaries are missing (.ci/run installs them)")
        pytest.skip("PostgreSQL binaries not found (/usr/lib/postgresql/*/bin): apt-get install postgresql")
    server = PostgresServer(bin_dir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "journal.sqlite3")
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.database()


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKPLAN_DATA_DIR", str(tmp_path / "data"))


def _checkin(offset: int, during: int = 2, next_day: int = 2, done: str = "all") -> CheckIn:
    return CheckIn(DAY + datetime.timedelta(days=offset), during, next_day, done)


# --- the suite, on both backends ---------------------------------------------------------------------------


def test_record_and_read_back_in_date_order(journal_url: str) -> None:
    with open_journal(journal_url, create=True) as journal:
        for offset in (4, 0, 2):  # out of order
            journal.record("me", _checkin(offset, during=offset))
        journal.record("someone", _checkin(1))
        got = journal.checkins("me")
    assert [c.date for c in got] == [DAY, DAY + datetime.timedelta(2), DAY + datetime.timedelta(4)]
    assert [c.pain_during for c in got] == [0, 2, 4]


def test_the_same_date_replaces(journal_url: str) -> None:
    with open_journal(journal_url, create=True) as journal:
        journal.record("me", _checkin(0, during=2))
        journal.record("me", CheckIn(DAY, 7, 3, "some", ("fever",)))
        assert journal.checkins("me") == [CheckIn(DAY, 7, 3, "some", ("fever",))]
        assert journal.count() == 1


def test_export_and_delete_one_person(journal_url: str) -> None:
    with open_journal(journal_url, create=True) as journal:
        journal.record("me", _checkin(0))
        journal.record("you", _checkin(0))
        data = export(journal, "me")
        assert data == {
            "person": "me",
            "schema_version": SCHEMA_VERSION,
            "checkins": [{"date": "2025-03-01", "pain_during": 2, "pain_next_day": 2, "done": "all", "symptoms": []}],
        }
        assert journal.delete("me") == 1
        assert journal.checkins("me") == [] and journal.count("you") == 1


def test_reading_creates_nothing(journal_url: str) -> None:
    with open_journal(journal_url, create=False) as journal:
        assert journal.checkins("me") == []
    if "://" not in journal_url:
        assert not Path(journal_url).exists()


def test_an_old_schema_is_migrated(journal_url: str) -> None:
    migrate_to(journal_url, 1)
    import sqlalchemy as sa

    from engine.journal.store import resolve

    engine = sa.create_engine(resolve(journal_url).url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO checkins VALUES ('me', '2025-03-01', 1, 2, 'all')"))
    engine.dispose()
    with open_journal(journal_url, create=False) as journal:
        assert journal.checkins("me") == [CheckIn(DAY, 1, 2, "all", ())]
        journal.record("me", CheckIn(DAY + datetime.timedelta(1), 1, 2, "all", ("fever",)))
        assert len(journal.checkins("me")) == 2


def test_a_newer_schema_is_refused(journal_url: str) -> None:
    with open_journal(journal_url, create=True) as journal:
        journal.record("me", _checkin(0))
    import sqlalchemy as sa

    from engine.journal.store import resolve

    engine = sa.create_engine(resolve(journal_url).url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE backplan_schema SET version = {SCHEMA_VERSION + 1}"))
    engine.dispose()
    with pytest.raises(InputError, match="newer than this backplan"):
        open_journal(journal_url, create=False)


def test_cli_checkin_progress_export_delete(journal_url: str, tmp_path: Path) -> None:
    from engine.intake import answers_to_toml

    path = tmp_path / "a.toml"
    path.write_text(answers_to_toml(answers(pain__status="chronic", pain__intensity=2)), encoding="utf-8")
    for offset in range(0, 16, 2):
        date = (DAY + datetime.timedelta(offset)).isoformat()
        args = ["checkin", str(path), "--date", date, "--pain-during", "2", "--pain-next-day", "2", "--done", "all"]
        result = runner.invoke(app, [*args, "--journal", journal_url, "--person", "ann"])
        assert result.exit_code == 0, result.stderr
    where = ["--journal", journal_url, "--person", "ann"]
    result = runner.invoke(app, ["progress", str(path), "--format", "json", *where])
    assert result.exit_code == 0, result.stderr
    import json

    assert json.loads(result.stdout)["checkins"] == 8
    exported = runner.invoke(app, ["journal", "export", "--journal", journal_url, "--person", "ann"])
    assert len(json.loads(exported.stdout)["checkins"]) == 8
    deleted = runner.invoke(app, ["journal", "delete", "--journal", journal_url, "--person", "ann"])
    assert deleted.exit_code == 0 and deleted.stdout.startswith("deleted 8 check-ins of ann")
    assert "secret" not in deleted.stdout


# --- SQLite specifics ---------------------------------------------------------------------------------------


def test_default_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    with open_journal(None, create=True) as journal:
        journal.record("me", _checkin(0))
    path = tmp_path / "data" / "journal.sqlite3"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_xdg_data_home_is_the_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.journal.store import default_path

    monkeypatch.delenv("BACKPLAN_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_path() == tmp_path / "xdg" / "backplan" / "journal.sqlite3"


def test_a_folder_is_not_a_journal(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a regular file"):
        open_journal(str(tmp_path), create=True)


# --- concurrency: 4 processes x 500 check-ins, nothing lost ------------------------------------------------


def _writer(args: tuple[str, int]) -> int:
    url, worker = args
    with open_journal(url, create=True) as journal:
        for n in range(PER_WORKER):
            journal.record("crowd", _checkin(worker * PER_WORKER + n, during=n % 11))
            if n % 50 == 0:
                journal.checkins("crowd")  # readers meanwhile
    return PER_WORKER


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(journal_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(WORKERS) as pool:
        written = sum(pool.map(_writer, [(journal_url, w) for w in range(WORKERS)]))
    with open_journal(journal_url, create=False) as journal:
        stored = journal.checkins("crowd")
    assert written == WORKERS * PER_WORKER == len(stored) == len({c.date for c in stored})
    assert [c.pain_during for c in stored] == [n % 11 for _ in range(WORKERS) for n in range(PER_WORKER)]


def _same_dates(args: tuple[str, int]) -> None:
    url, worker = args
    with open_journal(url, create=True) as journal:
        for n in range(100):
            journal.record("crowd", _checkin(n, during=worker))


@pytest.mark.slow
def test_concurrent_writers_of_the_same_dates_keep_one_each(journal_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(WORKERS) as pool:
        pool.map(_same_dates, [(journal_url, w) for w in range(WORKERS)])
    with open_journal(journal_url, create=False) as journal:
        stored = journal.checkins("crowd")
    assert len(stored) == 100 and {c.pain_during for c in stored} <= set(range(WORKERS))
