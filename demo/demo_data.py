"""Demo data: a small tea and coffee shop with about two years of history.

`generate(seed=...)` fills an empty OMS database with a few dozen products and a
few thousand orders whose volume follows a weekly pattern (Sunday evening and
Monday busiest, Saturday quietest), a yearly season (a winter and gift peak, a
summer dip, with summer and winter products of their own) and slow growth.

Each order lives through the real order loop in simulated time: placed ->
confirmed (stock reserved) -> paid -> fulfilling -> shipped -> delivered -> closed,
with cash on delivery paid at the door, unpaid bank transfers cancelled after two
weeks and a few cancellations; the status is wherever "now" finds it, so recent
orders are still open. Stock is simulated event by event with reorders from the
supplier, and every change is a ledger row, so the ledger invariant holds
(`stock.ledger_mismatches() == []`).

Everything is drawn from one `random.Random(seed)`, so the same seed and the same
`now` give the same shop, except tracking codes: those always come from `secrets`
(docs/architecture.md, invariant 5), demo or not. The rows go in with bulk INSERTs
in one transaction, written with the services' own words, keys and formats.
"""
from __future__ import annotations

import heapq
import math
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, insert, select, text

from oms_core import order_states as S
from oms_core import runtime, tracking_codes
from oms_core.db import db, write_transaction
from oms_core.errors import ValidationError
from oms_core.models import (
    Customer,
    Order,
    OrderLine,
    Payment,
    Product,
    Shipment,
    ShipmentEvent,
    StockMove,
    TimelineEvent,
    order_number,
)
from oms_core.protocols import CAPTURED, PaymentRequest, TrackingUpdate
from oms_core.services import shipments, stock, timeline

from .pricing import shipping_for

DEFAULT_SEED = 2024
STAFF = ("staff:owner@demo.shop", "staff:sam@demo.shop")
STOREFRONT = "storefront"

