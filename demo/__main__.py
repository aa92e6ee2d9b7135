"""`oms-demo`: the demo shop and back-office on SQLite, ready in one command.

    oms-demo [--host 127.0.0.1] [--port 5000] [--database-url URL] [--data-dir DIR] [--reset] [--fake-stripe]
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from . import settings
from .startup import OWNER_EMAIL, OWNER_PASSWORD, OutboxWorker, prepare, print_mail_to


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="oms-demo", description="Run the OMS demo shop and back-office.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--database-url", default=None,
                        help=f"default: ${settings.DATABASE_URL_ENV} or sqlite in the data folder")
    parser.add_argument("--data-dir", default=None,
                        help=f"default: ${settings.DATA_DIR_ENV} or ./{settings.DEFAULT_DATA_DIR}")
    parser.add_argument("--reset", action="store_true", help="delete all OMS data and seed the demo again")
    parser.add_argument("--fake-stripe", action="store_true",
                        help=f"card payments against a local Stripe stand-in (or ${settings.FAKE_STRIPE_ENV}=1)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migration chatter
    base = f"http://{args.host}:{args.port}"
    print("Preparing the demo shop (the first run generates two years of orders)...", flush=True)
    stripe_stand_in, stripe_config = settings.fake_stripe(base, enabled=args.fake_stripe)
    site = prepare(database_url=args.database_url, data_dir=args.data_dir, reset=args.reset,
                   OMS_PUBLIC_BASE_URL=base, **stripe_config)
    if site.seeded:
        print(f"Demo data: {site.seeded.products} products, {site.seeded.orders} orders.")
    if site.forecast:
        print(f"Forecast: {site.forecast.series_count} products with {site.forecast.forecaster_id} "
              f"({site.forecast.chosen_by}).")
    if "OMS_SMTP_HOST" not in os.environ:
        print_mail_to(print)  # set OMS_SMTP_HOST to send real mail instead
    worker = OutboxWorker(site.app)
    worker.start()
    print(f"\nDatabase:     {site.database_url}")
    print(f"Shop:         {base}/")
    print(f"Back-office:  {base}{site.app.config['OMS_ADMIN_PREFIX']}/  "
          f"(log in as {OWNER_EMAIL} / {OWNER_PASSWORD})")
    print(f"Tracking:     {base}{site.app.config['OMS_TRACKING_PREFIX']}", flush=True)
    if stripe_stand_in:
        print(f"Cards:        a local Stripe stand-in at {stripe_stand_in.api_base} (test mode, no real money)")
    print(flush=True)
    try:
        site.app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    finally:
        worker.stop()
        if stripe_stand_in:
            stripe_stand_in.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
