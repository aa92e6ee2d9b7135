"""The README's Python API example runs as written, on both databases: what a shop
copies from it creates a product, receives stock and places a confirmed order."""
from __future__ import annotations

import re

from venv_fixtures import REPO


def python_api_example() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index("### The Python API"):].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_python_api_example_runs_as_written(app):
    names: dict = {}
    exec(compile(python_api_example(), "README.md", "exec"), names)
    order, product = names["order"], names["product"]
    assert order.status == "confirmed" and order.tracking_code
    assert (order.ship_city, order.ship_country, order.shipping_minor) == ("Utrecht", "NL", 495)
    assert order.total_minor == 2 * 1450 + 495
    from oms_core.services import catalog

    product = catalog.get_product(product.id)
    assert (product.on_hand, product.reserved) == (36, 2)
