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
from .constants import CONFIG_PREFIX, DISTRIBUTION_NAME, ENTRY_POINT_GROUP, PROJECT_NAME
from .errors import NotFound, PluginError, PluginNotConfigured
from .plugin_settings import SETTING_NAME, PluginSettings, environment_name
from .protocols import Carrier, Forecaster, PaymentGateway, missing_attributes

# What a registry holds, by kind (the word listings use): how users are told of
# one, the hook that registers it, its protocol, and how plugin errors name it.
GATEWAY, CARRIER, FORECASTER = "payment", "carrier", "forecaster"


@dataclass(frozen=True)
class _Kind:
    noun: str
    hook: str
    protocol: type
    described: str


_KINDS = {
    GATEWAY: _Kind("payment method", "register_payment_gateways", PaymentGateway, "payment gateway"),
    CARRIER: _Kind("carrier", "register_carriers", Carrier, "carrier"),
    FORECASTER: _Kind("forecaster", "register_forecasters", Forecaster, "forecaster"),
}
KINDS = tuple(_KINDS)


@dataclass(frozen=True)
class SetupStatus:
    """Whether a registered gateway, carrier or forecaster has the settings it needs.
    Names only: a setting's value is never part of it."""

    kind: str
    obj: object
    missing: tuple[str, ...]  # its required_settings that are not set

    @property
    def configured(self) -> bool:
        return not self.missing

    @property
    def environment_names(self) -> tuple[str, ...]:
        """Where each missing setting may be set in the environment."""
        return tuple(environment_name(self.obj.id, name) for name in self.missing)

    def problem(self) -> str:
        """What a refused choice of it tells the user ("" when configured)."""
        if self.configured:
            return ""
        return (f"The {_KINDS[self.kind].noun} '{self.obj.id}' is not configured: it needs "
                f"{', '.join(self.missing)} (in {CONFIG_PREFIX}PLUGINS['{self.obj.id}'] or as "
                f"{', '.join(self.environment_names)}).")


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

    # `gateways`, `carriers` and `forecasters` hold everything installed, configured
    # or not: what existing orders and shipments name is always found there for
    # display. Choosing one for something new goes through the lookups below, which
    # refuse one whose required settings are missing.

    def objects(self, kind: str) -> dict:
        return {GATEWAY: self.gateways, CARRIER: self.carriers, FORECASTER: self.forecasters}[kind]

    def setup_status(self, kind: str, obj) -> SetupStatus:
        return SetupStatus(kind, obj, tuple(self.settings.missing(obj)))

    def status(self, kind: str) -> list[SetupStatus]:
        """Every object of a kind with its configuration status, by id."""
        return [self.setup_status(kind, obj) for _, obj in sorted(self.objects(kind).items())]

    def usable(self, kind: str) -> list:
        """The objects of a kind that can be chosen (their settings are complete), by id."""
        return [status.obj for status in self.status(kind) if status.configured]

    def installed(self, kind: str, object_id: str):
        """The object of that id, configured or not; NotFound when none is installed."""
        obj = self.objects(kind).get(object_id)
        if obj is None:
            raise NotFound(f"No {_KINDS[kind].noun} '{object_id}' is installed.")
        return obj

    def _usable(self, kind: str, object_id: str):
        obj = self.installed(kind, object_id)
        status = self.setup_status(kind, obj)
        if not status.configured:
            raise PluginNotConfigured(status.problem())
        return obj

    def gateway(self, gateway_id: str) -> PaymentGateway:
        """The payment gateway to use; NotFound, or PluginNotConfigured."""
        return self._usable(GATEWAY, gateway_id)

    def carrier(self, carrier_id: str) -> Carrier:
        """The carrier to use; NotFound, or PluginNotConfigured."""
        return self._usable(CARRIER, carrier_id)

    def forecaster(self, forecaster_id: str) -> Forecaster:
        """The forecaster to use; NotFound, or PluginNotConfigured."""
        return self._usable(FORECASTER, forecaster_id)

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


def _collect(pm: pluggy.PluginManager, settings: PluginSettings, kind: _Kind) -> dict:
    """Call one registration hook plugin by plugin, validating every object. An
    implementation that names the `settings` argument gets the plugin settings."""
    hook_name, protocol, described = kind.hook, kind.protocol, kind.described
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
                    f"Plugin '{owner}' registered a {described} {obj!r} that lacks: {', '.join(missing)}."
                )
            if not isinstance(obj.id, str) or not obj.id:
                raise PluginError(f"Plugin '{owner}' registered a {described} without an id.")
            if obj.id in found:
                raise PluginError(
                    f"Duplicate {described} id '{obj.id}': registered by plugin '{owners[obj.id]}' "
                    f"and by plugin '{owner}'."
                )
            required = getattr(obj, "required_settings", ())
            if not isinstance(required, (list, tuple)) or not all(
                    isinstance(name, str) and SETTING_NAME.fullmatch(name) for name in required):
                raise PluginError(f"Plugin '{owner}': required_settings of {described} '{obj.id}' must be "
                                  f"a list of lower-case setting names, not {required!r}.")
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
    registry.gateways = _collect(pm, settings, _KINDS[GATEWAY])
    registry.carriers = _collect(pm, settings, _KINDS[CARRIER])
    registry.forecasters = _collect(pm, settings, _KINDS[FORECASTER])
    return registry


def entry_point_names() -> list[str]:
    return sorted(ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
