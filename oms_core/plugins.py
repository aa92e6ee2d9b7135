"""Plugin discovery and the registry of gateways, carriers and forecasters.

The core's own default plugins (`default_plugins`) are registered first, then
every plugin found through the entry-point group named by PROJECT_NAME. Start-up
fails, naming the plugin, on an invalid hook implementation, an object that does
not follow its protocol, or two objects with one id.
"""
from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass, field
from typing import Iterable

import pluggy

from . import __version__, default_plugins, hookspecs
from .constants import DISTRIBUTION_NAME, ENTRY_POINT_GROUP, PROJECT_NAME
from .errors import NotFound, PluginError
from .plugin_settings import PluginSettings
from .protocols import Carrier, Forecaster, PaymentGateway, missing_attributes

_KINDS = (
    ("register_payment_gateways", PaymentGateway, "payment gateway"),
    ("register_carriers", Carrier, "carrier"),
    ("register_forecasters", Forecaster, "forecaster"),
)


@dataclass
class PluginInfo:
    name: str
    version: str
    hooks: list[str]
    distribution: str = ""
    builtin: bool = False  # one of the core's default plugins


@dataclass
class PluginRegistry:
    pm: pluggy.PluginManager
    gateways: dict = field(default_factory=dict)
    carriers: dict = field(default_factory=dict)
    forecasters: dict = field(default_factory=dict)
    # entry-point name -> importlib.metadata.Distribution it came from
    distributions: dict = field(default_factory=dict)
    builtins: frozenset = frozenset()  # names of the default plugins registered
    settings: PluginSettings = field(default_factory=PluginSettings)

    @property
    def hook(self):
        return self.pm.hook

    def gateway(self, gateway_id: str) -> PaymentGateway:
        try:
            return self.gateways[gateway_id]
        except KeyError:
            raise NotFound(f"No payment method '{gateway_id}' is installed.") from None

    def carrier(self, carrier_id: str) -> Carrier:
        try:
            return self.carriers[carrier_id]
        except KeyError:
            raise NotFound(f"No carrier '{carrier_id}' is installed.") from None

    def forecaster(self, forecaster_id: str) -> Forecaster:
        try:
            return self.forecasters[forecaster_id]
        except KeyError:
            raise NotFound(f"No forecaster '{forecaster_id}' is installed.") from None

    def plugins(self) -> list[PluginInfo]:
        """What is loaded, with versions and the hooks each implements."""
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:  # blocked
                continue
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            dist = self.distributions.get(name)
            if name in self.builtins:
                infos.append(PluginInfo(name=name, version=__version__, hooks=hooks,
                                        distribution=DISTRIBUTION_NAME, builtin=True))
                continue
            infos.append(
                PluginInfo(
                    name=name,
                    version=dist.version if dist else "",
                    hooks=hooks,
                    distribution=dist.name if dist else "",
                )
            )
        return sorted(infos, key=lambda info: info.name)


def _plugin_name(pm: pluggy.PluginManager, impl) -> str:
    return pm.get_name(impl.plugin) or repr(impl.plugin)


def _collect(pm: pluggy.PluginManager, settings: PluginSettings, hook_name: str, protocol,
             kind: str) -> dict:
    """Call one registration hook plugin by plugin, validating every object. An
    implementation that names the `settings` argument gets the plugin settings."""
    found: dict = {}
    owners: dict = {}
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        owner = _plugin_name(pm, impl)
        arguments = {"settings": settings} if "settings" in impl.argnames else {}
        try:
            objects = impl.function(**arguments) or []
        except Exception as exc:  # a broken plugin must say who it is
            raise PluginError(f"Plugin '{owner}' failed in {hook_name}: {exc!r}") from exc
        if not isinstance(objects, (list, tuple)):
            raise PluginError(f"Plugin '{owner}': {hook_name} must return a list, not {objects!r}.")
        for obj in objects:
            missing = missing_attributes(obj, protocol)
            if missing:
                raise PluginError(
                    f"Plugin '{owner}' registered a {kind} {obj!r} that lacks: {', '.join(missing)}."
                )
            if not isinstance(obj.id, str) or not obj.id:
                raise PluginError(f"Plugin '{owner}' registered a {kind} without an id.")
            if obj.id in found:
                raise PluginError(
                    f"Duplicate {kind} id '{obj.id}': registered by plugin '{owners[obj.id]}' "
                    f"and by plugin '{owner}'."
                )
            found[obj.id], owners[obj.id] = obj, owner
    return found


