"""Documents: issuing and rendering invoices against bare WeasyPrint, and serving a
stored PDF against a static file of the same size.

1. Rendering: invoices per second through the real path (`issue_invoice` in a write
   transaction: number, snapshot, timeline; then `documents.rendered`: snapshot to
   HTML to PDF, bytes and sha256 stored) against WeasyPrint alone turning the very
   same HTML into a PDF, in the same run (two rounds of each, averaged).
   Goal: >= 0.90 of bare.
2. Serving: a staff download of a stored invoice (login checked, row read, bytes
   sent) against Flask sending a static file of the same size, through the Flask
   test client (no network: the cost of the app itself). Goal: >= 0.50 of static.

    python benchmarks/bench_documents.py [--invoices 40] [--requests 2000]
                                         [--postgres-url URL] [--skip-sqlite]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from databases import temporary_postgres, temporary_sqlite  # noqa: E402

RENDER_GOAL, SERVE_GOAL = 0.90, 0.50
SHOP = {"legal_name": "Bench Shop B.V.", "address_lines": ["Oudegracht 12", "3511 AB Utrecht"],
        "country": "NL", "vat_number": "NL123456789B01", "iban": "NL91 ABNA 0417 1643 00",
        "locale": "nl_NL", "time_zone": "Europe/Amsterdam", "footer": "Bench Shop B.V."}


def make_bench_app(url: str, static_dir: str):
    from flask import send_from_directory

    from oms_core.testing import make_app

    app = make_app(url, OMS_SHOP=SHOP, OMS_TAX_CLASSES={"standard": {"*": 2100}, "reduced": {"*": 900}},
                   OMS_CHECK_SCHEMA=False, WTF_CSRF_ENABLED=False)

    @app.route("/bench-static/<name>")
    def bench_static(name):
        return send_from_directory(static_dir, name)

    return app


def bench_products() -> list[str]:
    from oms_core.services import catalog

    return [catalog.create_product(sku=f"BENCH-{index}", name=f"Bench product {index} <&>", price_minor=price,
                                   currency="EUR", on_hand=1_000_000, tax_class=tax_class, actor="bench").sku
            for index, (price, tax_class) in enumerate([(1450, "standard"), (895, "reduced"), (33, "standard")])]


def confirmed_orders(skus: list[str], count: int) -> list[int]:
    from oms_core.services.orders import NewOrder, place_order

    return [place_order(NewOrder(email=f"buyer{i}@example.com", name=f"Buyer {i}",
                                 lines=[(skus[0], 2), (skus[1], 1), (skus[2], 3)], payment_method="bank_transfer",
                                 address={"line1": "Kerkstraat 1", "postal_code": "3511 AB", "city": "Utrecht",
                                          "country": "NL"}, shipping_minor=495),
                        actor="bench", confirm=True).id for i in range(count)]


def per_second(count: int, work) -> float:
    started = time.perf_counter()
    work()
    return count / (time.perf_counter() - started)


def issue_and_render(order_id: int) -> int:
    from oms_core.db import db, write_transaction
    from oms_core.services import documents
    from oms_core.services.common import lock_order

    with write_transaction():
        document_id = documents.issue_invoice(lock_order(order_id)).id
    documents.rendered(document_id)
    db.session.remove()
    return document_id


def bench_rendering(skus: list[str], invoices: int) -> tuple[float, float]:
    """Two rounds of: the real path on fresh orders, then bare WeasyPrint on exactly
    the HTML those invoices were rendered from. Averages of the two rounds."""
    import weasyprint

    from oms_core.documents import html
    from oms_core.services import documents

    warm = issue_and_render(confirmed_orders(skus, 1)[0])  # fonts, Babel's locale data, templates
    weasyprint.HTML(string=html(documents.get_document(warm).data)).write_pdf()
    real, bare = [], []
    for _round in range(2):
        order_ids = confirmed_orders(skus, invoices)
        issued: list[int] = []
        real.append(per_second(len(order_ids), lambda: issued.extend(issue_and_render(o) for o in order_ids)))
        markups = [html(documents.get_document(document_id).data) for document_id in issued]
        bare.append(per_second(len(markups), lambda: [weasyprint.HTML(string=m).write_pdf() for m in markups]))
    return sum(real) / len(real), sum(bare) / len(bare)


def bench_serving(app, skus: list[str], requests: int, static_dir: Path) -> tuple[float, float, int]:
    from oms_core.services import documents, users

    order_id = confirmed_orders(skus, 1)[0]
    document_id = issue_and_render(order_id)
    pdf = documents.pdf_bytes(document_id)
    (static_dir / "same-size.pdf").write_bytes(pdf)
    users.create_user(email="bench@example.com", name="Bench", password="bench-password", role="staff")
    client = app.test_client()
    assert client.post("/oms/admin/login", data={"email": "bench@example.com",
                                                 "password": "bench-password"}).status_code == 302
    stored_url = f"/oms/admin/orders/{order_id}/documents/{document_id}"
    for url in (stored_url, "/bench-static/same-size.pdf"):
        response = client.get(url)
        assert response.status_code == 200 and response.data == pdf, (url, response.status_code)

    def hit(url):
        def run():
            for _ in range(requests):
                client.get(url).close()
        return run

    static_before = per_second(requests, hit("/bench-static/same-size.pdf"))
    stored = per_second(requests, hit(stored_url))
    static_after = per_second(requests, hit("/bench-static/same-size.pdf"))
    return stored, (static_before + static_after) / 2, len(pdf)


def verdict(ratio: float, goal: float) -> str:
    return "PASS" if ratio >= goal else "MISS"


def run(backend: str, url: str, args) -> bool:
    with tempfile.TemporaryDirectory() as static_dir:
        app = make_bench_app(url, static_dir)
        with app.app_context():
            skus = bench_products()
            real, bare = bench_rendering(skus, args.invoices)
            ratio = real / bare
            print(f"[{backend}] rendering: issue_invoice + render + store {real:.1f}/s, "
                  f"bare WeasyPrint {bare:.1f}/s, ratio {ratio:.2f} (goal >= {RENDER_GOAL:.2f}) "
                  f"{verdict(ratio, RENDER_GOAL)}")
            stored, static, size = bench_serving(app, skus, args.requests, Path(static_dir))
            serve_ratio = stored / static
            print(f"[{backend}] serving a {size:,}-byte PDF: stored document {stored:.0f} req/s, "
                  f"static file {static:.0f} req/s, ratio {serve_ratio:.2f} (goal >= {SERVE_GOAL:.2f}) "
                  f"{verdict(serve_ratio, SERVE_GOAL)}")
        from oms_core.testing import dispose

        dispose(app)
    return ratio >= RENDER_GOAL and serve_ratio >= SERVE_GOAL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=40)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--postgres-url", default="")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    results = []
    if not args.skip_sqlite:
        with temporary_sqlite() as url:
            results.append(run("sqlite", url, args))
    if args.postgres_url:
        with temporary_postgres(args.postgres_url) as url:
            results.append(run("postgres", url, args))
    raise SystemExit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
