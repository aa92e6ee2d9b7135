"""Where the demo keeps its files, its database URL and its secret key.

No secret lives in the repository: SECRET_KEY comes from OMS_DEMO_SECRET_KEY or is
generated once per install and kept (mode 0600) in the demo-data folder.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from oms_core.config import DEFAULTS
from oms_core.constants import CONFIG_PREFIX

DATA_DIR_ENV = "OMS_DEMO_DATA_DIR"
DATABASE_URL_ENV = "OMS_DEMO_DATABASE_URL"
SECRET_KEY_ENV = "OMS_DEMO_SECRET_KEY"
DEFAULT_DATA_DIR = "demo-data"
SECRET_KEY_FILE = "secret_key"


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The demo-data folder (created if missing): `path`, $OMS_DEMO_DATA_DIR or ./demo-data."""
    folder = Path(path or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def database_url(url: str | None, folder: Path) -> str:
    return url or os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{folder / 'demo.sqlite3'}"


def secret_key(folder: Path) -> str:
    """$OMS_DEMO_SECRET_KEY, or this install's own random key.

    Several gunicorn workers may start at once: the key is written to a temporary
    file and hard-linked into place, so every worker reads the one that won.
    """
    if os.environ.get(SECRET_KEY_ENV):
        return os.environ[SECRET_KEY_ENV]
    target = folder / SECRET_KEY_FILE
    if not target.exists():
        temporary = folder / f".{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(temporary, target)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return target.read_text().strip()


def oms_config_from_environment(environ=os.environ) -> dict:
    """OMS_* settings given in the environment (e.g. OMS_TRACKING_RATE_LIMIT for a
    benchmark). Values of settings that are not text are read as JSON."""
    found = {}
    for name, default in DEFAULTS.items():
        key = CONFIG_PREFIX + name
        if key in environ:
            found[key] = environ[key] if isinstance(default, str) else json.loads(environ[key])
    return found


FAKE_STRIPE_ENV = "OMS_DEMO_FAKE_STRIPE"


def fake_stripe(shop_url: str, *, enabled: bool = False, environ=os.environ):
    """Card payments offline: when `enabled` or $OMS_DEMO_FAKE_STRIPE is 1, start the
    Stripe plugin's local stand-in (plugins/stripe, oms_stripe.testing) on a free
    port, sending its webhooks to this shop, and return (the stand-in, the config
    that points the plugin at it). (None, {}) otherwise, or without the plugin."""
    if not (enabled or environ.get(FAKE_STRIPE_ENV) == "1"):
        return None, {}
    try:
        from oms_stripe.testing import FakeStripe
    except ImportError:  # the plugin is not installed: the demo runs without cards
        return None, {}
    prefix = oms_config_from_environment(environ).get(CONFIG_PREFIX + "WEBHOOK_PREFIX", DEFAULTS["WEBHOOK_PREFIX"])
    keys = {"secret_key": f"sk_test_demo_{secrets.token_hex(12)}",
            "webhook_secret": f"whsec_demo_{secrets.token_hex(12)}"}
    stand_in = FakeStripe(**keys, webhook_url=f"{shop_url}{prefix}/payments/stripe").start()
    return stand_in, {CONFIG_PREFIX + "PLUGINS": {"stripe": {**keys, "api_base": stand_in.api_base}}}
