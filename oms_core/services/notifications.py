"""Customer emails, queued in the outbox and sent over the shop's SMTP server.

The outbox row (written in the state change's transaction) says only which order
and which status the email is about; the worker renders it when it sends, so the
checkout does no template work and the outbox holds no copies of HTML. Its
Message-ID is the outbox idempotency key, so a resend is recognisable; the key is
made from the order's random tracking code, not its id, so it is unique across
installations and database resets (docs/architecture.md, invariant 7).

The core renders them with its own template loader (oms_core/email_templates/),
not Flask's, so a process that runs only the core (`flask oms worker`) sends mail
without the web package. HTML is autoescaped; plain text is shown as typed.
"""
from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr
from urllib.parse import urlsplit

from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from .. import i18n, runtime, shop, tracking_codes
from ..db import db
from ..models import Order
from ..i18n import N_
from . import assembly_calendar, customer_proof, documents, outbox, payment_ops, unpaid

EMAIL_KIND = "email.send"
SUBJECTS = {
    "confirmed": N_("Order {number} confirmed"),
    "paid": N_("Payment received for order {number}"),
    "shipped": N_("Order {number} is on its way"),
    "delivered": N_("Order {number} has been delivered"),
    "refunded": N_("Refund for order {number}"),
    # An edit made the order cost more (services.order_edits): the difference is asked for.
    "balance_due": N_("Order {number} changed: {amount} to pay"),
    # One parcel of an order (services.shipping_emails).
    "parcel_shipped": N_("A parcel of order {number} is on its way"),
    "parcel_out_for_delivery": N_("A parcel of order {number} is out for delivery"),
    "parcel_delivered": N_("A parcel of order {number} has been delivered"),
    "parcel_problem": N_("A problem delivering a parcel of order {number}"),
    # An assembly appointment (services.assembly), with its calendar file.
    "assembly_scheduled": N_("Your assembly appointment for order {number}"),
    "assembly_cancelled": N_("Assembly appointment for order {number} cancelled"),
    # One return of an order (services.returns), at each step.
    "return_requested": N_("We have your return request for order {number}"),
    "return_approved": N_("Your return for order {number} is approved"),
    "return_rejected": N_("About your return for order {number}"),
    "return_received": N_("We have received your return for order {number}"),
    "return_refunded": N_("Your return for order {number} is refunded"),
    "return_exchanged": N_("Your exchange for order {number} is on its way"),
    # Before the payment deadline (services.unpaid).
    "payment_reminder": N_("Reminder: order {number} is waiting for your payment"),
}
PDF = ("application", "pdf")


