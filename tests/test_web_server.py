"""``backplan serve`` as a process: refuses a defective rule set before it listens, serves with
``--workers 2``, refuses a large body while reading it, keeps nothing it was sent in its output, and
stops cleanly on SIGTERM. Loopback only."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, ROOT, answers
from tests.web_server import free_port, running, serve_command, stop


def remove_rule(tmp_path: Path, rule_id: str) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", target)
    for path in target.rglob("*.toml"):
        text = path.read_text(encoding="utf-8")
        if f'id = "{rule_id}"' in text:
            blocks = text.split("[[rule]]")
            path.write_text("[[rule]]".join(b for b in blocks if f'id = "{rule_id}"' not in b), encoding="utf-8")
            return target
    raise AssertionError(rule_id)


def run_serve(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "serve", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_defective_rules_refuse_to_start(tmp_path: Path) -> None:
    """A rule set that loads but fails ``rules check`` (a red flag no longer stops): exit 2, one line."""
    rules = remove_rule(tmp_path, "rf_saddle_numbness")
    result = run_serve("--rules", str(rules), "--port", str(free_port()))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("backplan: error: ") and "screening.toml" in lines[0] and "saddle_numbness" in lines[0]


def test_unreadable_rules_refuse_to_start(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "zz_broken.toml").write_text("[[rule]]\nid = 3\n", encoding="utf-8")
    result = run_serve("--rules", str(rules), "--port", str(free_port()))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "zz_broken.toml" in result.stderr
    missing = run_serve("--knowledge", str(tmp_path / "nowhere"), "--port", str(free_port()))
    assert missing.returncode == 2 and len(missing.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [(["--workers", "0"], "--workers"), (["--port", "0"], "--port"), (["--port", "70000"], "--port")],
)
def test_bad_options(args: list[str], words: str) -> None:
    result = run_serve(*args)
    assert result.returncode == 2 and words in result.stderr and len(result.stderr.splitlines()) == 1


def test_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve("--port", str(port))
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and f"127.0.0.1:{port}" in result.stderr


def post(url: str, body: bytes, ctype: str = "application/json") -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"content-type": ctype}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("PPid:") and int(line.split()[1]) == pid:
                found.append(int(status.parent.name))
    return found


@pytest.mark.slow
def test_two_workers_serve_the_cli_bytes_and_keep_nothing(tmp_path: Path) -> None:
    marker_age = 83
    log = tmp_path / "serve.log"
    with running(log, ["--workers", "2"]) as server:
        assert "127.0.0.1" in server.output()
        workers = [pid for pid in children(server.process.pid) if _is_python(pid)]
        assert len(workers) >= 2
        for path in sorted(EXAMPLES.glob("*.toml")):
            from engine.intake import parse_answers_text

            data = parse_answers_text(path.read_text(encoding="utf-8"), file=str(path))
            status, body = post(server.url + "/api/plan", json.dumps(data).encode())
            cli = subprocess.run(
                [sys.executable, "-m", "cli", "plan", str(path), "-f", "json"],
                cwd=ROOT,
                capture_output=True,
                check=True,
            )
            assert status == 200 and body == cli.stdout, path.name
        # One keep-alive connection: no ~40 ms delayed-ACK stall per response (TCP_NODELAY on every worker).
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        start = time.monotonic()
        for _ in range(50):
            connection.request("GET", "/healthz")
            assert connection.getresponse().read()
        connection.close()
        assert time.monotonic() - start < 1.0
        for _ in range(20):  # spread over both workers
            status, _ = post(server.url + "/api/plan", json.dumps(answers(age=marker_age)).encode())
            assert status == 200
        status, _ = post(server.url + "/api/plan", json.dumps(answers(age=marker_age, screening__fevr=True)).encode())
        assert status == 422
        code = stop(server.process)
    assert code == 0
    output = log.read_text()
    # the age as a number of its own (a process id such as 8303 contains "83" and is no leak)
    assert not re.search(rf"(?<!\d){marker_age}(?!\d)", output)
    assert "fevr" not in output and "screening" not in output


def _is_python(pid: int) -> bool:
    try:
        return "python" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def _raw(port: int, head: bytes, body_chunks: Any = (), *, pause: float = 0.0) -> tuple[bytes, int]:
    """Send ``head`` and then chunks until the server answers; the response and the bytes of body sent."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        response = b""
        for chunk in body_chunks:
            with contextlib.suppress(BlockingIOError):
                response += sock.recv(65536)
            if response:
                break
            try:
                sock.setblocking(True)
                sock.sendall(chunk)
                sent += len(chunk)
            except OSError:
                break
            finally:
                sock.setblocking(False)
            if pause:
                time.sleep(pause)
        sock.setblocking(True)
        sock.settimeout(10)
        while b"\r\n\r\n" not in response:
            data = sock.recv(65536)
            if not data:
                break
            response += data
        return response, sent


