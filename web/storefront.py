"""Storefront helpers for the host shop (placeholder)."""
from flask import Blueprint, Flask

blueprint = Blueprint("oms_storefront", __name__)


def install_jinja_helpers(app: Flask) -> None:
    pass