# sku, name, price in cents, popularity, season (+ winter, - summer), low-stock threshold
CATALOGUE = [
    ("TEA-EARL", "Earl Grey Supreme, loose leaf 100 g", 850, 9, 0.2, 5),
    ("TEA-SENCHA", "Japanese Sencha, 100 g", 1190, 5, 0.0, 4),
    ("TEA-ASSAM", "Assam Breakfast, 250 g", 975, 7, 0.2, 5),
    ("TEA-CHAI", "Masala Chai blend, 100 g", 790, 6, 0.6, 4),
    ("TEA-ROOIBOS", "Rooibos Vanilla, 100 g", 695, 5, 0.1, 4),
    ("TEA-MINT", "Moroccan Mint, 100 g", 750, 4, -0.5, 3),
    ("TEA-ICED", "Iced Tea Peach blend, 150 g", 890, 3, -0.9, 3),
    ("TEA-MATCHA", "Ceremonial Matcha, 30 g", 2400, 3, 0.0, 3),
    ("TEA-WINTER", "Winter Spice blend, 100 g", 850, 3, 1.0, 3),
    ("COF-HOUSE", "House Espresso beans, 500 g", 1450, 12, 0.1, 8),
    ("COF-ETHIOPIA", "Ethiopia Yirgacheffe beans, 250 g", 1290, 6, 0.0, 4),
    ("COF-COLOMBIA", "Colombia Huila beans, 250 g", 1150, 6, 0.0, 4),
    ("COF-DECAF", "Swiss Water Decaf beans, 250 g", 1190, 3, 0.0, 3),
    ("COF-COLDBREW", "Cold Brew coarse grind, 500 g", 1350, 3, -0.8, 3),
    ("CHOC-HOT", "Hot chocolate flakes 70%, 300 g", 995, 4, 0.9, 4),
    ("GEAR-DRIPPER", "Pour-over dripper, ceramic", 2400, 2, 0.2, 2),
    ("GEAR-FILTERS", "Paper filters, pack of 100", 550, 8, 0.0, 6),
    ("GEAR-PRESS", "French press, 1 l", 3490, 2, 0.3, 2),
    ("GEAR-MOKA", "Stovetop moka pot, 6 cups", 3900, 2, 0.3, 2),
    ("GEAR-GRINDER", "Hand grinder with ceramic burrs", 6900, 1, 0.5, 2),
    ("GEAR-SCALE", "Brew scale with timer", 2990, 1, 0.3, 2),
    ("GEAR-KETTLE", "Gooseneck kettle, 1 l", 5900, 1, 0.4, 2),
    ("GEAR-COLDBREW", "Cold brew bottle, 1 l", 2750, 1, -0.9, 2),
    ("GEAR-INFUSER", "Stainless steel tea infuser", 650, 4, 0.1, 3),
    ("GEAR-TEAPOT", "Cast iron teapot, 0.8 l", 4900, 1, 0.6, 2),
    ("MUG-STONEWARE", "Stoneware mug, sea green", 1400, 4, 0.4, 3),
    ("MUG-GLASS", "Double-walled glasses, set of 2", 1990, 3, 0.2, 3),
    ("MUG-TRAVEL", "Insulated travel mug, 350 ml", 2490, 3, 0.0, 3),
    ("CUP-ESPRESSO", "Espresso cups, set of 4", 2200, 2, 0.4, 2),
    ("TIN-CADDY", "Airtight tea caddy", 1250, 3, 0.3, 3),
    ("GIFT-TEA", "Tea discovery gift box", 3400, 2, 1.0, 3),
    ("GIFT-COFFEE", "Coffee lover's gift set", 4500, 2, 1.0, 3),
    ("SNACK-BISCOTTI", "Almond biscotti, 200 g", 590, 5, 0.1, 4),
    ("SNACK-SHORTBREAD", "Butter shortbread tin", 890, 3, 0.8, 3),
    ("SNACK-HONEY", "Wildflower honey, 450 g", 950, 3, 0.3, 3),
    ("SNACK-STROOPWAFEL", "Stroopwafels, pack of 8", 450, 6, 0.2, 5),
]
DESCRIPTIONS = {
    "TEA": "Packed by hand in resealable bags.", "COF": "Roasted weekly in small batches.",
    "CHOC": "Melts in hot milk in a minute.", "GEAR": "Brewing gear we use ourselves.",
    "MUG": "Dishwasher safe.", "CUP": "Dishwasher safe.", "TIN": "Keeps 100 g of tea fresh.",
    "GIFT": "Wrapped, with a card for your message.", "SNACK": "Goes with every cup.",
}

# Monday .. Sunday: busiest on Sunday evening and Monday, quietest on Saturday.
WEEKDAY_FACTORS = (1.18, 1.06, 1.0, 0.97, 0.88, 0.7, 1.21)

FIRST_NAMES = [
    "Anna", "Sanne", "Emma", "Julia", "Lotte", "Sophie", "Eva", "Lisa", "Fleur", "Noor", "Marie",
    "Laura", "Chloé", "Léa", "Hanna", "Mila", "Ingrid", "Fatima", "Yasmin", "Olga", "Daan", "Sem",
    "Lucas", "Thomas", "Jesse", "Bram", "Ruben", "Tim", "Lars", "Mehmet", "Jonas", "Lukas",
    "Felix", "Pieter", "Maarten", "Jürgen", "Hugo", "Louis", "Omar", "Milan", "Kees", "Wouter",
]
LAST_NAMES = [
    "de Vries", "Jansen", "van den Berg", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder",
    "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit",
    "Dijkstra", "Smits", "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Dubois", "Lambert",
    "Peeters", "Maes", "Claes", "Janssens", "Yılmaz", "El Amrani", "Novak", "Kowalski", "Andersen",
]
STREETS = [
    "Kerkstraat", "Molenweg", "Dorpsstraat", "Schoolstraat", "Stationsweg", "Julianalaan",
    "Beatrixstraat", "Lindenlaan", "Prinsengracht", "Nieuwstraat", "Hoofdstraat", "Eikenlaan",
]
CITIES = [
    ("NL", "Amsterdam", "10"), ("NL", "Utrecht", "35"), ("NL", "Rotterdam", "30"),
    ("NL", "Groningen", "97"), ("NL", "Haarlem", "20"), ("NL", "Eindhoven", "56"),
    ("NL", "Leiden", "23"), ("NL", "Nijmegen", "65"), ("BE", "Gent", "90"), ("BE", "Antwerpen", "20"),
    ("DE", "Köln", "50"), ("DE", "Düsseldorf", "40"),
]
CARRIERS = {  # name -> (share, tracking number maker)
    "PostNL": (0.45, lambda r: "3S" + "".join(r.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(4))
               + "".join(r.choice("0123456789") for _ in range(9))),
    "DHL": (0.3, lambda r: "JVGL" + "".join(r.choice("0123456789") for _ in range(14))),
    "DPD": (0.15, lambda r: "0" + "".join(r.choice("0123456789") for _ in range(13))),
    "UPS": (0.1, lambda r: "1Z" + "".join(r.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(16))),
}
HUBS = ["Sorting centre Nieuwegein", "Hub Venlo", "Depot Amsterdam-West", "Hub Utrecht",
        "Depot Rotterdam-Zuid", "Hub Eindhoven"]
