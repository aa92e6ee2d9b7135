"""Anyone may type anyone's email at checkout: an order keeps the name and phone
typed for it, and a checkout never changes the stored customer, so staff pages and
emails show each order's own name."""
from __future__ import annotations

from sqlalchemy import select

from oms_core.db import db
from oms_core.models import Customer, OutboxMessage
from oms_core.services import notifications
from oms_web.storefront import place_checkout_order

ADMIN = "/oms/admin"
ADDRESS = {"line1": "1 Main St", "postal_code": "1000", "city": "Springfield", "country": "NL"}


def checkout(sku, name, phone=""):
    return place_checkout_order(email="ann@example.com", name=name, phone=phone, lines=[(sku, 1)],
                                payment_method="bank_transfer", address=ADDRESS)


def test_a_checkout_with_someone_elses_email_renames_no_one(app, staff_client, make_product):
    product = make_product(sku="MUG")
    ann = checkout(product.sku, "Ann Example", phone="+31 6 1111 1111")
    mallory = checkout(product.sku, "Mallory <b>", phone="+31 6 6666 6666")

    db.session.expire_all()
    customer = db.session.scalar(select(Customer))
    assert (customer.name, customer.phone) == ("Ann Example", "+31 6 1111 1111")
    assert mallory.customer_id == ann.customer_id

    ann_page = staff_client.get(f"{ADMIN}/orders/{ann.id}").get_data(as_text=True)
    assert "Ann Example" in ann_page and "+31 6 1111 1111" in ann_page
    assert "Mallory" not in ann_page and "6666" not in ann_page
    mallory_page = staff_client.get(f"{ADMIN}/orders/{mallory.id}").get_data(as_text=True)
    assert "Mallory &lt;b&gt;" in mallory_page and "+31 6 6666 6666" in mallory_page
    listing = staff_client.get(f"{ADMIN}/orders").get_data(as_text=True)
    assert listing.count("Ann Example") == 1 and listing.count("Mallory &lt;b&gt;") == 1

    # Each order's confirmation email greets the name typed for that order.
    emails = {m.order_id: notifications.compose(m) for m in db.session.scalars(select(OutboxMessage))}
    assert emails[ann.id]["to_name"] == "Ann Example" and "Hello Ann Example," in emails[ann.id]["text"]
    assert emails[mallory.id]["to_name"] == "Mallory <b>"
    assert "Hello Mallory &lt;b&gt;," in emails[mallory.id]["html"]
    assert emails[ann.id]["to"] == emails[mallory.id]["to"] == "ann@example.com"
