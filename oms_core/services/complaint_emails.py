"""Emails about complaints, through the outbox (docs/architecture.md, "Complaints
and uploads"): staff hear of each customer message (the assignee; else
OMS_SUPPORT_EMAIL if set; else every active staff user), the customer gets each
staff reply (never an internal note) with a signed link back to the thread.

The outbox row names the message and the recipient; the worker renders the email
when it sends it (complaint.txt / complaint.html, HTML autoescaped), so it reads
the thread as stored, the customer's in the order's language (Order.locale), the
staff's in English. Each row has a random key, its Message-ID.
"""
from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from sqlalchemy import select

from .. import i18n, runtime
from ..db import db
from ..i18n import N_
from ..models import Complaint, ComplaintMessage, StaffUser
from . import customer_proof, notifications, outbox

EMAIL_KIND = "email.complaint"
# The customer's subject (translated when composed, in the order's language).
CUSTOMER_SUBJECT = N_("Re: {subject} (order {number})")


def _queue(complaint: Complaint, message: ComplaintMessage, audience: str, to: str, to_name: str) -> None:
    outbox.enqueue(EMAIL_KIND, {"message_id": message.id, "audience": audience, "to": to, "to_name": to_name},
                   key=f"email-complaint-{uuid.uuid4().hex}", order_id=complaint.order_id)


def staff_recipients(complaint: Complaint) -> list[tuple[str, str]]:
    """(email, name) of whoever hears of a customer's message."""
    assignee = db.session.get(StaffUser, complaint.assignee_id) if complaint.assignee_id else None
    if assignee is not None and assignee.active:
        return [(assignee.email, assignee.name)]
    support = (runtime.setting("SUPPORT_EMAIL") or "").strip()
    if support:
        return [(support, "")]
    return [(u.email, u.name) for u in db.session.scalars(
        select(StaffUser).where(StaffUser.active.is_(True)).order_by(StaffUser.id))]


def customer_wrote(complaint: Complaint, message: ComplaintMessage) -> None:
    """Queue the staff's emails about a customer's message (caller's transaction)."""
    for email, name in staff_recipients(complaint):
        _queue(complaint, message, "staff", email, name)


def staff_replied(complaint: Complaint, message: ComplaintMessage) -> None:
    """Queue the customer's email with a staff reply (caller's transaction)."""
    order = complaint.order
    _queue(complaint, message, "customer", order.customer.email, order.customer_name)


def thread_link(complaint: Complaint) -> str:
    """A signed link that proves the order and opens the thread (customer_proof)."""
    base = runtime.setting("PUBLIC_BASE_URL").rstrip("/")
    token = customer_proof.link_token(complaint.order_id)
    return (f"{base}{runtime.setting('TRACKING_PREFIX')}/documents/{complaint.order_id}"
            f"/complaints/{complaint.id}/link/{token}")


def staff_link(complaint: Complaint) -> str:
    base = runtime.setting("PUBLIC_BASE_URL").rstrip("/")
    return f"{base}{runtime.setting('ADMIN_PREFIX')}/complaints/{complaint.id}"


def one_line(text: str) -> str:
    """Text typed by someone, made fit for a header (no line breaks)."""
    return " ".join((text or "").split())


def compose(outbox_message) -> dict:
    payload = outbox_message.payload
    message = db.session.get(ComplaintMessage, payload["message_id"])
    complaint = message.complaint
    order = complaint.order
    audience = payload["audience"]
    context = {"audience": audience, "complaint": complaint, "message": message, "order": order,
               "shop_name": runtime.setting("SHOP_NAME"),
               "link": thread_link(complaint) if audience == "customer" else staff_link(complaint)}
    if audience == "customer":  # in the order's language, like the customer's other emails
        locale = i18n.locale_of(order)
        subject = i18n.gettext(locale, CUSTOMER_SUBJECT).format(subject=one_line(complaint.subject),
                                                                 number=order.number)
    else:  # staff read English, as in every staff email
        locale = "en"
        subject = f"Complaint #{complaint.id} on order {order.number}: {one_line(complaint.subject)}"
    host = urlsplit(runtime.setting("PUBLIC_BASE_URL")).hostname or "oms"
    return {"to": payload["to"], "to_name": payload.get("to_name", ""), "subject": subject[:250],
            "text": notifications.render("complaint.txt", locale, **context),
            "html": notifications.render("complaint.html", locale, **context),
            "message_id": f"<{outbox_message.idempotency_key}@{host}>", "attachments": []}


@outbox.handler(EMAIL_KIND)
def _send(outbox_message) -> None:
    notifications.send(notifications.build_message(compose(outbox_message)))
