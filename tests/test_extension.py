"""Mounting the OMS in a host app: what it shares with the host and what it refuses."""
from __future__ import annotations

import pytest


def test_an_app_with_its_own_login_manager_is_refused_clearly(tmp_path):
    """The OMS would replace the host's user loader; it says so instead."""
    from flask import Flask
    from flask_login import LoginManager

    from oms_web import OMS

    app = Flask("host_with_login")
    app.config.update(SECRET_KEY="x", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'h.sqlite3'}")
    LoginManager(app)
    with pytest.raises(RuntimeError, match="already has a flask_login.LoginManager"):
        OMS(app)


# ------------------------------------------------------------------ the host's own pages


@pytest.fixture
def host_routes(app):
    """Routes of the host shop itself, beside the mounted OMS."""
    from flask import render_template_string

    from oms_core.errors import ValidationError

    @app.route("/host/refuse")
    def host_refuse():
        raise ValidationError("A rule of the host's own.")

    @app.route("/host/page")
    def host_page():
        return render_template_string("menu={{ oms_admin_menu is defined }} fmt={{ fmt is defined }}")

    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production, not raise into the test
    return app


def test_a_host_route_raising_a_domain_error_is_not_answered_by_the_oms(host_routes, client):
    response = client.get("/host/refuse")
    page = response.get_data(as_text=True)
    assert response.status_code == 500  # Flask's own answer: the host did not handle it
    assert "A rule of the host's own." not in page and 'class="error"' not in page


def test_host_templates_do_not_see_the_back_office_helpers(host_routes, client):
    assert client.get("/host/page").get_data(as_text=True) == "menu=False fmt=False"


def test_an_unknown_host_url_gets_the_hosts_404_not_the_back_office_page(host_routes, client):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and "oms" not in response.get_data(as_text=True).lower()
