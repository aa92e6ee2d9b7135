"""The schema guard and the migrations, on an empty database of each backend.

An app on a database that is not at the code's revision answers 503 telling staff
to run `flask oms db upgrade`; the migrations create exactly the tables of the
models (Alembic's autogenerate comparison finds nothing to do) and round-trip.
"""
from __future__ import annotations

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from oms_core import models  # noqa: F401  (every table on the metadata)
from oms_core import schema
from oms_core.db import db
from oms_core.models import Order
from oms_core.testing import dispose, make_app, scratch_postgres_database

POSTGRES_URL = os.environ.get("OMS_TEST_POSTGRES_URL", "")


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request, tmp_path):
    """A database with nothing in it (a fresh PostgreSQL database per test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need OMS_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres)")
    with scratch_postgres_database(POSTGRES_URL, "oms_schema") as url:
        yield url


@pytest.fixture
def fresh_app(empty_url):
    app = make_app(empty_url, upgrade=False)
    with app.app_context():
        yield app
        db.session.remove()
    dispose(app)


def oms_tables() -> set[str]:
    return {name for name in inspect(db.engine).get_table_names() if name.startswith("oms_")}


def cli(app, *args):
    return app.test_cli_runner().invoke(args=["oms", "db", *args])


def test_empty_database_answers_503_telling_to_upgrade(fresh_app):
    client = fresh_app.test_client()
    for url in ("/oms/admin/login", "/track"):
        response = client.get(url)
        assert response.status_code == 503, url
        message = response.get_data(as_text=True)
        assert "Run: flask oms db upgrade" in message
        assert "empty database" in message
    assert oms_tables() == set()  # the guard only reads
    assert client.get("/hello").status_code == 200  # the host shop's own routes still serve


def test_after_upgrade_it_serves(fresh_app):
    result = cli(fresh_app, "upgrade")
    assert result.exit_code == 0, result.output
    assert result.output == f"OMS schema at {schema.head_revision()}.\n"
    response = fresh_app.test_client().get("/oms/admin/login")
    assert response.status_code == 200
    assert 'name="password"' in response.get_data(as_text=True)


def test_db_current_reports(fresh_app):
    head = schema.head_revision()
    result = cli(fresh_app, "current")
    assert result.exit_code == 1
    assert f"database: empty\ncode:     {head}\n" in result.output
    assert "Outdated: run `flask oms db upgrade`." in result.output
    cli(fresh_app, "upgrade")
    result = cli(fresh_app, "current")
    assert result.exit_code == 0
    assert result.output == f"database: {head}\ncode:     {head}\n"


def test_commands_that_need_the_schema_refuse_an_empty_database(fresh_app):
    runner = fresh_app.test_cli_runner()
    for args in (["create-user", "--email", "a@example.com", "--name", "A", "--password", "long-enough"],
                 ["check-stock"], ["worker", "--once"]):
        result = runner.invoke(args=["oms", *args])
        assert result.exit_code == 1, args
        assert "Run: flask oms db upgrade" in result.output


def test_an_outdated_revision_is_refused_too(empty_url):
    app = make_app(empty_url)  # upgraded
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text(f"UPDATE {schema.VERSION_TABLE} SET version_num = '0000_old'"))
    try:
        response = app.test_client().get("/oms/admin/login")
        assert response.status_code == 503
        assert "at revision 0000_old, this code needs" in response.get_data(as_text=True)
    finally:
        dispose(app)


def test_downgrade_to_base_and_upgrade_again(fresh_app):
    assert cli(fresh_app, "upgrade").exit_code == 0
    assert oms_tables() == set(db.metadata.tables) | {schema.VERSION_TABLE}
    result = cli(fresh_app, "downgrade", "base")
    assert result.exit_code == 0, result.output
    assert result.output == "OMS schema at base (no OMS tables).\n"
    assert oms_tables() <= {schema.VERSION_TABLE}  # alembic keeps its (empty) version table
    assert schema.current_revision() is None
    assert cli(fresh_app, "upgrade").exit_code == 0
    assert oms_tables() == set(db.metadata.tables) | {schema.VERSION_TABLE}
    assert schema.current_revision() == schema.head_revision()


def test_migrations_create_exactly_the_models_tables(fresh_app):
    schema.upgrade()
    assert oms_tables() - {schema.VERSION_TABLE} == set(db.metadata.tables)
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "version_table": schema.VERSION_TABLE, "compare_type": True,
        })
        diff = compare_metadata(context, db.metadata)
    assert diff == [], "the models and the migrations differ; write a migration:\n" + "\n".join(
        map(repr, diff))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL alters in place
def test_a_sqlite_table_rebuild_keeps_the_rows_that_point_at_it(app, place):
    """Alembic alters SQLite tables by rebuilding them; with foreign keys enforced,
    dropping the customers table under existing orders would fail. Migrations run
    with them off and check them before committing."""
    from alembic.operations import Operations
    from sqlalchemy import String

    order = place(confirm=True)
    with schema.migration_connection() as connection:
        operations = Operations(MigrationContext.configure(connection))
        with operations.batch_alter_table("oms_customer", recreate="always") as batch:
            batch.alter_column("phone", existing_type=String(50), type_=String(60))
    db.session.remove()
    assert db.session.get(Order, order.id).customer.email == "ann@example.com"
    assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1  # back on
