"""Domain errors. Services raise them; the web layer turns them into a clear message.

A service that raises one of these has changed nothing: the transaction is rolled back.
"""


class DomainError(Exception):
    """Base class for every error a user can cause and should be told about."""

    status_code = 400


class ValidationError(DomainError):
    """Input that cannot be accepted (empty, negative, unknown code...)."""


class NotFound(DomainError):
    status_code = 404


class IllegalTransition(DomainError):
    """A status change the state machine does not allow."""

    status_code = 409

    def __init__(self, entity: str, current: str, target: str):
        self.entity, self.current, self.target = entity, current, target
        super().__init__(f"A {entity} cannot go from '{current}' to '{target}'.")


class OutOfStock(DomainError):
    status_code = 409

    def __init__(self, sku: str, requested: int, available: int):
        self.sku, self.requested, self.available = sku, requested, available
        super().__init__(
            f"Not enough stock for {sku}: {requested} requested, {max(available, 0)} available."
        )


class PaymentRefused(DomainError):
    """A payment that does not fit the order (amount, currency, state); nothing was recorded."""

    status_code = 422


class PluginNotConfigured(DomainError):
    """A gateway, carrier or forecaster whose required settings are missing: it
    cannot be chosen until the shop sets them (docs/plugins.md, "Settings")."""

    # The shop's own configuration is at fault, not the caller: a webhook sender
    # should retry later, by when the settings may be in place.
    status_code = 503


class PermissionDenied(DomainError):
    status_code = 403


class PluginError(Exception):
    """A plugin that cannot be loaded: start-up stops with this message."""


class SchemaOutdated(Exception):
    """The database schema is not at the revision this code needs."""
