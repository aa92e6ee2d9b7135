"""The pip story: installing a plugin distribution into the shop's virtualenv makes
it appear in `flask oms plugins`; uninstalling it removes it. Nothing else is
registered anywhere: the entry point is the whole wiring. The core alone already
lists its default plugins."""
from __future__ import annotations

import textwrap

import pytest

from oms_core.constants import ENTRY_POINT_GROUP

pytestmark = pytest.mark.slow

PLUGIN_MODULE = textwrap.dedent('''
    from oms_core.default_plugins.manual_carrier import ManualCarrier
    from oms_core.hookspecs import hookimpl

    class HarbourPost(ManualCarrier):
        id = "harbour_post"
        label = "Harbour Post"

    @hookimpl
    def register_carriers():
        return [HarbourPost()]
''')


def write_plugin(folder):
    """A third-party carrier distribution as a plugin author would lay it out."""
    (folder / "flask_oms_harbour_post").mkdir(parents=True)
    (folder / "flask_oms_harbour_post" / "__init__.py").write_text(PLUGIN_MODULE)
    (folder / "pyproject.toml").write_text(textwrap.dedent(f'''
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "flask-oms-harbour-post"
        version = "0.3.0"
        dependencies = ["Flask-OMS"]

        [project.entry-points.{ENTRY_POINT_GROUP}]
        harbour_post = "flask_oms_harbour_post"

        [tool.setuptools]
        packages = ["flask_oms_harbour_post"]
    '''))
    return folder


def listed(venv, app_file, env) -> str:
    result = venv.flask(app_file, "oms", "plugins", **env)
    return result.stdout


def test_the_core_alone_lists_its_default_plugins(oms_venv):
    app_file, env = oms_venv.tiny_app()
    output = listed(oms_venv, app_file, env).splitlines()
    for line in ("  payment bank_transfer: Bank transfer", "  payment cash_on_delivery: Cash on delivery",
                 "  carrier manual: Manual (any carrier)"):
        assert line in output
    assert any(line.startswith("  forecaster seasonal_naive:") for line in output)


def test_installing_and_uninstalling_a_plugin(oms_venv, tmp_path):
    app_file, env = oms_venv.tiny_app()
    before = listed(oms_venv, app_file, env)
    assert "harbour_post" not in before

    oms_venv.pip_install(write_plugin(tmp_path / "harbour_post"))
    try:
        after = listed(oms_venv, app_file, env).splitlines()
        assert "harbour_post 0.3.0 (flask-oms-harbour-post): register_carriers" in after
        assert "  carrier harbour_post: Harbour Post" in after
        # Installed, not imported from the test's folder.
        where = oms_venv.run(oms_venv.python, "-c",
                             "import flask_oms_harbour_post as p; print(p.__file__)").stdout
        assert where.startswith(str(oms_venv.root))
    finally:
        oms_venv.run(oms_venv.python, "-m", "pip", "uninstall", "-y", "flask-oms-harbour-post")

    assert "harbour_post" not in listed(oms_venv, app_file, env)


def test_a_disabled_plugin_is_not_listed(oms_venv):
    app_file, env = oms_venv.tiny_app()
    assert "payment bank_transfer" in listed(oms_venv, app_file, env)
    config = app_file.with_name("disabled_app.py")
    config.write_text(app_file.read_text().replace(
        'SECRET_KEY="tiny-app-secret",', 'SECRET_KEY="tiny-app-secret", OMS_DISABLED_PLUGINS=["manual_payment"],'))
    output = listed(oms_venv, config, env)
    assert "manual_payment" not in output and "bank_transfer" not in output
