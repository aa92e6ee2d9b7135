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
