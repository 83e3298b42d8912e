"""A real ``backplan serve`` in a subprocess, for the browser and server tests (loopback only)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                data: dict[str, str] = json.loads(response.read())
                return data
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the server did not answer /healthz in time")


def serve_command(port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "cli", "serve", "--port", str(port), *extra]


@contextlib.contextmanager
def running(log: Path, extra: Sequence[str] = ()) -> Iterator[Server]:
    """``backplan serve`` on a free loopback port until the block ends (SIGTERM, then SIGKILL)."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            serve_command(port, *extra), cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, env=env
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
        yield Server(process, port, log)
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
