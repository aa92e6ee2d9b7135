"""The pip story: installing a plugin distribution into the shop's virtualenv makes
it appear in `flask oms plugins`; uninstalling it removes it. Nothing else is
registered anywhere: the entry point is the whole wiring."""
from __future__ import annotations

import pytest

from venv_fixtures import copy_plugin

pytestmark = pytest.mark.slow


def listed(venv, app_file, env) -> str:
    result = venv.flask(app_file, "oms", "plugins", **env)
    return result.stdout


def test_installing_and_uninstalling_a_plugin(oms_venv, tmp_path):
    app_file, env = oms_venv.tiny_app()
    before = listed(oms_venv, app_file, env)
    assert "manual_carrier" not in before and "carrier manual" not in before

    oms_venv.pip_install(copy_plugin("manual_carrier", tmp_path / "manual_carrier"))
    try:
        after = listed(oms_venv, app_file, env).splitlines()
        assert "manual_carrier 0.1.0 (oms-manual-carrier): register_carriers" in after
        assert "  carrier manual: Manual (any carrier)" in after
        # Installed, not imported from the repository.
        where = oms_venv.run(oms_venv.python, "-c",
                             "import oms_manual_carrier; print(oms_manual_carrier.__file__)").stdout
        assert where.startswith(str(oms_venv.root))
    finally:
        oms_venv.run(oms_venv.python, "-m", "pip", "uninstall", "-y", "oms-manual-carrier")

    gone = listed(oms_venv, app_file, env)
    assert "manual_carrier" not in gone and "carrier manual" not in gone


def test_a_disabled_installed_plugin_is_not_listed(oms_venv, tmp_path):
    app_file, env = oms_venv.tiny_app()
    oms_venv.pip_install(copy_plugin("manual_payment", tmp_path / "manual_payment"))
    try:
        assert "payment bank_transfer" in listed(oms_venv, app_file, env)
        config = app_file.with_name("disabled_app.py")
        config.write_text(app_file.read_text().replace(
            'SECRET_KEY="tiny-app-secret",', 'SECRET_KEY="tiny-app-secret", OMS_DISABLED_PLUGINS=["manual_payment"],'))
        output = listed(oms_venv, config, env)
        assert "manual_payment" not in output and "bank_transfer" not in output
    finally:
        oms_venv.run(oms_venv.python, "-m", "pip", "uninstall", "-y", "oms-manual-payment")
