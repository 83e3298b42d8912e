"""Output files (--out, --save): regular files only, replaced atomically, mode and owner kept, no temp left.

engine.output directly (special targets, modes, symlinks, errors and signals in the middle of a write,
orphaned temporary files), and through the command line (one error line naming the file and the option).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli import app
from engine.output import TEMP_TAG, OutputError, check_target, remove_orphans, temp_path, write_atomic
from tests.conftest import EXAMPLES, ROOT

EXAMPLE = EXAMPLES / "healthy_gym_goer.toml"
OLD = b"an earlier result that must survive\n"
runner = CliRunner()


def run(*args: str, input: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=input)


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TEMP_TAG in p.name)


def assert_refused(result: Result, target: Path, option: str = "--out", kind: str = "") -> None:
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"backplan: error: {target}: {option}: cannot write"), lines
    assert kind in lines[0]


def snapshot(path: Path) -> tuple[int, int, int, int, int]:
    st = os.lstat(path)
    return st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, st.st_rdev


@pytest.fixture()
def short_tmp() -> Iterator[Path]:
    """A folder with a short path: a socket path must fit in 108 bytes."""
    with tempfile.TemporaryDirectory(prefix="bp", dir="/tmp" if Path("/tmp").is_dir() else None) as folder:
        yield Path(folder)


# --- special targets: refused, untouched ---------------------------------------------------------------


def test_a_fifo_is_refused_untouched(tmp_path: Path) -> None:
    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)
    before = snapshot(fifo)
    # Opening a FIFO with no reader for writing would block: refusing it must not even open it.
    assert_refused(run("plan", str(EXAMPLE), "--out", str(fifo)), fifo, kind="is a FIFO")
    assert snapshot(fifo) == before and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert temps(tmp_path) == []


def test_a_folder_is_refused_untouched(tmp_path: Path) -> None:
    folder = tmp_path / "plans"
    folder.mkdir()
    assert_refused(run("plan", str(EXAMPLE), "--format", "json", "--out", str(folder)), folder, kind="is a folder")
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plans"]


def test_a_socket_is_refused_untouched(short_tmp: Path) -> None:
    path = short_tmp / "s.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
        before = snapshot(path)
        assert_refused(run("plan", str(EXAMPLE), "--out", str(path)), path, kind="is a socket")
        assert snapshot(path) == before and stat.S_ISSOCK(os.lstat(path).st_mode)
        assert temps(short_tmp) == []
    finally:
        server.close()


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")
def test_dev_null_is_refused_untouched() -> None:
    """As root a rename over /dev/null would succeed and break the system: it must never be tried."""
    before = snapshot(Path("/dev/null"))
    assert_refused(run("plan", str(EXAMPLE), "--out", "/dev/null"), Path("/dev/null"), kind="is a device")
    with pytest.raises(OutputError, match="is a device"):
        write_atomic(Path("/dev/null"), "x")
    assert snapshot(Path("/dev/null")) == before
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert temps(Path("/dev")) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="the danger is specific to root")
def test_dev_null_as_root_through_a_symlink(tmp_path: Path) -> None:
    link = tmp_path / "plan.json"
    link.symlink_to("/dev/null")
    before = snapshot(Path("/dev/null"))
    assert_refused(run("plan", str(EXAMPLE), "--out", str(link)), link, kind="is a device")
    assert link.is_symlink() and snapshot(Path("/dev/null")) == before


def test_a_symlink_to_a_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "plan.json"
    link.symlink_to(fifo)
    assert_refused(run("plan", str(EXAMPLE), "--out", str(link)), link, kind="is a FIFO")
    assert link.is_symlink() and stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write a read-only file")
def test_a_read_only_file_is_refused_untouched(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    out.write_bytes(OLD)
    out.chmod(0o444)
    assert_refused(run("plan", str(EXAMPLE), "--out", str(out)), out, kind="read-only")
    assert out.read_bytes() == OLD and stat.S_IMODE(out.stat().st_mode) == 0o444


def test_save_is_refused_before_the_first_question(tmp_path: Path) -> None:
    from tests.test_intake import CLEAR, _typed

    folder = tmp_path / "answers"
    folder.mkdir()
    result = runner.invoke(app, ["intake", "--save", str(folder)], input="\n".join(_typed(CLEAR)) + "\n")
    # one line and nothing asked: a person does not answer thirty questions to learn the file is wrong
    assert result.stderr == f"backplan: error: {folder}: --save: cannot write: is a folder, not a regular file\n"
    assert result.exit_code == 2
    assert result.stdout == ""
    assert list(folder.iterdir()) == []


def test_verify_out_is_refused_before_any_work(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_bytes(OLD)
    for target in (afile, afile / "below"):
        result = run("verify", "--out", str(target))
        assert result.exit_code == 2
        assert result.stdout == ""
        expected = f"backplan: error: {target}: --out: cannot write: {afile} is a file, expected a folder\n"
        assert result.stderr == expected
    assert afile.read_bytes() == OLD


# --- mode, owner, symlinks ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o640, 0o755])
def test_an_existing_files_mode_is_kept(tmp_path: Path, mode: int) -> None:
    out = tmp_path / "plan.json"
    out.write_bytes(OLD)
    out.chmod(mode)
    result = run("plan", str(EXAMPLE), "--format", "json", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["programme"] == "strength"
    assert stat.S_IMODE(out.stat().st_mode) == mode
    assert temps(tmp_path) == []


def test_a_new_file_gets_the_umask_mode_not_0600(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    old = os.umask(0o022)
    try:
        write_atomic(out, "new\n")
        assert stat.S_IMODE(out.stat().st_mode) == 0o644
        os.umask(0o027)
        other = tmp_path / "other.json"
        write_atomic(other, "new\n")
        assert stat.S_IMODE(other.stat().st_mode) == 0o640
    finally:
        os.umask(old)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may give a file away")
def test_an_existing_files_owner_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    out.write_bytes(OLD)
    os.chown(out, 4321, 4322)
    out.chmod(0o640)
    write_atomic(out, "new\n")
    st = out.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (4321, 4322, 0o640)
    assert out.read_text(encoding="utf-8") == "new\n"


def test_a_symlink_is_written_through_and_kept(tmp_path: Path) -> None:
    real = tmp_path / "real" / "plan.json"
    real.parent.mkdir()
    real.write_bytes(OLD)
    real.chmod(0o600)
    link = tmp_path / "plan.json"
    link.symlink_to(Path("real") / "plan.json")  # relative, as people make them
    result = run("plan", str(EXAMPLE), "--format", "json", "--out", str(link))
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(Path("real") / "plan.json")
    assert json.loads(real.read_text(encoding="utf-8"))["programme"] == "strength"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert temps(tmp_path) == [] and temps(real.parent) == []


def test_a_chain_of_symlinks_and_a_dangling_one(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_bytes(OLD)
    (tmp_path / "one").symlink_to(real)
    (tmp_path / "two").symlink_to(tmp_path / "one")
    write_atomic(tmp_path / "two", "chained\n")
    assert real.read_text(encoding="utf-8") == "chained\n" and (tmp_path / "two").is_symlink()
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "created.txt")
    write_atomic(dangling, "created\n")
    assert dangling.is_symlink() and (tmp_path / "created.txt").read_text(encoding="utf-8") == "created\n"


def test_check_target_changes_nothing(tmp_path: Path) -> None:
    target, status = check_target(tmp_path / "new.json")
    assert target == tmp_path / "new.json" and status is None
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="no such folder"):
        check_target(tmp_path / "missing" / "x.json")


# --- errors and signals in the middle of a write -----------------------------------------------------


def test_an_exception_mid_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    out.write_bytes(OLD)

    def chunks() -> Iterator[bytes]:
        yield b"x" * 100_000
        assert temps(tmp_path), "the temporary file exists while it is written"
        raise RuntimeError("the renderer failed")

    with pytest.raises(RuntimeError, match="the renderer failed"):
        write_atomic(out, chunks())
    assert out.read_bytes() == OLD and temps(tmp_path) == []


def test_an_os_error_mid_write_is_one_output_error(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    out.write_bytes(OLD)

    def chunks() -> Iterator[bytes]:
        yield b"x"
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError) as caught:
        write_atomic(out, chunks(), option="--save")
    assert caught.value.line() == f"{out}: --save: cannot write: No space left on device"
    assert out.read_bytes() == OLD and temps(tmp_path) == []


def test_a_failed_fsync_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "plan.json"
    out.write_bytes(OLD)

    def no_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", no_fsync)
    with pytest.raises(OutputError, match="Input/output error"):
        write_atomic(out, "new")
    assert out.read_bytes() == OLD and temps(tmp_path) == []


_SLOW_WRITER = """
import sys, time
from pathlib import Path
from engine.output import write_atomic