NOTES = ["Customer asked for gift wrapping.", "Called to check delivery date.",
         "Leave with the neighbours if nobody is home.", "Repeat customer, add a sample."]


@dataclass
class Summary:
    products: int
    customers: int
    orders: int
    statuses: dict[str, int]


@dataclass
class _Order:
    """One order of the simulation, with the times of the steps it will take."""

    index: int
    placed_at: datetime
    customer: int
    channel: str
    method: str
    lines: list[tuple[int, int]]  # (product index, quantity)
    steps: list[tuple[str, datetime]] = field(default_factory=list)  # what happens, when
    status: str = S.PLACED
    dropped: bool = False  # out of stock at confirmation: never happened
    reached: dict[str, datetime] = field(default_factory=dict)


def _yearly(moment: datetime) -> float:
    """+1 around Christmas, -1 in midsummer."""
    return math.cos(2 * math.pi * (moment.timetuple().tm_yday - 356) / 365.25)


def _gift_rush(moment: datetime) -> float:
    """Extra orders from late November to Christmas."""
    if moment.month == 11 and moment.day >= 20:
        return 0.4
    if moment.month == 12 and moment.day <= 21:
        return 0.7
    return 0.0


def _poisson(rng: random.Random, lam: float) -> int:
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


class _Shop:
    """The simulation: draws customers and orders, then replays them in time order."""

    def __init__(self, rng: random.Random, now: datetime, days: int, daily_orders: float):
        self.rng, self.now, self.days, self.daily = rng, now, days, daily_orders
        self.start = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
        self.customers: list[dict] = []
        self.orders: list[_Order] = []
        self.moves: list[dict] = []
        self.on_hand = [0] * len(CATALOGUE)
        self.reserved = [0] * len(CATALOGUE)
        self.reorder_due: list[datetime | None] = [None] * len(CATALOGUE)

    # ------------------------------------------------------------ customers

    def _new_customer(self, at: datetime) -> int:
        r = self.rng
        first, last = r.choice(FIRST_NAMES), r.choice(LAST_NAMES)
        country, city, postal_prefix = r.choice(CITIES)
        n = len(self.customers) + 1
        postal = (f"{postal_prefix}{r.randint(10, 99)} {r.choice('ABCDEFGHJKLMNPRSTVWXZ')}"
                  f"{r.choice('ABCDEFGHJKLMNPRSTVWXZ')}" if country == "NL"
                  else f"{postal_prefix}{r.randint(10, 99)}"
                  + ("" if country == "BE" else f"{r.randint(0, 9)}"))
        self.customers.append({
            "name": f"{first} {last}",
            "email": f"{_ascii(first)}.{_ascii(last)}.{n}@example.{r.choice(['com', 'org', 'net'])}",
            "phone": f"+31 6 {r.randint(1000, 9999)} {r.randint(1000, 9999)}" if country == "NL"
            else f"+{32 if country == 'BE' else 49} {r.randint(100, 999)} {r.randint(100000, 999999)}",
            "line1": f"{r.choice(STREETS)} {r.randint(1, 180)}",
            "postal_code": postal, "city": city, "country": country,
            "created_at": at,
        })
        return n - 1

    def _customer_for(self, at: datetime) -> int:
        # About a third of orders come from returning customers, the loyal ones more often.
        if self.customers and self.rng.random() < 0.35:
            return int(len(self.customers) * (self.rng.random() ** 2.2))
        return self._new_customer(at)

    # ------------------------------------------------------------ orders

    def _product_weights(self, at: datetime) -> list[float]:
        season = _yearly(at)
        gifts = _gift_rush(at)
        weights = []
        for sku, _name, _price, popularity, seasonality, _low in CATALOGUE:
            w = popularity * max(0.05, 1 + 0.8 * seasonality * season)
            if sku.startswith("GIFT") or seasonality >= 0.8:
                w *= 1 + 3 * gifts
            weights.append(w)
        return weights

    def draw_orders(self) -> None:
        r = self.rng
        for day in range(self.days + 1):
            midnight = self.start + timedelta(days=day)
            trend = 1 + 0.35 * day / self.days
            expected = (self.daily * trend * WEEKDAY_FACTORS[midnight.weekday()]
                        * (1 + 0.3 * _yearly(midnight) + _gift_rush(midnight)))
            times = sorted(midnight + timedelta(minutes=self._minute_of_day(midnight))
                           for _ in range(_poisson(r, expected)))
            weights = self._product_weights(midnight)
            for placed_at in times:
                if placed_at >= self.now:
                    continue
                count = r.choices((1, 2, 3, 4), weights=(55, 28, 12, 5))[0]
                chosen: list[int] = []
                while len(chosen) < count:
                    p = r.choices(range(len(CATALOGUE)), weights=weights)[0]
                    if p not in chosen:
                        chosen.append(p)
                lines = [(p, r.choices((1, 2, 3), weights=(78, 17, 5))[0]) for p in sorted(chosen)]
                order = _Order(index=len(self.orders), placed_at=placed_at,
                               customer=self._customer_for(placed_at),
                               channel="phone" if r.random() < 0.1 else "web",
                               method="cash_on_delivery" if r.random() < 0.22 else "bank_transfer",
                               lines=lines)
                self._plan(order)
                self.orders.append(order)

    def _minute_of_day(self, midnight: datetime) -> int:
        # Few orders at night; a lunch bump and a bigger evening peak (later on Sundays).
        evening = 21 if midnight.weekday() == 6 else 20
        hour = self.rng.choices(range(24), weights=[
            1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 4, 4, 4, 5, 5, 4, 4, 4, 5, 6, 7,
            8 if evening == 20 else 7, 7 if evening == 20 else 9, 5, 2])[0]
        return hour * 60 + self.rng.randint(0, 59)

    def _plan(self, order: _Order) -> None:
        """Times of the steps this order will take if nothing stops it."""
        r, t = self.rng, order.placed_at
        hours = lambda lo, hi: timedelta(hours=r.uniform(lo, hi))  # noqa: E731
        steps = order.steps
        # Web orders are confirmed at checkout; staff confirm phone orders once they
        # have called back, which can take a few days.
        t = t + (timedelta(hours=r.uniform(2, 96)) if order.channel == "phone"
                 else timedelta(seconds=r.uniform(1, 5)))
        steps.append(("confirm", t))
        if r.random() < 0.025:  # the customer changes their mind
            steps.append(("cancel_customer", t + hours(1, 30)))
            return
        if order.method == "bank_transfer":
            if r.random() < 0.04:  # never paid
                steps.append(("cancel_unpaid", t + timedelta(days=14, hours=r.uniform(8, 11))))
                return
            t += timedelta(hours=min(r.lognormvariate(math.log(16), 0.9), 24 * 9))
            steps.append(("pay", t))
        t += hours(2, 30)
        steps.append(("ship", t))
        t += hours(10, 22)
        steps.append(("in_transit", t))
        # Couriers deliver in the daytime (08:00-18:00 UTC), on the next day or a bit later.
        day = t.replace(hour=0, minute=0, second=0, microsecond=0)
        t = day + timedelta(days=r.choices((1, 2, 3), weights=(70, 22, 8))[0], hours=r.uniform(8, 18))
        steps.append(("deliver", t))
        if r.random() < 0.97:
            steps.append(("close", t + timedelta(days=14, hours=r.uniform(0, 48))))

    # ------------------------------------------------------------ replay

    def replay(self) -> None:
        """Run every step in time order: stock is reserved, released and shipped
        as it happens, and the supplier restocks what runs low."""
        for p in range(len(CATALOGUE)):
            self._move(p, self.start - timedelta(days=1), on_hand=self._batch(p), reason=stock.INITIAL,
                       actor=STAFF[0])
        queue: list[tuple[datetime, int, int, str]] = []
        for order in self.orders:
            for n, (what, at) in enumerate(order.steps):
                heapq.heappush(queue, (at, order.index, n, what))
        receipts: list[tuple[datetime, int, int]] = []
        while queue:
            at, index, _n, what = heapq.heappop(queue)
            while receipts and receipts[0][0] <= at:
                self._receive(*heapq.heappop(receipts))
            if at > self.now:
                continue  # not yet: the order waits in its current state
            order = self.orders[index]
            if order.dropped or order.status in (S.CANCELLED,):
                continue
            self._step(order, what, at, receipts)
        while receipts and receipts[0][0] <= self.now:
            self._receive(*heapq.heappop(receipts))

    def _batch(self, p: int) -> int:
        return CATALOGUE[p][3] * self.rng.randint(5, 9) + self.rng.randint(5, 15)

    def _receive(self, at: datetime, p: int, quantity: int) -> None:
        self.reorder_due[p] = None
        self._move(p, at, on_hand=quantity, reason=stock.RECEIPT, actor=STAFF[1],
                   note=f"Supplier delivery {at:%Y-%m-%d}")

    def _move(self, p: int, at: datetime, *, on_hand=0, reserved=0, reason, actor, note="", order=None):
        self.on_hand[p] += on_hand
        self.reserved[p] += reserved
        assert 0 <= self.reserved[p] <= self.on_hand[p], CATALOGUE[p][0]
        self.moves.append({"product": p, "on_hand_delta": on_hand, "reserved_delta": reserved,
                           "reason": reason, "note": note, "actor": actor, "order": order,
                           "created_at": at})

    def _step(self, order: _Order, what: str, at: datetime, receipts) -> None:
        if what == "confirm":
            if any(self.on_hand[p] - self.reserved[p] < q for p, q in order.lines):
                order.dropped = True  # sold out at checkout: the shop never saw this order
                return
            for p, q in order.lines:
                self._move(p, at, reserved=q, reason=stock.RESERVATION, actor=self._actor(order, at),
                           order=order.index)
                self._maybe_reorder(p, at, receipts)
            order.status = S.CONFIRMED
        elif what in ("cancel_customer", "cancel_unpaid"):
            for p, q in order.lines:
                self._move(p, at, reserved=-q, reason=stock.RELEASE, actor=STAFF[0], order=order.index)
            order.status = S.CANCELLED
        elif what == "pay":
            order.status = S.PAID
        elif what == "ship":
            for p, q in order.lines:
                self._move(p, at, on_hand=-q, reserved=-q, reason=stock.SHIPMENT, actor=STAFF[1],
                           order=order.index)
            order.status = S.SHIPPED
        elif what == "deliver":
            order.status = S.DELIVERED
        elif what == "close":
            order.status = S.CLOSED
        order.reached[what] = at

    def _actor(self, order: _Order, at: datetime) -> str:
        return STOREFRONT if order.channel == "web" else STAFF[at.day % 2]

    def _maybe_reorder(self, p: int, at: datetime, receipts) -> None:
        reorder_point = CATALOGUE[p][5] * 3
        if self.on_hand[p] - self.reserved[p] <= reorder_point and self.reorder_due[p] is None:
            due = at + timedelta(days=self.rng.randint(2, 6), hours=self.rng.uniform(0, 8))
            self.reorder_due[p] = due
            heapq.heappush(receipts, (due, p, self._batch(p)))

    def stocktake(self) -> None:
        """Leave a few products low or sold out, so the badges show every state."""
        for sku, target in (("GEAR-GRINDER", 0), ("TEA-MATCHA", 0), ("GEAR-KETTLE", 1),
                            ("GIFT-COFFEE", 2), ("TEA-SENCHA", 3)):
            p = next(i for i, row in enumerate(CATALOGUE) if row[0] == sku)
            delta = target - (self.on_hand[p] - self.reserved[p])
            if delta:
                self._move(p, self.now - timedelta(hours=self.rng.uniform(2, 20)), on_hand=delta,
                           reason=stock.ADJUSTMENT, actor=STAFF[0],
                           note="Stocktake: damaged in storage" if delta < 0 else "Stocktake: found")


