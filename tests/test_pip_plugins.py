"""The pip story, as a plugin author lives it: `flask oms new-plugin` writes a
distribution; built into a wheel and installed with its `test` extra into the
shop's virtualenv (beside Flask-OMS only Flask-OMS[testing]: pytest, no browser, no
database driver), its own tests pass as generated, and `flask oms plugins` lists it
(not configured until its settings are set, here from the environment).
Uninstalling removes it. Nothing else is registered anywhere: the entry point is
the whole wiring. The core alone already lists its default plugins."""
from __future__ import annotations

import pytest

from oms_core.scaffold import plugin_names

pytestmark = pytest.mark.slow

# kind -> (plugin name, hook, the listing's kind word, settings that configure it)
PLUGINS = {
    "carrier": ("harbour-post", "register_carriers", "carrier", {"API_KEY": "k", "WEBHOOK_SECRET": "s"}),
    "gateway": ("harbour-pay", "register_payment_gateways", "payment",
                {"ACCOUNT_ID": "acct_1", "WEBHOOK_SECRET": "s"}),
    "forecaster": ("harbour-cast", "register_forecasters", "forecaster", {}),
}
# What the test extra must not pull in: the core's own test-suite tools.
HEAVY = {"playwright", "psycopg", "psycopg-binary", "pytest-xdist", "requests", "aiosmtpd", "gunicorn"}


def listed(venv, app_file, env) -> list[str]:
    return venv.flask(app_file, "oms", "plugins", **env).stdout.splitlines()


def test_the_core_alone_lists_its_default_plugins(oms_venv):
    app_file, env = oms_venv.tiny_app()
    output = listed(oms_venv, app_file, env)
    for line in ("  payment bank_transfer: Bank transfer", "  payment cash_on_delivery: Cash on delivery",
                 "  carrier manual: Manual (any carrier)"):
        assert line in output
    assert any(line.startswith("  forecaster seasonal_naive:") for line in output)
    assert not any("NOT CONFIGURED" in line for line in output)


@pytest.mark.parametrize("kind", PLUGINS)
def test_a_scaffolded_plugin_installs_passes_its_own_tests_and_is_listed(oms_venv, tmp_path, kind):
    name, hook, word, settings = PLUGINS[kind]
    names = plugin_names(name)
    app_file, env = oms_venv.tiny_app()  # (the test above lists what is there before)
    oms_venv.flask(app_file, "oms", "new-plugin", "--kind", kind, name, "--directory", tmp_path, **env)
    source = tmp_path / names.distribution
    wheel = oms_venv.build_wheel(source, tmp_path / "dist")
    oms_venv.pip_install(f"{wheel}[test]")
    try:
        assert not HEAVY & oms_venv.installed()
        tests = oms_venv.run(oms_venv.root / "bin" / "pytest", "-q", "-p", "no:cacheprovider",
                             cwd=source, check=False)
        assert tests.returncode == 0, tests.stdout + tests.stderr
        assert " passed" in tests.stdout and "skipped" not in tests.stdout
        # The installed wheel, not the source folder, is what the shop imports.
        where = oms_venv.run(oms_venv.python, "-c", f"import {names.module} as p; print(p.__file__)").stdout
        assert where.startswith(str(oms_venv.root))

        output = listed(oms_venv, app_file, env)
        assert f"{names.object_id} 0.1.0 ({names.distribution}): {hook}" in output
        configured_line = f"  {word} {names.object_id}: {names.label}"
        if settings:
            assert f"{configured_line} (NOT CONFIGURED)" in output
            from_environment = {f"OMS_PLUGIN_{names.object_id.upper()}_{k}": v for k, v in settings.items()}
            output = listed(oms_venv, app_file, {**env, **from_environment})
        assert configured_line in output and not any("NOT CONFIGURED" in line for line in output)
    finally:
        oms_venv.run(oms_venv.python, "-m", "pip", "uninstall", "-y", names.distribution)

    assert names.object_id not in "\n".join(listed(oms_venv, app_file, env))


def test_a_disabled_plugin_is_not_listed(oms_venv):
    app_file, env = oms_venv.tiny_app()
    assert "  payment bank_transfer: Bank transfer" in listed(oms_venv, app_file, env)
    config = app_file.with_name("disabled_app.py")
    config.write_text(app_file.read_text().replace(
        "\nOMS(app)", '\napp.config["OMS_DISABLED_PLUGINS"] = ["manual_payment"]\nOMS(app)'))
    output = "\n".join(listed(oms_venv, config, env))
    assert "manual_payment" not in output and "bank_transfer" not in output
