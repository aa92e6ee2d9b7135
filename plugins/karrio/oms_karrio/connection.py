"""The one module that imports karrio, on first use.

Importing the SDK costs a process about a second and 50 MB (it loads Pillow, lxml
and PyPDF2), so every web worker that merely lists the carriers must not pay it:
the carrier objects call in here to book, rate, void or track; what an extension
offers (services, operations) is read from its source by `static` first.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import urlsplit, urlunsplit

from . import static
from .config import CarrierConfig

# Codes karrio gives its own failures (an exception in the SDK, an unsupported
# operation, a field it refused); a carrier's messages carry the carrier's codes.
SDK_CODE_PREFIX = "SHIPPING_SDK_"
# How long one HTTP call to a carrier may take is karrio's business; what it
# traces tells whether the carrier answered at all (see Outcome.retryable).
ASKED, ANSWERED, ANSWERED_WITH_ERROR = "request", "response", "error"


class ExtensionMissing(RuntimeError):
    """The karrio extension a carrier names is not installed."""


class SettingsRefused(ValueError):
    """karrio cannot build the extension's settings from the carrier's entry."""


@dataclass(frozen=True)
class Outcome:
    """What one karrio operation gave: its result (None on failure) and karrio's
    messages, with whether trying again later may succeed."""

    result: Any
    messages: list
    retryable: bool = False

    @property
    def error(self) -> str:
        parts = [f"{m.message} ({m.code})" if m.code else str(m.message) for m in self.messages]
        return "; ".join(parts) or "The carrier gave no answer."


def _swap_host(url: Optional[str], api_host: str) -> Optional[str]:
    if not url:
        return url
    target = urlsplit(api_host)
    return urlunsplit(urlsplit(url)._replace(scheme=target.scheme, netloc=target.netloc))


def _redirected(settings_class: type, api_host: str) -> type:
    """The extension's settings with every `*server_url` (an extension may have
    several: shipping, tokens, tracking...) on another host, paths kept."""
    overrides = {}
    for name in dir(settings_class):
        original = getattr(settings_class, name, None)
        if name.endswith("server_url") and isinstance(original, property):
            overrides[name] = property(lambda self, _get=original.fget: _swap_host(_get(self), api_host))
    # karrio builds settings from the class's own annotations: the subclass keeps them.
    overrides["__annotations__"] = dict(getattr(settings_class, "__annotations__", {}))
    return type(f"Redirected{settings_class.__name__}", (settings_class,), overrides)


def _retryable(tracer, messages) -> bool:
    """The carrier was down: a request went out and nothing came back (refused,
    reset, timed out), or an HTTP error came back that holds no carrier message
    (a 502/503 page from the carrier's front door: karrio could only report its own
    failure to read it). A carrier's own error message is final: retrying repeats it."""
    keys_by_request: dict = {}  # karrio traces each HTTP call's request and answer under its id
    for record in tracer.records:
        keys_by_request.setdefault(record.data.get("request_id"), set()).add(record.key)
    if any(keys == {ASKED} for keys in keys_by_request.values()):
        return True
    answered_with_error = any(ANSWERED_WITH_ERROR in keys for keys in keys_by_request.values())
    carrier_spoke = any(not str(m.code or "").startswith(SDK_CODE_PREFIX) for m in messages)
    return answered_with_error and not carrier_spoke


class Connection:
    """One configured karrio carrier: its extension, found and built lazily."""

    def __init__(self, config: CarrierConfig):
        self.config = config
        self._lock = threading.Lock()
        self._provider = None
        self._settings_class = None
        self._cache = None  # karrio's cache: the carrier's OAuth tokens, shared by calls

    def _load(self):
        with self._lock:
            if self._provider is None:
                import karrio.lib as lib
                from karrio.references import collect_providers_data

                provider = collect_providers_data().get(self.config.carrier_name)
                if provider is None:
                    raise ExtensionMissing(
                        f"karrio has no extension '{self.config.carrier_name}': "
                        f"pip install karrio.{self.config.carrier_name}")
                settings_class = provider.Settings
                if self.config.api_host:
                    settings_class = _redirected(settings_class, self.config.api_host)
                self._settings_class, self._cache = settings_class, lib.Cache()
                self._provider = provider
        return self._provider

    @property
    def provider(self):
        """karrio's PluginMetadata of the extension (services, Proxy, Settings...)."""
        return self._provider or self._load()

    def operations(self) -> frozenset[str]:
        """The proxy methods the extension implements (get_rates, cancel_shipment...):
        read from its source, or asked of karrio when that cannot be read."""
        found = static.operations(self.config.carrier_name)
        if found is not None:
            return found
        from karrio.references import detect_proxy_methods

        return frozenset(detect_proxy_methods(self.provider.Proxy))

    def services(self) -> tuple[tuple[str, object], ...]:
        """The (name, value) members of the extension's service enum, likewise."""
        found = static.services(self.config.carrier_name)
        if found is not None:
            return found
        return tuple((member.name, member.value) for member in self.provider.services or ())

    def settings(self):
        """A new instance of the extension's settings, built from the carrier's entry
        (a new one per operation: karrio hangs the call's tracer on it). Raises
        SettingsRefused when karrio cannot build them."""
        import karrio.lib as lib

        self._load()
        known = getattr(self._settings_class, "__annotations__", {})
        unknown = sorted(name for name in self.config.connection if name not in known)
        if unknown:
            raise SettingsRefused(f"karrio's {self.config.carrier_name} extension has no setting "
                                  f"{', '.join(unknown)} (it knows {', '.join(sorted(known))}).")
        try:
            return lib.to_object(self._settings_class, {
                **self.config.connection, "id": self.config.id, "carrier_id": self.config.id})
        except (TypeError, ValueError) as exc:  # a required setting missing, a value of the wrong type
            raise SettingsRefused(f"karrio refused the settings of {self.config.id}: {exc}") from exc

    def run(self, operation: Callable[[Any, Any], Any]) -> Outcome:
        """Run `operation(sdk, gateway)` (it returns karrio's lazy answer, parsed
        here) on a gateway of its own, so that its trace tells this call's story."""
        import karrio.lib as lib
        import karrio.sdk as sdk
        from karrio.core.errors import ShippingSDKError
        from karrio.core.models import Message

        tracer = lib.Tracer()
        try:
            settings = self.settings()
            gateway = sdk.gateway[self.config.carrier_name].create(settings, tracer=tracer, cache=self._cache)
        except (ExtensionMissing, SettingsRefused, ShippingSDKError) as exc:
            message = Message(carrier_name=self.config.carrier_name, carrier_id=self.config.id,
                              code="SETTINGS", message=str(exc))
            return Outcome(None, [message])
        result, messages = operation(sdk, gateway).parse()
        messages = list(messages or [])
        failed = result is None or (isinstance(result, list) and not result and messages)
        return Outcome(None if failed else result, messages,
                       retryable=failed and _retryable(tracer, messages))
