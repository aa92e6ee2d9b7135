"""Plugin settings: the one way a plugin receives its API keys, live/test mode,
account ids and webhook secret.

The host app sets `OMS_PLUGINS = {"<gateway, carrier or forecaster id>": {"<name>":
value}}`. A setting missing there is read from the environment variable
`OMS_PLUGIN_<ID>_<NAME>` (upper case, `-` as `_`), so secrets never need to be in
code: `OMS_PLUGIN_STRIPE_API_KEY=sk_test_...`.

Registration hooks that name a `settings` argument receive a `PluginSettings` and
build their objects from `settings.for_id(id)`; a plugin never reads
`current_app.config`. An object that lists `required_settings` is "not
configured" while any of them is empty: it is listed as such and cannot be chosen.
"""
from __future__ import annotations

import os
import re
from typing import Mapping

from .constants import CONFIG_PREFIX

# The setting that holds the secret a plugin checks webhook signatures with.
WEBHOOK_SECRET = "webhook_secret"
ENVIRONMENT_PREFIX = CONFIG_PREFIX + "PLUGIN_"
# What a required setting may be called: lower case, so that its environment
# variable (upper case) maps back to it.
SETTING_NAME = re.compile(r"[a-z][a-z0-9_]*")


def environment_name(object_id: str, name: str) -> str:
    """OMS_PLUGIN_<ID>_<NAME>: where a setting of an object is found in the environment."""
    return f"{ENVIRONMENT_PREFIX}{object_id}_{name}".upper().replace("-", "_")


class PluginSettings:
    def __init__(self, configured: Mapping | None = None, environ: Mapping[str, str] | None = None):
        configured = configured or {}
        if not isinstance(configured, Mapping) or not all(
                isinstance(value, Mapping) for value in configured.values()):
            raise ValueError(f"{CONFIG_PREFIX}PLUGINS must map ids to mappings of settings, "
                             f"like {{'stripe': {{'api_key': '...'}}}}.")
        self._configured = {str(key): dict(value) for key, value in configured.items()}
        # Read once, at start-up like the plugin objects built from it: the lookups
        # run on the checkout's path and need not scan the whole environment each time.
        environ = os.environ if environ is None else environ
        self._environ = {key: value for key, value in environ.items() if key.startswith(ENVIRONMENT_PREFIX)}

    def for_id(self, object_id: str) -> dict:
        """The settings of one gateway, carrier or forecaster: the environment's
        OMS_PLUGIN_<ID>_* variables, overridden by OMS_PLUGINS[id]."""
        prefix = environment_name(object_id, "")
        found = {key[len(prefix):].lower(): value for key, value in self._environ.items()
                 if key.startswith(prefix) and len(key) > len(prefix)}
        found.update(self._configured.get(object_id, {}))
        return found

    def get(self, object_id: str, name: str, default=None):
        value = self.for_id(object_id).get(name)
        return default if value in (None, "") else value

    def missing(self, obj) -> list[str]:
        """The `required_settings` of a plugin object that are not set."""
        settings = self.for_id(obj.id)
        return [name for name in getattr(obj, "required_settings", ()) if settings.get(name) in (None, "")]