@pytest.mark.slow
def test_large_bodies_refused_while_reading(tmp_path: Path) -> None:
    with running(tmp_path / "serve.log") as server:
        # A declared 10 MiB body: refused at once, before a byte of it is sent.
        head = (
            b"POST /api/plan HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10485760\r\n\r\n"
        )
        start = time.monotonic()
        response, _ = _raw(server.port, head)
        assert response.startswith(b"HTTP/1.1 413")
        assert time.monotonic() - start < 5
        # A chunked body with no length: refused once past 1 MiB, long before the 8 MiB on offer are sent.
        head = (
            b"POST /api/plan HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        piece = b" " * 65536
        chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        response, sent = _raw(server.port, head, [chunk] * 128, pause=0.002)
        assert response.startswith(b"HTTP/1.1 413")
        assert sent < 4 * (1 << 20)


@pytest.mark.slow
def test_sigterm_stops_the_server(tmp_path: Path) -> None:
    port = free_port()
    with open(tmp_path / "log", "wb") as sink:
        process = subprocess.Popen(serve_command(port), cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
    from tests.web_server import wait_healthy

    health = wait_healthy(f"http://127.0.0.1:{port}", process)
    assert health["status"] == "ok"
    # uvicorn shuts down gracefully, then ends by the signal it was sent (as a service manager expects)
    assert stop(process) in (0, -signal.SIGTERM)
    assert "Finished server process" in (tmp_path / "log").read_text()


@pytest.mark.slow
def test_two_workers_share_one_journal(tmp_path: Path) -> None:
    """``serve --workers 2 --journal FILE``: check-ins posted over separate connections (the two workers take
    them as they come) all land in the one journal, in date order, and the progress page reads them back."""
    from urllib.parse import urlencode

    journal = tmp_path / "journal.sqlite3"
    form = "application/x-www-form-urlencoded"
    days = [f"2026-11-{day:02d}" for day in range(1, 21)]
    with running(tmp_path / "serve.log", ["--workers", "2", "--journal", str(journal)]) as server:
        workers = [pid for pid in children(server.process.pid) if _is_python(pid)]
        assert len(workers) >= 2
        for day in days:
            values = {"answers": json.dumps(answers()), "record": "1", "date": day, "person": "me"}
            values |= {"pain_during": "2", "pain_next_day": "1", "done": "all"}
            status, body = post(server.url + "/checkin", urlencode(values).encode(), form)
            assert status == 200 and b"Recorded the session of " + day.encode() in body
        status, body = post(
            server.url + "/progress", urlencode({"answers": json.dumps(answers()), "person": "me"}).encode(), form
        )
        assert status == 200 and b"<svg" in body
    exported = subprocess.run(
        [sys.executable, "-m", "cli", "journal", "export", "--person", "me", "--journal", str(journal)],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    assert [c["date"] for c in json.loads(exported.stdout)["checkins"]] == days
