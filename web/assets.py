"""Static files (htmx, CSS) and templates shipped in the package, served without
any CDN. This blueprint is always registered, so its template folder makes every
`oms/...` template findable app-wide, wherever the package is installed."""
from importlib.resources import files

from flask import Blueprint

TEMPLATES_DIR = str(files("oms_web.templates"))

blueprint = Blueprint("oms_static", __name__, static_folder="static", static_url_path="",
                      template_folder=TEMPLATES_DIR)
