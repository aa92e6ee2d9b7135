"""Fixtures: every database test runs on SQLite and, when OMS_TEST_POSTGRES_URL is
set, on PostgreSQL too (a fresh database per test session, tables emptied between
tests). Without it the PostgreSQL cases are skipped with that reason."""
from __future__ import annotations

import os
import re
import shutil

import pytest
from sqlalchemy import create_engine, text

from oms_core.db import db
from oms_core.testing import dispose, make_app, scratch_postgres_database
from venv_fixtures import oms_venv, oms_wheel, wheelhouse  # noqa: F401  (packaging tests, one per session)

POSTGRES_URL = os.environ.get("OMS_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", "postgres"]
# CI sets OMS_CI_STRICT=1: what would be skipped for lack of PostgreSQL or Chromium fails.
CI_STRICT = os.environ.get("OMS_CI_STRICT") == "1"


def skip_or_fail(reason: str) -> None:
    if CI_STRICT:
        pytest.fail(f"OMS_CI_STRICT: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """An upgraded SQLite database, copied for each test (faster than migrating)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    app = make_app(f"sqlite:///{path}")
    dispose(app)
    return path


@pytest.fixture(scope="session")
def postgres_database():
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    if not POSTGRES_URL:
        skip_or_fail("PostgreSQL tests need OMS_TEST_POSTGRES_URL "
                     "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres)")
    with scratch_postgres_database(POSTGRES_URL) as url:
        dispose(make_app(url))  # the schema, upgraded once
        yield url


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'oms_%' "
            "AND tablename <> 'oms_alembic_version'"))]
        if tables:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    if request.param == "sqlite":
        path = tmp_path / "oms.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_database")
    _empty_postgres(url)
    return url


@pytest.fixture
def app_config():
    """Override in a test module to change the app's config."""
    return {}


@pytest.fixture
def app(database_url, app_config):
    app = make_app(database_url, upgrade=False, **app_config)
    with app.app_context():
        yield app
        db.session.remove()
    dispose(app)


@pytest.fixture
def shop(database_url, tmp_path):
    """The demo shop's app (its own pages with the OMS mounted) on the test database."""
    from oms_demo.app import create_app

    app = create_app(database_url, data_dir=tmp_path / "demo-data", TESTING=True)
    with app.app_context():
        yield app
        db.session.remove()
    dispose(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def backend(app):
    return db.engine.dialect.name


# ------------------------------------------------------------------ factories


@pytest.fixture
def make_product(app):
    from oms_core.services import catalog

    counter = iter(range(1, 10_000))

    def factory(*, sku=None, on_hand=10, price_minor=1250, currency="EUR", name=None, **kw):
        n = next(counter)
        return catalog.create_product(sku=sku or f"SKU-{n}", name=name or f"Product {n}",
                                      price_minor=price_minor, currency=currency, on_hand=on_hand,
                                      actor="test", **kw)
    return factory


@pytest.fixture
def place(app, make_product):
    """place(lines=[(sku, qty)], payment_method=..., confirm=...) -> Order"""
    from oms_core.services.orders import NewOrder, place_order

    def factory(lines=None, *, payment_method="bank_transfer", confirm=False, email="ann@example.com",
                name="Ann Example", channel="web", **kw):
        if lines is None:
            product = make_product()
            lines = [(product.sku, 2)]
        new = NewOrder(email=email, name=name, lines=lines, payment_method=payment_method,
                       channel=channel, address={"line1": "1 Main St", "postal_code": "1000",
                                                 "city": "Springfield", "country": "NL"}, **kw)
        return place_order(new, actor="test", confirm=confirm)
    return factory


@pytest.fixture
def staff_user(app):
    from oms_core.services import users

    return users.create_user(email="staff@example.com", name="Sam Staff", password="staff-password",
                             role="staff")


@pytest.fixture
def owner_user(app):
    from oms_core.services import users

    return users.create_user(email="owner@example.com", name="Olive Owner", password="owner-password",
                             role="owner")


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class LoggedInClient:
    """A test client logged in through the real login form, that sends the CSRF
    token with every POST like the browser does."""

    def __init__(self, client, email, password):
        self.client = client
        page = client.get("/oms/admin/login").get_data(as_text=True)
        self.csrf = CSRF_META.search(page).group(1)
        response = client.post("/oms/admin/login", data={"email": email, "password": password,
                                                         "csrf_token": self.csrf})
        assert response.status_code == 302, response.get_data(as_text=True)
        # Logging in starts a new session, with a new CSRF token.
        page = client.get("/oms/admin/login").get_data(as_text=True)
        self.csrf = CSRF_META.search(page).group(1)

    def get(self, *args, **kw):
        return self.client.get(*args, **kw)

    def post(self, url, data=None, htmx=False, **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf)
        headers = dict(kw.pop("headers", {}) or {})
        if htmx:
            headers["HX-Request"] = "true"
        return self.client.post(url, data=data, headers=headers, **kw)


@pytest.fixture
def staff_client(client, staff_user):
    return LoggedInClient(client, "staff@example.com", "staff-password")


@pytest.fixture
def owner_client(client, owner_user):
    return LoggedInClient(client, "owner@example.com", "owner-password")