def chunks():
    yield b"x" * 1_000_000
    print("writing", flush=True)
    time.sleep(60)
    yield b"never"

write_atomic(Path(sys.argv[1]), chunks())
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_mid_write_leaves_the_old_file_and_no_temp(tmp_path: Path, signum: int) -> None:
    out = tmp_path / "plan.json"
    out.write_bytes(OLD)
    with subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == "writing\n"
            assert len(temps(tmp_path)) == 1
            proc.send_signal(signum)
            _, stderr = proc.communicate(timeout=30)
        finally:
            if proc.returncode is None:
                proc.kill()
                proc.communicate()
    # The process ends as it would have without our handler: the default action, or for SIGINT Python's
    # KeyboardInterrupt (which, unhandled, ends the process by SIGINT too).
    assert proc.returncode == -signum, stderr
    assert ("KeyboardInterrupt" in stderr) == (signum == signal.SIGINT)
    assert out.read_bytes() == OLD
    assert temps(tmp_path) == []


def test_handlers_are_restored_after_a_write(tmp_path: Path) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    write_atomic(tmp_path / "a.json", "a")
    with pytest.raises(RuntimeError):
        write_atomic(tmp_path / "b.json", _raising())
    assert {s: signal.getsignal(s) for s in before} == before


def _raising() -> Iterator[bytes]:
    yield b"x"
    raise RuntimeError("boom")