def _describe(ep) -> str:
    dist = ep.dist
    return f"'{ep.name}'" + (f" (distribution {dist.name} {dist.version})" if dist else "")


def _load_entry_points(pm: pluggy.PluginManager) -> dict:
    """Register every entry point of the group under its entry-point name.

    Done here rather than with pluggy's `load_setuptools_entrypoints` so that a
    plugin failing to import or to validate is named (pluggy cannot name a plugin
    it refused to register), and so that two distributions claiming one name are
    refused instead of the second being silently skipped.
    """
    distributions: dict = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if pm.is_blocked(ep.name):
            continue
        if ep.name in default_plugins.MODULES:
            raise PluginError(f"Plugin {_describe(ep)} takes the name of a default plugin of "
                              f"{DISTRIBUTION_NAME}; disable that one (OMS_DISABLED_PLUGINS) "
                              "or rename the entry point.")
        if ep.name in distributions:
            other = distributions[ep.name]
            raise PluginError(
                f"Two plugins are named '{ep.name}': distribution "
                f"{other.name if other else '?'} and {_describe(ep)}.")
        try:
            plugin = ep.load()
        except Exception as exc:  # ImportError, AttributeError, or the plugin's own bug
            raise PluginError(f"Plugin {_describe(ep)} failed to load: {exc!r}") from exc
        try:
            pm.register(plugin, name=ep.name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"Plugin {_describe(ep)} is invalid: {exc}") from exc
        except ValueError as exc:  # the same module registered under two names
            raise PluginError(f"Plugin {_describe(ep)} cannot be registered: {exc}") from exc
        distributions[ep.name] = ep.dist
    return distributions


def _load_defaults(pm: pluggy.PluginManager) -> frozenset:
    """Register the core's default plugins that are not disabled."""
    names = []
    for name, module in default_plugins.MODULES.items():
        if pm.is_blocked(name):
            continue
        pm.register(importlib.import_module(module), name=name)
        names.append(name)
    return frozenset(names)


def load_plugins(
    disabled: Iterable[str] = (),
    extra_plugins: Iterable[object] = (),
    use_entry_points: bool = True,
    use_defaults: bool = True,
    settings: PluginSettings | None = None,
) -> PluginRegistry:
    """Build the plugin manager and registry. Raises PluginError on any invalid plugin.

    `disabled` names default plugins or entry points not to load. `extra_plugins`
    are modules or objects registered directly (the host app's own hooks, tests).
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in disabled:
        pm.set_blocked(name)
    builtins = _load_defaults(pm) if use_defaults else frozenset()
    distributions = _load_entry_points(pm) if use_entry_points else {}
    for plugin in extra_plugins:
        name = pm.get_canonical_name(plugin)
        if pm.is_blocked(name):
            continue
        try:
            pm.register(plugin)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"Plugin '{name}' is invalid: {exc}") from exc
        except ValueError as exc:
            raise PluginError(f"Plugin '{name}' cannot be registered: {exc}") from exc
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"Plugin '{pm.get_name(exc.plugin)}' is invalid: {exc}") from exc
    settings = settings or PluginSettings()
    registry = PluginRegistry(pm=pm, distributions=distributions, builtins=builtins, settings=settings)
    registry.gateways = _collect(pm, settings, *_KINDS[0])
    registry.carriers = _collect(pm, settings, *_KINDS[1])
    registry.forecasters = _collect(pm, settings, *_KINDS[2])
    return registry


def entry_point_names() -> list[str]:
    return sorted(ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
