"""Back-office order list, filtered list and search at growing order counts.

Times the service query and the full back-office page (Flask test client, logged in)
at each size, on SQLite and (with --postgres-url) PostgreSQL, and prints each
figure's ratio to the smallest size measured in the same run. Goal: at most 1.5x
slower at 100,000 orders than at 1,000.

    python benchmarks/bench_order_list.py [--sizes 1000,100000,1000000] [--postgres-url URL]
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).parent))
from databases import temporary_postgres, temporary_sqlite  # noqa: E402
from seed import seed_orders  # noqa: E402

from oms_core.db import db  # noqa: E402
from oms_core.models import Customer, Order  # noqa: E402
from oms_core.services import queries, users  # noqa: E402
from oms_core.testing import dispose, make_app  # noqa: E402

REPEAT = 25


def timed(fn) -> float:
    """Median milliseconds over REPEAT runs, after two warm-up runs."""
    fn()
    fn()
    samples = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def login(client) -> None:
    page = client.get("/oms/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post("/oms/admin/login", data={"email": "bench@example.com",
                                                     "password": "bench-password", "csrf_token": token})
    assert response.status_code == 302, "login failed"


def cases(app, client) -> dict:
    with app.app_context():
        newest = db.session.scalar(select(Order).order_by(Order.id.desc()).limit(1))
        email = db.session.scalar(select(Customer.email).where(Customer.id == newest.customer_id))
        code = db.session.scalar(select(Order.tracking_code).where(Order.tracking_code.is_not(None))
                                 .order_by(Order.id.desc()).limit(1))
        middle = newest.id - 500
    def service(**kw):
        def run():
            with app.app_context():
                queries.list_orders(limit=50, **kw)
                db.session.remove()
        return run

    def page(url):
        def run():
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
        return run

    return {
        "list (service)": service(),
        "filter shipped (service)": service(status="shipped"),
        "search email (service)": service(search=email),
        "search number (service)": service(search=str(middle)),
        "search tracking (service)": service(search=code),
        "older page (service)": service(before=middle),
        "list page (HTTP)": page("/oms/admin/orders"),
        "filter page (HTTP)": page("/oms/admin/orders?status=shipped"),
        "search page (HTTP)": page(f"/oms/admin/orders?q={email}"),
    }


def run_backend(label: str, url: str, sizes: list[int]) -> dict:
    app = make_app(url)
    with app.app_context():
        users.create_user(email="bench@example.com", name="Bench", password="bench-password", role="staff")
    client = app.test_client()
    login(client)
    results: dict = {}
    seeded = 0
    for size in sizes:
        start = time.perf_counter()
        with app.app_context():
            seed_orders(size - seeded, seed=size)
            db.session.remove()
        seeded = size
        print(f"[{label}] seeded to {size:,} orders in {time.perf_counter() - start:.1f}s", flush=True)
        for name, fn in cases(app, client).items():
            results[(name, size)] = timed(fn)
    dispose(app)
    return results


def report(label: str, sizes: list[int], results: dict) -> None:
    print(f"\n{label}: median ms over {REPEAT} runs (ratio to {sizes[0]:,} orders)")
    header = f"{'case':28}" + "".join(f"{s:>22,}" for s in sizes)
    print(header)
    names = sorted({name for name, _ in results}, key=list(dict.fromkeys(n for n, _ in results)).index)
    for name in names:
        base = results[(name, sizes[0])]
        cells = "".join(f"{results[(name, s)]:>12.2f} ({results[(name, s)] / base:4.2f}x)" for s in sizes)
        print(f"{name:28}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--postgres-url", default="")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if not args.skip_sqlite:
        with temporary_sqlite() as url:
            results = run_backend("SQLite", url, sizes)
        report("SQLite", sizes, results)
    if args.postgres_url:
        with temporary_postgres(args.postgres_url) as url:
            results = run_backend("PostgreSQL", url, sizes)
        report("PostgreSQL", sizes, results)

if __name__ == "__main__":
    main()