# --- orphaned temporary files ------------------------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_an_orphaned_temp_is_removed_by_the_next_write(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    out.write_bytes(OLD)
    dead = _dead_pid()
    orphan = tmp_path / f".plan.json{TEMP_TAG}{dead}-0123abcd"
    orphan.write_bytes(b"half a plan")
    live = tmp_path / f".plan.json{TEMP_TAG}{os.getppid()}-0123abcd"  # a running process: still writing
    live.write_bytes(b"in progress")
    other = tmp_path / f".other.json{TEMP_TAG}{dead}-0123abcd"  # another target's: not ours to judge
    other.write_bytes(b"other")
    lookalike = tmp_path / ".plan.json.backup"
    lookalike.write_bytes(b"keep")
    result = run("plan", str(EXAMPLE), "--format", "json", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert not orphan.exists()
    assert live.exists() and other.exists() and lookalike.exists()
    assert json.loads(out.read_text(encoding="utf-8"))["programme"] == "strength"


def test_temp_names_are_recognisable_and_bounded(tmp_path: Path) -> None:
    name = temp_path(tmp_path / "plan.json").name
    assert name.startswith(f".plan.json{TEMP_TAG}{os.getpid()}-") and len(name) < 64
    long = temp_path(tmp_path / ("x" * 255)).name
    assert len(long) <= 255
    # An orphan of a long name is still found.
    orphan = tmp_path / long.replace(f"{TEMP_TAG}{os.getpid()}-", f"{TEMP_TAG}{_dead_pid()}-")
    orphan.write_bytes(b"")
    assert remove_orphans(tmp_path / ("x" * 255)) == [orphan]
