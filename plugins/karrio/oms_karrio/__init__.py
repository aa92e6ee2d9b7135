"""Flask-OMS plugin: real carriers through karrio's shipping SDK, one OMS carrier per
carrier account configured in `OMS_PLUGINS["karrio"]["carriers"]` (see config.py and
plugins/karrio/README.md).

This module is what every web worker loads, so it imports no karrio: the SDK is
imported by `connection` when a carrier first books, rates, voids, tracks or lists
its services.
"""
from __future__ import annotations

from oms_core.hookspecs import hookimpl

from .carrier import KarrioCarrier
from .config import PLUGIN_ID, carrier_configs

__all__ = ["KarrioCarrier", "register_carriers"]


@hookimpl
def register_carriers(settings):
    return [KarrioCarrier(config) for config in carrier_configs(settings.for_id(PLUGIN_ID))]