# ---------------------------------------------------------------- writing


def _timeline_and_money(shop: _Shop, order: _Order, order_id: int, total: int, carrier_plugin) -> tuple:
    """Timeline rows, payments, shipment and its events of one order, in the words,
    kinds and keys the services write (a test compares them with a real order's)."""
    r = shop.rng
    events, payment_rows, shipment = [], [], None
    status = S.PLACED

    def event(kind, at, actor, message="", *, public=False, to=None):
        nonlocal status
        changed = kind == timeline.STATUS_CHANGED
        events.append({"order_id": order_id, "kind": kind, "message": message, "actor": actor,
                       "public": public, "from_status": status if changed and to != S.PLACED else None,
                       "to_status": to, "created_at": at})
        status = to if changed else status
        return events[-1]

    def status_event(to, at, actor, reason):
        event(timeline.STATUS_CHANGED, at, actor, reason, public=True, to=to)

    def payment(method, at, reference):
        payment_rows.append(_payment_row(order_id, method, total, reference, at))
        event(timeline.PAYMENT_RECORDED, at, STAFF[0],
              timeline.payment_message(total, "EUR", method, reference))

    status_event(S.PLACED, order.placed_at, shop._actor(order, order.placed_at),
                 timeline.placed_reason(order.channel))
    reached = order.reached
    if "confirm" in reached:
        status_event(S.CONFIRMED, reached["confirm"], shop._actor(order, reached["confirm"]),
                     timeline.STOCK_RESERVED)
    if r.random() < 0.03:
        event(timeline.NOTE, order.placed_at + timedelta(hours=r.uniform(0.2, 3)), STAFF[1], r.choice(NOTES))
    for reason in ("cancel_customer", "cancel_unpaid"):
        if reason in reached:
            status_event(S.CANCELLED, reached[reason], STAFF[0],
                         "Customer cancelled by email." if reason == "cancel_customer"
                         else "Not paid within 14 days.")
    if "pay" in reached:
        payment(order.method, reached["pay"], order_number(order_id))  # the reference customers are asked for
        status_event(S.PAID, reached["pay"], STAFF[0], timeline.PAID_IN_FULL)
    if "ship" in reached:
        at = reached["ship"]
        carrier = r.choices(list(CARRIERS), weights=[c[0] for c in CARRIERS.values()])[0]
        number = CARRIERS[carrier][1](r)
        shipment = {"order_id": order_id, "carrier_id": carrier_plugin.id, "carrier_name": carrier,
                    "service": carrier, "tracking_number": number,
                    "tracking_url": carrier_plugin.tracking_url(number, carrier),
                    "external_id": None, "status": "pre_transit", "booking_error": "",
                    "created_at": at, "updated_at": at, "events": []}
        status_event(S.FULFILLING, at - timedelta(minutes=r.uniform(1, 5)), STAFF[1],
                     timeline.FULFILMENT_STARTED)
        # Its message names the shipment's id, known once the shipment is written.
        shipment["timeline_event"] = event(timeline.SHIPMENT_CREATED, at, STAFF[1])
        status_event(S.SHIPPED, at, STAFF[1], timeline.handed_to(carrier))
        for step, status_code, raw in (("in_transit", "in_transit", "TRN"), ("deliver", "delivered", "DLV")):
            if step not in reached:
                continue
            label = shipments.STATUS_LABELS[status_code]
            where = r.choice(HUBS) if step == "in_transit" else shop.customers[order.customer]["city"]
            update = TrackingUpdate(tracking_number=number, status=status_code, occurred_at=reached[step],
                                    raw_code=raw, message=label, location=where)
            shipment["events"].append({"status": update.status, "raw_code": update.raw_code,
                                       "message": update.message, "location": update.location,
                                       "occurred_at": update.occurred_at, "source": STAFF[1],
                                       "dedupe_key": shipments.event_dedupe_key(update),
                                       "created_at": update.occurred_at})
            shipment["status"] = status_code
            shipment["updated_at"] = update.occurred_at
            event(timeline.TRACKING_UPDATE, update.occurred_at, STAFF[1],
                  timeline.tracking_message(label, where), public=True)
        if "deliver" in reached:
            status_event(S.DELIVERED, reached["deliver"], STAFF[1], timeline.CARRIER_DELIVERED)
            if runtime.registry().gateway(order.method).pays_on_delivery:  # booked the next hour
                payment(order.method, reached["deliver"] + timedelta(hours=1), "")
    if "close" in reached:
        status_event(S.CLOSED, reached["close"], STAFF[0], timeline.ORDER_COMPLETED)
    return events, payment_rows, shipment


