"""Gapless document numbers per series and year (docs/architecture.md, invariant 4).

The number comes from a counter row raised by one `UPDATE ... RETURNING` inside
the caller's write transaction. On PostgreSQL the UPDATE locks the row until that
transaction ends (as SELECT ... FOR UPDATE would), so a second issuer waits and
then reads the raised value; on SQLite the write transaction (BEGIN IMMEDIATE)
is exclusive already. A transaction that rolls back gives its number back. A
database sequence would not: it skips the numbers of rolled-back transactions.
"""
from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .. import runtime
from ..db import db, is_postgres
from ..models import DocumentCounter

_table = DocumentCounter.__table__


def next_value(series: str, year: int) -> int:
    """The next number of the series in that year (1 for the first). Call it in a
    write transaction, as late as possible: the counter stays locked until commit."""
    raise_counter = (update(_table).where(_table.c.series == series, _table.c.year == year)
                     .values(last_value=_table.c.last_value + 1).returning(_table.c.last_value))
    value = db.session.execute(raise_counter).scalar()
    if value is None:
        # The series' first number this year. Two first issuers may race: ON CONFLICT
        # lets the second find the row the first created (after it commits, on PostgreSQL).
        insert = postgres_insert if is_postgres() else sqlite_insert
        db.session.execute(insert(_table).values(series=series, year=year, last_value=0)
                           .on_conflict_do_nothing())
        value = db.session.execute(raise_counter).scalar_one()
    return value


def formatted(series: str, year: int, value: int) -> str:
    """INV-2026-000001: the series' prefix (OMS_DOCUMENT_PREFIXES), year, number."""
    prefix = runtime.setting("DOCUMENT_PREFIXES").get(series, series.upper())
    return f"{prefix}-{year}-{value:06d}"
