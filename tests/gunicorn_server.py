"""The demo shop under a real gunicorn, for tests about several worker processes."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

# The access log names the worker process that answered each request.
ACCESS_LOG_FORMAT = "%(p)s %(s)s %(U)s"


@dataclass
class Server:
    base_url: str
    log: Path  # gunicorn's error log and the app's own log records
    access_log: Path

    def worker_statuses(self, path: str) -> list[tuple[str, int]]:
        """(worker pid, status) of every request to `path`, in the order they were logged."""
        rows = [line.split() for line in self.access_log.read_text().splitlines()]
        return [(row[0], int(row[1])) for row in rows if len(row) == 3 and row[2] == path]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def demo_under_gunicorn(database_url: str, data_dir: Path, *, workers: int = 2,
                        **oms_config: str) -> Iterator[Server]:
    """gunicorn -w `workers` serving oms_demo on `database_url`, with OMS_* settings
    from the environment (values as text, JSON for settings that are not text)."""
    port = free_port()
    env = {**os.environ, "OMS_DEMO_DATABASE_URL": database_url, "OMS_DEMO_DATA_DIR": str(data_dir),
           **oms_config}
    server = Server(f"http://127.0.0.1:{port}", data_dir / "gunicorn.log", data_dir / "access.log")
    with open(server.log, "ab") as log:  # the app's own log records go to the workers' stderr
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
             "--error-logfile", str(server.log), "--access-logfile", str(server.access_log),
             "--access-logformat", ACCESS_LOG_FORMAT, "oms_demo.app:create_app()"],
            env=env, stderr=log)
    try:
        _wait_until_up(server, process)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(server: Server, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{server.log.read_text()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/hello", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within 60 s:\n{server.log.read_text()}")
