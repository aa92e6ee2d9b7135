"""Plugins that ship inside the core distribution (datasette's `default_*` plugins).

Installing the core alone gives a working shop: staff record bank transfers and
cash on delivery, hand parcels to any carrier with its tracking number, and the
seasonal-naive forecaster is the baseline every other forecaster is compared to.
Each is registered under its name below, exactly like an installed plugin, so
`OMS_DISABLED_PLUGINS` can switch one off and the plugins page lists it.
"""
from __future__ import annotations

# Plugin name -> module, registered by `oms_core.plugins.load_plugins`.
MODULES = {
    "manual_payment": "oms_core.default_plugins.manual_payment",
    "manual_carrier": "oms_core.default_plugins.manual_carrier",
    "seasonal_naive": "oms_core.default_plugins.seasonal_naive",
}
