"""The karrio plugin's settings: which karrio carriers the shop has accounts with.

    OMS_PLUGINS["karrio"] = {"carriers": {
        "karrio_ups": {"carrier_name": "ups", "label": "UPS", "client_id": "...",
                       "client_secret": "...", "account_number": "...", "test_mode": True},
    }}

or the same mapping as JSON in OMS_PLUGIN_KARRIO_CARRIERS. Each entry becomes one
carrier of the OMS; its key is the carrier's id. Apart from the names below, an
entry's settings are the karrio extension's own connection settings, handed over
unread (karrio checks them when the carrier is first used).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Mapping

PLUGIN_ID = "karrio"
# The OMS's own names in a carrier's entry; everything else is for karrio.
CARRIER_NAME, LABEL, API_HOST = "carrier_name", "label", "api_host"
OWN_SETTINGS = (CARRIER_NAME, LABEL, API_HOST)
CARRIER_ID = re.compile(r"[a-z][a-z0-9_]{0,39}")
API_HOST_URL = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")


class KarrioSettingsError(ValueError):
    """The karrio plugin's settings are malformed: the app refuses to start."""


@dataclass(frozen=True)
class CarrierConfig:
    id: str
    carrier_name: str  # the karrio extension: "ups", "dhl_parcel_de", ...
    label: str
    connection: Mapping = field(default_factory=dict)  # the extension's own settings
    # Sends the extension's API calls to another host (scheme and host swapped, the
    # path kept): a sandbox proxy, or the local server that plays the carrier in tests.
    api_host: str = ""


def _entries(raw) -> Mapping:
    if raw in (None, ""):
        return {}
    if isinstance(raw, str):  # from the environment
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise KarrioSettingsError(f"The karrio plugin's 'carriers' setting is not valid JSON: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise KarrioSettingsError("The karrio plugin's 'carriers' setting must map carrier ids to settings.")
    return raw


def carrier_configs(settings: Mapping) -> list[CarrierConfig]:
    """The carriers configured in the plugin's settings (`PluginSettings.for_id("karrio")`)."""
    configs = []
    for carrier_id, entry in _entries(settings.get("carriers")).items():
        where = f"karrio carrier '{carrier_id}'"
        if not isinstance(carrier_id, str) or not CARRIER_ID.fullmatch(carrier_id):
            raise KarrioSettingsError(f"The {where}: ids are lower-case letters, digits and _ (like karrio_ups).")
        if not isinstance(entry, Mapping):
            raise KarrioSettingsError(f"The {where} must be a mapping of settings.")
        name = entry.get(CARRIER_NAME)
        if not isinstance(name, str) or not CARRIER_ID.fullmatch(name):
            raise KarrioSettingsError(f"The {where} needs 'carrier_name': the karrio extension, like 'ups'.")
        api_host = entry.get(API_HOST) or ""
        if api_host and not (isinstance(api_host, str) and API_HOST_URL.fullmatch(api_host)):
            raise KarrioSettingsError(f"The {where}: 'api_host' must be a URL like http://127.0.0.1:8080.")
        label = entry.get(LABEL) or name
        configs.append(CarrierConfig(
            id=carrier_id, carrier_name=name, label=str(label), api_host=api_host,
            connection={key: value for key, value in entry.items() if key not in OWN_SETTINGS}))
    return configs