def _payment_row(order_id: int, method: str, amount: int, reference: str, at: datetime) -> dict:
    """A payment staff recorded, with the external id its payment method gives it."""
    verified = runtime.registry().gateway(method).verify_payment(PaymentRequest(
        order_id=order_id, order_number=order_number(order_id), amount_minor=amount, currency="EUR",
        order_currency="EUR", balance_minor=amount, reference=reference))
    return {"order_id": order_id, "gateway_id": method, "amount_minor": amount, "currency": "EUR",
            "reference": reference, "status": "recorded", "flag_reason": "",
            "external_id": verified.external_id, "state": CAPTURED, "actor": STAFF[0], "created_at": at,
            "updated_at": at}


def _insert_returning_ids(model, rows: list[dict]) -> list[int]:
    if not rows:
        return []
    result = db.session.execute(insert(model).returning(model.id, sort_by_parameter_order=True)
                                .execution_options(render_nulls=True), rows)
    return list(result.scalars())


def _insert(model, rows: list[dict]) -> None:
    # render_nulls: rows with and without NULLs go in one batch, not one by one.
    if rows:
        db.session.execute(insert(model).execution_options(render_nulls=True), rows)


def is_empty() -> bool:
    return not db.session.scalar(select(func.count()).select_from(Product)) and \
        not db.session.scalar(select(func.count()).select_from(Order))


