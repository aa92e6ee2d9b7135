"""Public tracking page (placeholder until the public work lands)."""
from flask import Blueprint


def make_blueprint(limiter, limit: str) -> Blueprint:
    blueprint = Blueprint("oms_public", __name__)

    @blueprint.route("")
    @limiter.limit(limit)
    def track():
        return "tracking"

    return blueprint
