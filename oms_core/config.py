"""Config keys of the OMS, all prefixed OMS_, with their defaults (applied with
setdefault, so the host app's values win)."""
from __future__ import annotations

from .constants import CONFIG_PREFIX

DEFAULTS = {
    # Shop identity, used in emails and on the public page.
    "SHOP_NAME": "Our shop",
    "PUBLIC_BASE_URL": "http://localhost:5000",
    "DEFAULT_CURRENCY": "EUR",
    # The seller on invoices and other documents (oms_core/shop.py lists the keys):
    # legal_name, address_lines, country, vat_number, registration_number, iban, bic,
    # bank_name, logo_path, footer, locale, time_zone, payment_terms_days.
    "SHOP": {},
    # Taxes (oms_core/taxes.py): do typed prices include tax, and the rate of each tax
    # class per country in basis points, "*" for any other: {"standard": {"NL": 2100, "*": 2100}}.
    "PRICES_INCLUDE_TAX": True,
    "TAX_CLASSES": {},
    # Documents: when an order gets its invoice ("paid", or "confirmed" for orders
    # paid later: cash on delivery, bank transfer), and the number prefix of each series.
    "INVOICE_ON": "paid",
    "DOCUMENT_PREFIXES": {"invoice": "INV", "credit_note": "CN", "receipt": "RCT", "packing_slip": "PS"},
    # Customers who proved an order is theirs (tracking code + email) may download its
    # documents for this long; links in emails work for DOCUMENT_LINK_DAYS.
    "DOCUMENT_ACCESS_MINUTES": 60,
    "DOCUMENT_LINK_DAYS": 30,
    # Shipping (oms_core/shipping_config.py lists the keys of each entry): the
    # addresses parcels leave from (the first with "default": true, else the first),
    # packaging presets, and the carrier and service per destination and weight.
    "SHIP_FROM": [],
    "PACKAGING": [],
    "SHIPPING_RULES": [],
    # Returns (services/returns.py): days after delivery a customer may ask for one,
    # per product category where it differs ({"furniture": 14}), the reasons offered
    # ({code: label}), whether the shop pays returns (a return label bought from the
    # order's carrier where it sells them) and the instructions emailed otherwise.
    "RETURN_WINDOW_DAYS": 30,
    "RETURN_WINDOW_DAYS_BY_CATEGORY": {},
    "RETURN_REASONS": {"damaged": "Arrived damaged", "wrong_item": "Wrong item sent",
                       "not_as_described": "Not as described", "does_not_fit": "Does not fit",
                       "changed_mind": "Changed my mind", "other": "Another reason"},
    "RETURNS_SHOP_PAYS": False,
    "RETURN_INSTRUCTIONS": "Pack the items well, write your order number on the parcel and send it to "
                           "the address on your invoice.",
    # Tracking polls (carriers without webhooks): minutes between two polls of a
    # parcel, and whether carriers with webhooks are polled too.
    "TRACK_EVERY_MINUTES": 60,
    "TRACK_ALL_CARRIERS": False,
    # Plugins: entry-point names not to load.
    "DISABLED_PLUGINS": [],
    # Storefront orders reserve stock at checkout (confirm at once).
    "AUTO_CONFIRM": True,
    # URL prefixes of the blueprints.
    "ADMIN_PREFIX": "/oms/admin",
    "TRACKING_PREFIX": "/track",
    "WEBHOOK_PREFIX": "/oms/webhooks",
    "STOREFRONT_PREFIX": "/oms/storefront",
    # Dashboard: paid or COD orders not shipped after this many days need attention.
    "UNSHIPPED_AFTER_DAYS": 2,
    # Unpaid orders (services/unpaid.py): per payment method, hours from placing to the
    # payment deadline (then the order expires) and hours before it to remind the
    # customer; methods not listed, and cash on delivery, never expire.
    "PAYMENT_DEADLINES": {"bank_transfer": {"deadline_hours": 168, "remind_hours_before": 48}},
    # Staff alerts (services/alerts.py): the hour (shop time, OMS_SHOP["time_zone"])
    # daily digests go out. Orders late to ship are those of OMS_UNSHIPPED_AFTER_DAYS.
    "DIGEST_HOUR": 8,
    "PAGE_SIZE": 50,
    # Public tracking page: guesses per client address (flask-limiter syntax).
    "TRACKING_RATE_LIMIT": "30 per minute;300 per hour",
    # Back-office log-in attempts per client address, against password guessing.
    "LOGIN_RATE_LIMIT": "10 per minute;50 per hour",
    # Shared by all web workers in production: e.g. redis://127.0.0.1:6379. memory://
    # counts per process: a server with several worker processes multiplies the limits.
    "RATELIMIT_STORAGE_URI": "memory://",
    # Refuse to start with process-local storage (memory://) instead of warning.
    "RATELIMIT_REQUIRE_SHARED": False,
    # Prefix of the counters' keys: shops sharing one Redis keep apart with their own.
    "RATELIMIT_KEY_PREFIX": "oms",
    # Tracking pages are cached in that Redis (when it is one) until their order
    # changes, each for at most this many seconds; 0 turns the cache off
    # (oms_core/tracking_cache.py).
    "TRACKING_CACHE_SECONDS": 120,
    # Plugin settings per gateway/carrier/forecaster id: {"stripe": {"api_key": ...}};
    # each one may come from the environment instead (oms_core.plugin_settings).
    "PLUGINS": {},
    # Staff management (services/staff.py): how long an invitation and a password
    # reset link stay good, and at most one "forgot password" email per user this often.
    "STAFF_INVITE_HOURS": 72,
    "PASSWORD_RESET_MINUTES": 60,
    "PASSWORD_RESET_RESEND_MINUTES": 5,
    # Imports (services/csv_import.py): the largest file and the most rows taken at once.
    "IMPORT_MAX_BYTES": 5_000_000,
    "IMPORT_MAX_ROWS": 10_000,
    # The payment method of imported orders whose file names none.
    "IMPORT_PAYMENT_METHOD": "bank_transfer",
    # Outgoing mail.
    "MAIL_SENDER": "shop@localhost",
    "SMTP_HOST": "localhost",
    "SMTP_PORT": 25,
    "SMTP_USERNAME": "",
    "SMTP_PASSWORD": "",
    "SMTP_STARTTLS": False,
    "SMTP_TIMEOUT": 10,
    # Webhook events that match no shipment or order yet are listed for staff once
    # they have waited this long (minutes).
    "INBOX_UNMATCHED_AFTER_MINUTES": 60,
    # Reconciliation: authorizations older than this are listed before they expire
    # uncaptured (Stripe's expire after 7 days), and refunds pending longer than this.
    "AUTHORIZATION_WARN_DAYS": 6,
    "REFUND_PENDING_WARN_HOURS": 24,
    # Payment sync (services/payment_sync.py): the worker asks the gateway about a
    # started payment whose webhook has not come after this many minutes, until it is
    # this many hours old, every so many minutes, at most PAYMENT_SYNC_BATCH per pass.
    "PAYMENT_SYNC_AFTER_MINUTES": 15,
    "PAYMENT_SYNC_MAX_AGE_HOURS": 48,
    "PAYMENT_SYNC_EVERY_MINUTES": 5,
    "PAYMENT_SYNC_BATCH": 100,
    # Outbox worker: attempts before a message is dead, first retry delay (doubles).
    "OUTBOX_MAX_ATTEMPTS": 8,
    "OUTBOX_BACKOFF_SECONDS": 30,
    # A claimed message is leased to its worker this long, the lease renewed every
    # HEARTBEAT seconds (at most half the lease) while it sends: a dead worker's
    # messages go out again within one lease.
    "OUTBOX_LEASE_SECONDS": 30,
    "OUTBOX_HEARTBEAT_SECONDS": 10,
    # Outbound webhooks (services/outbound_webhooks.py): seconds to wait for a
    # receiver's answer, and whether URLs may point at loopback, private or
    # link-local addresses (off: the OMS must not be a way into the shop's own network).
    "WEBHOOK_TIMEOUT_SECONDS": 10,
    "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": False,
    # Forecasting: a forecaster id, or "auto" (the best of those installed, by back-test).
    "FORECASTER": "auto",
    "FORECAST_FREQUENCY": "week",  # or "month"
    "FORECAST_HORIZON": 0,  # periods ahead; 0: 26 weeks or 12 months
    "FORECAST_LEVEL": 0.8,  # prediction interval
    # Products with fewer periods of sales than this get the average, not a model.
    "FORECAST_MIN_HISTORY": 8,
    # The worker re-forecasts when the last run is older than this (0: only by hand).
    "FORECAST_EVERY_HOURS": 24,
    "FORECAST_KEEP_RUNS": 20,  # per kind; older runs are deleted
    # Replenishment defaults for products without their own: days from ordering to
    # receiving, the chance of not running out meanwhile, and days between orders.
    "REPLENISH_LEAD_TIME_DAYS": 14,
    "REPLENISH_SERVICE_LEVEL": 0.95,
    "REPLENISH_REVIEW_DAYS": 14,
    # Uploaded images (complaint photos; services/uploads.py): the largest file taken,
    # the most pixels (against decompression bombs) and images per message.
    "UPLOAD_MAX_BYTES": 5 * 1024 * 1024,
    "UPLOAD_MAX_PIXELS": 40_000_000,
    "UPLOAD_MAX_PER_MESSAGE": 5,
    # Complaints (services/complaints.py): the categories customers and staff pick
    # from, and where staff hear of a customer's message when nobody is assigned
    # ("" = every active staff user).
    "COMPLAINT_CATEGORIES": ["Damaged item", "Wrong item", "Missing item", "Delivery", "Other"],
    "SUPPORT_EMAIL": "",
    # Refuse to serve when the database schema is not at the code's revision.
    "CHECK_SCHEMA": True,
}


def apply_defaults(config) -> None:
    for name, value in DEFAULTS.items():
        config.setdefault(CONFIG_PREFIX + name, value)