def generate(seed: int = DEFAULT_SEED, *, now: datetime | None = None, days: int = 730,
             daily_orders: float = 5.0) -> Summary:
    """Fill an empty shop. Same `seed` and `now` -> same data (tracking codes aside)."""
    if not is_empty():
        raise ValidationError("The shop has products or orders already; demo data goes into an empty one.")
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    shop = _Shop(random.Random(seed), now, days, daily_orders)
    shop.draw_orders()
    shop.replay()
    shop.stocktake()
    kept = [o for o in shop.orders if not o.dropped]
    carrier = runtime.registry().carrier("manual")  # staff typed the tracking numbers
    product_created = shop.start - timedelta(days=2)

    with write_transaction():
        product_ids = _insert_returning_ids(Product, [
            {"sku": sku, "name": name, "description": DESCRIPTIONS[sku.split("-")[0]], "price_minor": price,
             "currency": "EUR", "on_hand": shop.on_hand[p], "reserved": shop.reserved[p],
             "low_stock_threshold": low, "active": True, "created_at": product_created,
             "weight_grams": 150 + 90 * (p % 9)}
            for p, (sku, name, price, _pop, _season, low) in enumerate(CATALOGUE)])
        used = sorted({o.customer for o in kept})
        customer_ids = dict(zip(used, _insert_returning_ids(Customer, [
            {k: shop.customers[c][k] for k in ("email", "name", "phone", "created_at")} for c in used])))

        order_rows = []
        for order in kept:
            customer = shop.customers[order.customer]
            subtotal = sum(CATALOGUE[p][2] * q for p, q in order.lines)
            shipping = shipping_for(subtotal)
            gateway = runtime.registry().gateway(order.method)
            # Tracking updates before delivery change the shipment, not the order.
            status_changed = max([order.placed_at, *(at for step, at in order.reached.items()
                                                     if step != "in_transit")])
            paid_at_door = gateway.pays_on_delivery and "deliver" in order.reached
            paid = "pay" in order.reached or paid_at_door
            order_rows.append({
                "status": order.status, "customer_id": customer_ids[order.customer], "channel": order.channel,
                "currency": "EUR", "subtotal_minor": subtotal, "shipping_minor": shipping,
                "total_minor": subtotal + shipping, "paid_minor": subtotal + shipping if paid else 0,
                "payment_method": order.method, "payment_status": "paid" if paid else "unpaid",
                "pays_on_delivery": gateway.pays_on_delivery,
                "tracking_code": tracking_codes.generate() if "confirm" in order.reached else None,
                "customer_name": customer["name"], "customer_phone": customer["phone"],
                "ship_name": customer["name"], "ship_line1": customer["line1"], "ship_line2": "",
                "ship_postal_code": customer["postal_code"], "ship_city": customer["city"],
                "ship_country": customer["country"], "note": "", "created_at": order.placed_at,
                "status_changed_at": status_changed,
                "updated_at": status_changed + timedelta(hours=1) if paid_at_door else status_changed,
            })
        order_ids = _insert_returning_ids(Order, order_rows)
        id_of = {order.index: oid for order, oid in zip(kept, order_ids)}

        lines, events, payment_rows, shipment_rows = [], [], [], []
        for order, oid, row in zip(kept, order_ids, order_rows):
            lines.extend({"order_id": oid, "product_id": product_ids[p], "sku": CATALOGUE[p][0],
                          "name": CATALOGUE[p][1], "unit_price_minor": CATALOGUE[p][2], "quantity": q}
                         for p, q in order.lines)
            e, pay, shipment = _timeline_and_money(shop, order, oid, row["total_minor"], carrier)
            events.extend(e)
            payment_rows.extend(pay)
            if shipment:
                shipment_rows.append(shipment)
        _insert(OrderLine, lines)
        _insert(Payment, payment_rows)
        shipment_ids = _insert_returning_ids(Shipment, [
            {k: v for k, v in s.items() if k not in ("events", "timeline_event")} for s in shipment_rows])
        _insert(ShipmentEvent, [dict(e, shipment_id=sid) for s, sid in zip(shipment_rows, shipment_ids)
                                for e in s["events"]])
        # One parcel per demo order, holding all of it.
        db.session.execute(text(
            "INSERT INTO oms_shipment_line (shipment_id, order_line_id, quantity) SELECT s.id, l.id, l.quantity "
            "FROM oms_shipment s JOIN oms_order_line l ON l.order_id = s.order_id"))
        for s, sid in zip(shipment_rows, shipment_ids):
            s["timeline_event"]["message"] = timeline.shipment_message(sid, s["carrier_name"], s["service"])
        _insert(TimelineEvent, sorted(events, key=lambda e: (e["created_at"], e["order_id"])))
        moves = [m for m in shop.moves if m["order"] is None or m["order"] in id_of]
        _insert(StockMove, [
            {"product_id": product_ids[m["product"]], "on_hand_delta": m["on_hand_delta"],
             "reserved_delta": m["reserved_delta"], "reason": m["reason"], "note": m["note"],
             "actor": m["actor"], "order_id": id_of.get(m["order"]) if m["order"] is not None else None,
             "created_at": m["created_at"]}
            for m in sorted(moves, key=lambda m: m["created_at"])])

    statuses: dict[str, int] = {}
    for order in kept:
        statuses[order.status] = statuses.get(order.status, 0) + 1
    return Summary(products=len(CATALOGUE), customers=len(used), orders=len(kept), statuses=statuses)
