"""Fresh databases for one benchmark run: a temporary SQLite file, or a temporary
PostgreSQL database created on the given server and dropped afterwards."""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from typing import Iterator

from oms_core.testing import scratch_postgres_database


@contextmanager
def temporary_sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{folder}/bench.sqlite3"


def temporary_postgres(server_url: str):
    return scratch_postgres_database(server_url, "oms_bench")
