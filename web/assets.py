"""Static files shipped in the package (htmx, CSS), served without any CDN."""
from flask import Blueprint

blueprint = Blueprint("oms_static", __name__, static_folder="static", static_url_path="")
