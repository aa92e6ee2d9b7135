"""Access to the running OMS (plugin registry, settings) from services.

The web extension stores one `OMSState` in `app.extensions`; services reach it
through the Flask application context, like flask-sqlalchemy's session.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from .constants import CONFIG_PREFIX, EXTENSION_KEY
from .plugins import PluginRegistry


@dataclass
class OMSState:
    registry: PluginRegistry
    schema_checked: bool = False
    limiter: object = None  # flask-limiter instance of the web layer, if mounted
    rate_limit_storage: object = None  # oms_web.ratelimit.RateLimitStorage, if mounted
    tracking_cache: object = None  # oms_core.tracking_cache.TrackingCache, when on


def state() -> OMSState:
    return current_app.extensions[EXTENSION_KEY]


def registry() -> PluginRegistry:
    return state().registry


def setting(name: str):
    """A config value by its name without the prefix: setting("SHOP_NAME")."""
    return current_app.config[CONFIG_PREFIX + name]


def whole_setting(name: str, low: int, high: int) -> int:
    """A whole-number setting, refused with a clear error outside low..high."""
    value = setting(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{CONFIG_PREFIX}{name} must be a whole number from {low} to {high}, not {value!r}.")
    return value