@lru_cache(maxsize=None)
def _environment(language: str) -> Environment:
    """The core's email templates in one shipped language: their own Jinja loader
    (there is no request, and no Flask-Babel, in the worker that renders them) with
    that language's catalog installed as gettext; one environment per language, so
    two emails in two languages never share a catalog."""
    env = Environment(loader=PackageLoader("oms_core", "email_templates"),
                      autoescape=select_autoescape(["html"], default_for_string=False),
                      undefined=StrictUndefined, keep_trailing_newline=True, extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(i18n.translations(language), newstyle=True)
    return env


def render(name: str, locale: str | None = None, **context) -> str:
    """One of the core's email templates (status.txt, status.html), filled in, in
    `locale`'s language (the shop's when None)."""
    language = i18n.language(locale or i18n.shop_locale())
    return _environment(language).get_template(name).render(lang=language, **context)


def subject(status: str, locale: str, **variables) -> str:
    """An email's subject in the customer's language."""
    return i18n.gettext(locale, SUBJECTS[status]).format(**variables)


def tracking_url(code: str) -> str:
    base = runtime.setting("PUBLIC_BASE_URL").rstrip("/")
    return f"{base}{runtime.setting('TRACKING_PREFIX')}?code={tracking_codes.display(code)}"


def pay_url(code: str) -> str:
    """Where the customer pays the balance online (web/public.py, pay now)."""
    base = runtime.setting("PUBLIC_BASE_URL").rstrip("/")
    return f"{base}{runtime.setting('TRACKING_PREFIX')}/pay?code={tracking_codes.display(code)}"


def status_email_key(order: Order, status: str) -> str:
    """One email per order and status. A digest of the tracking code: the code itself
    must not travel in a Message-ID that mail servers log."""
    digest = hashlib.sha256(f"email:{order.tracking_code}".encode()).hexdigest()[:24]
    return f"email-{digest}-{status}"


def queue_status_email(order: Order, status: str) -> None:
    """Queue the email telling the customer about `status` (caller's transaction)."""
    if status not in SUBJECTS or not order.tracking_code:
        return
    if order.id is None:
        db.session.flush()  # a new order gets its number here, with everything it holds
    # Once per status: an order reopened after a late payment is not confirmed twice by email.
    # Documents by id: the worker reads their stored bytes when it sends.
    payload = {"status": status, "documents": documents.attachments_for(order, status)}
    outbox.enqueue_once(EMAIL_KIND, payload, key=status_email_key(order, status), order_id=order.id)


def queue_new_order_email(order: Order, status: str, document_ids: list[int]) -> None:
    """`queue_status_email` for an order placed in this transaction, with the ids of
    the documents it carries: its key, from a code just drawn, cannot exist yet, so
    it is one INSERT with no lookup first (the checkout's hot path)."""
    outbox.enqueue_new(EMAIL_KIND, {"status": status, "documents": document_ids},
                       key=status_email_key(order, status), order_id=order.id)


def queue_refund_email(order: Order, refund) -> None:
    """Tell the customer a refund went through, with its credit note (caller's
    transaction); one email per refund, keyed by the refund's random key."""
    if not order.tracking_code:
        return
    outbox.enqueue_once(EMAIL_KIND, {"status": "refunded", "amount_minor": refund.amount_minor,
                                     "documents": documents.credit_note_for(refund.id)},
                        key=f"email-refund-{refund.idempotency_key}", order_id=order.id)


def queue_return_email(order: Order, ret, step: str) -> None:
    """Tell the customer a return reached `step` (caller's transaction); once per
    return and step, keyed by the return's random key."""
    if not order.tracking_code:
        return
    db.session.flush()
    outbox.enqueue_once(EMAIL_KIND, {"status": f"return_{step}", "return_id": ret.id},
                        key=f"email-return-{ret.key}-{step}", order_id=order.id)


def returns_url(order_id: int) -> str:
    """A signed link to the order's returns page (web/public_returns.py) that proves the order."""
    base = runtime.setting("PUBLIC_BASE_URL").rstrip("/")
    return (f"{base}{runtime.setting('TRACKING_PREFIX')}/documents/{order_id}/returns/link/"
            f"{customer_proof.link_token(order_id)}")


def _return_context(return_id) -> dict:
    """What a return's email shows: the return, where to follow it, the instructions."""
    if return_id is None:
        return {"return_request": None, "returns_url": "", "return_instructions": ""}
    from ..models import ReturnRequest

    ret = db.session.get(ReturnRequest, return_id)
    return {"return_request": ret, "returns_url": returns_url(ret.order_id),
            "return_instructions": runtime.setting("RETURN_INSTRUCTIONS")}


def documents_url(order_id: int) -> str:
    """A signed link to the order's documents that proves the order is theirs
    (services.customer_proof), for the customer's emails."""
    base = runtime.setting("PUBLIC_BASE_URL").rstrip("/")
    return f"{base}{runtime.setting('TRACKING_PREFIX')}/documents/link/{customer_proof.link_token(order_id)}"


def compose(message) -> dict:
    """The email an outbox message stands for: to, to_name, subject, text, html,
    message_id, attachments ((filename, bytes, (maintype, subtype), parameters): the
    PDFs of the documents it names, an appointment's calendar file)."""
    order = db.session.get(Order, message.order_id)
    status = message.payload["status"]
    locale = i18n.locale_of(order)
    attachments = [documents.download(order.id, document_id)
                   for document_id in message.payload.get("documents", ())]
    context = {
        "order": order, "status": status, "shop_name": runtime.setting("SHOP_NAME"),
        "tracking_code": tracking_codes.display(order.tracking_code),
        "tracking_url": tracking_url(order.tracking_code),
        "refund_amount": i18n.format_money(message.payload.get("amount_minor", 0), order.currency, locale),
        # The pay-now link while the balance can be paid online (read when the email is sent).
        "pay_url": pay_url(order.tracking_code)
        if status in ("confirmed", "balance_due", "payment_reminder") and payment_ops.can_start(order) else "",
        "bank": _bank_details() if status == "balance_due" else None,
        "order_total": i18n.format_money(order.total_minor, order.currency, locale),
        "payment_due": unpaid.due_text(order, locale),
        "documents_url": documents_url(order.id) if attachments else "",
        # The parcel an email is about, or every booked parcel for the order's "shipped".
        "parcels": _parcels(order, message.payload.get("shipment_id"), status),
        "appointment": assembly_calendar.describe(message.payload, locale),
        # Where the customer asks to move it (a signed link that proves the order).
        "assembly_url": documents_url(order.id) if status == "assembly_scheduled" else "",
        **_return_context(message.payload.get("return_id")),
    }
    template = "return" if status.startswith("return_") else "status"
    host = urlsplit(runtime.setting("PUBLIC_BASE_URL")).hostname or "oms"
    return {
        "to": order.customer.email,
        "to_name": order.customer_name,
        "subject": subject(status, locale, number=order.number, amount=context["refund_amount"]),
        "text": render(f"{template}.txt", locale, **context),
        "html": render(f"{template}.html", locale, **context),
        "message_id": f"<{message.idempotency_key}@{host}>",
        "attachments": [(document.filename, pdf, PDF, {}) for document, pdf in attachments]
        + assembly_calendar.email_attachments(message.payload),
    }


def _bank_details() -> dict:
    """Where a bank transfer goes (OMS_SHOP), for an amount asked without a pay-now link."""
    details = shop.details()
    return {"name": details.bank_name or details.legal_name, "iban": details.iban, "bic": details.bic}


def _parcels(order: Order, shipment_id, status: str) -> list:
    from ..models import Shipment

    if shipment_id is not None:
        return [db.session.get(Shipment, shipment_id)]
    if status != "shipped":
        return []
    return [s for s in db.session.query(Shipment).filter_by(order_id=order.id).order_by(Shipment.id)
            if s.tracking_number and s.status != "cancelled"]


def build_message(payload: dict) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((runtime.setting("SHOP_NAME"), runtime.setting("MAIL_SENDER")))
    # A name typed at checkout may hold line breaks, which no header may: keep the words.
    to_name = " ".join(payload.get("to_name", "").split())
    message["To"] = formataddr((to_name, payload["to"]))
    message["Subject"] = payload["subject"]
    message["Message-ID"] = payload["message_id"]
    message.set_content(payload["text"])
    message.add_alternative(payload["html"], subtype="html")
    for filename, data, (maintype, subtype), params in payload.get("attachments", ()):
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename, params=params)
    return message


@outbox.handler(EMAIL_KIND)
def _send_email(message) -> None:
    send(build_message(compose(message)))


def send(email: EmailMessage) -> None:
    """Hand one email to the shop's SMTP server (an outbox handler's work; staff
    alerts use it too), or raise outbox.SendError to be retried."""
    db.session.commit()  # end the read before talking to the mail server
    try:
        with smtplib.SMTP(runtime.setting("SMTP_HOST"), int(runtime.setting("SMTP_PORT")),
                          timeout=runtime.setting("SMTP_TIMEOUT")) as smtp:
            if runtime.setting("SMTP_STARTTLS"):
                smtp.starttls(context=ssl.create_default_context())
            if runtime.setting("SMTP_USERNAME"):
                smtp.login(runtime.setting("SMTP_USERNAME"), runtime.setting("SMTP_PASSWORD"))
            smtp.send_message(email)
    except (OSError, smtplib.SMTPException) as exc:
        raise outbox.SendError(f"SMTP: {exc}") from exc
