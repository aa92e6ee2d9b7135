"""`flask oms new-plugin`: what it writes, the names it accepts, what it refuses.
That the written distributions install with pip, pass their own tests and show in
`flask oms plugins` is tests/test_pip_plugins.py (slow: real pip installs)."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import pytest

from oms_core.constants import ENTRY_POINT_GROUP
from oms_core.errors import ValidationError
from oms_core.scaffold import KINDS, MAX_NAME_LENGTH, plugin_names
from oms_core.testing import dispose, make_app


@pytest.fixture
def runner(tmp_path_factory):
    """The CLI of an app on an empty database: writing a plugin touches none."""
    app = make_app(f"sqlite:///{tmp_path_factory.mktemp('shop') / 'shop.sqlite3'}", upgrade=False)
    yield app.test_cli_runner()
    dispose(app)


def new_plugin(runner, *args):
    return runner.invoke(args=["oms", "new-plugin", *args])


@pytest.mark.parametrize("typed, slug", [
    ("harbour-post", "harbour-post"), ("Harbour_Post", "harbour-post"), ("flask-oms-dhl2", "dhl2"),
    (" acme ", "acme"), ("a" * MAX_NAME_LENGTH, "a" * MAX_NAME_LENGTH),
])
def test_accepted_names(typed, slug):
    names = plugin_names(typed)
    assert names.slug == slug


def test_every_name_of_a_plugin_comes_from_its_slug():
    names = plugin_names("harbour-post")
    assert (names.distribution, names.module, names.object_id, names.class_name, names.label) == (
        "flask-oms-harbour-post", "flask_oms_harbour_post", "harbour_post", "HarbourPost", "Harbour Post")


@pytest.mark.parametrize("typed", [
    "", "flask-oms-", "1post", "harbour post", "../evil", "harbour--post", "-post", "post-", "pöst",
    "a" * (MAX_NAME_LENGTH + 1), "harbour.post", "harbour/post",
])
def test_refused_names(typed):
    with pytest.raises(ValidationError, match="must be lower-case letters and digits"):
        plugin_names(typed)


@pytest.mark.parametrize("kind", KINDS)
def test_it_writes_a_distribution_with_its_entry_point_and_test_extra(runner, tmp_path, kind):
    result = new_plugin(runner, "--kind", kind, "harbour-post", "--directory", tmp_path)
    assert result.exit_code == 0, result.output
    root = tmp_path / "flask-oms-harbour-post"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == ["README.md", "flask_oms_harbour_post/__init__.py", "pyproject.toml",
                     "tests/test_harbour_post.py"]
    for name in files:
        assert name in result.output
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["name"] == "flask-oms-harbour-post"
    assert project["dependencies"] == ["Flask-OMS>=0.1.0"]
    assert project["optional-dependencies"] == {"test": ["Flask-OMS[testing]>=0.1.0"]}
    assert project["entry-points"] == {ENTRY_POINT_GROUP: {"harbour_post": "flask_oms_harbour_post"}}
    module = (root / "flask_oms_harbour_post/__init__.py").read_text()
    assert "class HarbourPost:" in module and '"harbour_post"' in module
    readme = (root / "README.md").read_text()
    assert "pip install flask-oms-harbour-post" in readme and "OMS_PLUGIN_HARBOUR_POST_" in readme
    assert "$" not in module + readme  # every placeholder filled


def test_the_generated_code_is_flake8_clean(runner, tmp_path):
    """At flake8's default 79 columns, also for the longest name allowed."""
    for kind in KINDS:
        for name in (f"x{kind}", ("long-name-" + kind)[:MAX_NAME_LENGTH].ljust(MAX_NAME_LENGTH, "x")):
            result = new_plugin(runner, "--kind", kind, name, "--directory", tmp_path)
            assert result.exit_code == 0, result.output
    assert len(list(tmp_path.glob("flask-oms-*"))) == 2 * len(KINDS)
    checked = subprocess.run([sys.executable, "-m", "flake8", "--isolated", str(tmp_path)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_it_never_overwrites(runner, tmp_path):
    assert new_plugin(runner, "--kind", "carrier", "harbour-post", "--directory", tmp_path).exit_code == 0
    module = tmp_path / "flask-oms-harbour-post/flask_oms_harbour_post/__init__.py"
    module.write_text("# my own work\n")
    again = new_plugin(runner, "--kind", "gateway", "harbour-post", "--directory", tmp_path)
    assert again.exit_code == 1 and "exists already: nothing was written" in again.output
    assert module.read_text() == "# my own work\n"


@pytest.mark.parametrize("name", ["manual-carrier", "seasonal-naive", "bank-transfer", "manual"])
def test_names_taken_by_installed_plugins_are_refused(runner, tmp_path, name):
    result = new_plugin(runner, "--kind", "carrier", name, "--directory", tmp_path)
    assert result.exit_code == 1 and "is taken by an installed plugin" in result.output
    assert list(tmp_path.iterdir()) == []


def test_bad_input_is_refused_with_a_clear_error(runner, tmp_path):
    result = new_plugin(runner, "--kind", "printer", "x", "--directory", tmp_path)
    assert result.exit_code == 2
    assert "'printer' is not one of 'carrier', 'gateway', 'forecaster'" in result.output
    result = new_plugin(runner, "--kind", "carrier", "Harbour Post", "--directory", tmp_path)
    assert result.exit_code == 1 and "must be lower-case letters" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", KINDS)
def test_the_generated_tests_pass_on_postgresql(runner, postgres_database, tmp_path, kind):
    """The plugin's own tests run against the database of OMS_TEST_DATABASE_URL, as
    its README says. (On SQLite, installed with pip: tests/test_pip_plugins.py.) Here
    the plugin is found through a dist-info folder beside it, what pip would write."""
    assert new_plugin(runner, "--kind", kind, "harbour-post", "--directory", tmp_path).exit_code == 0
    source = tmp_path / "flask-oms-harbour-post"
    info = tmp_path / "site" / "flask_oms_harbour_post-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: flask-oms-harbour-post\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nharbour_post = flask_oms_harbour_post\n")
    env = {**os.environ, "OMS_TEST_DATABASE_URL": postgres_database,
           "PYTHONPATH": os.pathsep.join([str(info.parent), str(source)])}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    result = subprocess.run(command, cwd=source, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "skipped" not in result.stdout
