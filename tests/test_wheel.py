"""The wheel built from the repository carries everything the OMS needs at run
time (templates, static files, migrations, the demo) and works when installed into
a fresh virtualenv: schema upgrade, create-user, back-office login, static htmx."""
from __future__ import annotations

import hashlib
import json
import textwrap
import zipfile

import pytest

from venv_fixtures import REPO

pytestmark = pytest.mark.slow

# Source folder -> where its files land in the wheel (pyproject's package-dir).
PACKAGE_DIRS = {"oms_core": "oms_core", "web": "oms_web", "templates": "oms_web/templates",
                "demo": "oms_demo"}


def repo_files_and_wheel_paths():
    for folder, package in PACKAGE_DIRS.items():
        for path in sorted((REPO / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                yield path, f"{package}/{path.relative_to(REPO / folder).as_posix()}"


@pytest.fixture(scope="module")
def wheel_names(oms_wheel):
    with zipfile.ZipFile(oms_wheel) as wheel:
        return set(wheel.namelist())


@pytest.mark.parametrize("required", [
    "oms_web/templates/oms/base.html",
    "oms_web/templates/oms/admin/login.html",
    "oms_web/static/htmx.min.js",
    "oms_web/static/oms.css",
    "oms_web/static/oms.js",
    "oms_core/migrations/env.py",
    "oms_core/migrations/script.py.mako",
    "oms_demo/__init__.py",
    # the customer languages' catalogs (oms_core/i18n.py), compiled and as source
    "oms_core/translations/de/LC_MESSAGES/messages.mo",
    "oms_core/translations/nl/LC_MESSAGES/messages.po",
    # the templates `flask oms new-plugin` writes plugin distributions from
    "oms_core/scaffold/templates/common/pyproject.toml.tmpl",
    "oms_core/scaffold/templates/carrier/module.py.tmpl",
])
def test_wheel_contains(wheel_names, required):
    assert required in wheel_names


def test_wheel_contains_every_migration(wheel_names):
    versions = sorted((REPO / "oms_core/migrations/versions").glob("*.py"))
    assert len(versions) >= 2  # __init__ and at least one revision
    for path in versions:
        assert f"oms_core/migrations/versions/{path.name}" in wheel_names


def test_wheel_contains_every_source_template_and_static_file(wheel_names):
    """A file added to oms_core, web, templates or demo that the packaging
    configuration forgets (a new sub-package, a deeper template folder) fails here."""
    missing = [wheel_path for _, wheel_path in repo_files_and_wheel_paths()
               if wheel_path not in wheel_names]
    assert missing == []


def test_wheel_holds_no_tests_or_plugins(wheel_names):
    assert not [n for n in wheel_names if n.startswith(("tests/", "plugins/", "oms_sklearn"))]


def test_wheel_declares_the_test_kit_entry_point(oms_wheel):
    with zipfile.ZipFile(oms_wheel) as wheel:
        [name] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
        entry_points = wheel.read(name).decode()
    assert "[pytest11]" in entry_points and "oms_core.testing.pytest_plugin" in entry_points


CLIENT_SCRIPT = textwrap.dedent('''
    import hashlib, json, re, sys
    sys.path.insert(0, sys.argv[1])
    import oms_core, oms_web, oms_demo
    from yourapp import app

    base = 'https://shop.example.com'  # the README's OMS_PUBLIC_BASE_URL: its cookie is Secure

    client = app.test_client()
    login = client.get("/oms/admin/login", base_url=base)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', login.get_data(as_text=True))
    # Over https Flask-WTF also checks the Referer, which a browser sends.
    form = {"email": "owner@example.com", "password": "owner-password", "csrf_token": token.group(1)}
    posted = client.post("/oms/admin/login", base_url=base, data=form,
                         headers={"Referer": base + "/oms/admin/login"})
    dashboard = client.get("/oms/admin/", base_url=base)
    htmx = client.get("/oms/static/htmx.min.js", base_url=base)
    print(json.dumps({
        "files": [oms_core.__file__, oms_web.__file__, oms_demo.__file__],
        "login": login.status_code,
        "login_form": 'name="password"' in login.get_data(as_text=True),
        "posted": posted.status_code,
        "dashboard": dashboard.status_code,
        "dashboard_menu": "Products" in dashboard.get_data(as_text=True),
        "htmx": htmx.status_code,
        "htmx_sha256": hashlib.sha256(htmx.get_data()).hexdigest(),
    }))
''')


def test_installed_wheel_runs_a_host_app(oms_venv, tmp_path):
    app_file, env = oms_venv.tiny_app(database_url=f"sqlite:///{tmp_path / 'wheel.sqlite3'}")

    refused = oms_venv.flask(app_file, "oms", "db", "current", check=False, **env)
    assert refused.returncode == 1 and "flask oms db upgrade" in refused.stderr

    upgraded = oms_venv.flask(app_file, "oms", "db", "upgrade", **env)
    assert "OMS schema at" in upgraded.stdout
    assert oms_venv.flask(app_file, "oms", "db", "current", **env).returncode == 0
    created = oms_venv.flask(app_file, "oms", "create-user", "--email", "owner@example.com",
                             "--name", "Olive", "--role", "owner", "--password", "owner-password",
                             **env)
    assert created.stdout.strip() == "Created owner owner@example.com."

    script = tmp_path / "client_check.py"
    script.write_text(CLIENT_SCRIPT)
    result = oms_venv.run(oms_venv.python, script, app_file.parent, **env)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for path in report["files"]:
        assert path.startswith(str(oms_venv.root)), f"{path} is not the installed wheel"
    assert report["login"] == 200 and report["login_form"]
    assert report["posted"] == 302
    assert report["dashboard"] == 200 and report["dashboard_menu"]
    assert report["htmx"] == 200
    expected = hashlib.sha256((REPO / "web/static/htmx.min.js").read_bytes()).hexdigest()
    assert report["htmx_sha256"] == expected
