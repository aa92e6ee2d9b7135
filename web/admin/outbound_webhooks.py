"""Outbound webhooks (owner only): the endpoints the shop's other systems listen on,
each endpoint's deliveries with their attempts, re-sending one, and the signing
secret, revealed on request and never cached."""
from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for

from oms_core.errors import DomainError
from oms_core.services import outbound_webhooks as hooks

from . import blueprint, forms
from .access import actor, owner_required
from .responses import wants_fragment

LIST = "oms/admin/webhooks/list.html"
ENDPOINT = "oms/admin/webhooks/endpoint.html"


def _fields(form) -> dict:
    # At most one of each event: the service refuses anything else.
    return {"url": forms.text(form, "url"), "events": form.getlist("events")[:len(hooks.EVENTS) + 1],
            "description": forms.text(form, "description")}


def _endpoint_url(endpoint_id: int) -> str:
    return url_for("oms_admin.webhook_endpoint", endpoint_id=endpoint_id)


@blueprint.route("/webhooks")
@owner_required
def webhook_endpoints():
    return render_template(LIST, rows=hooks.endpoints(), events=hooks.EVENTS, values={})


@blueprint.route("/webhooks", methods=["POST"])
@owner_required
def webhook_endpoint_create():
    try:
        endpoint = hooks.create_endpoint(**_fields(request.form))
    except DomainError as exc:
        return render_template(LIST, rows=hooks.endpoints(), events=hooks.EVENTS, values=request.form,
                               error=str(exc)), 400
    flash("Endpoint added. Reveal its signing secret and give it to the receiver.", "info")
    return redirect(_endpoint_url(endpoint.id))


def _endpoint_page(endpoint_id: int, *, status: int = 200, **extra):
    page = hooks.deliveries(endpoint_id, before=forms.query_id(request.args, "before"))
    response = make_response(render_template(ENDPOINT, page=page, endpoint=page.endpoint, events=hooks.EVENTS,
                                             values=extra.pop("values", None), **extra), status)
    response.headers["Cache-Control"] = "private, no-store"  # it may show the secret
    return response


@blueprint.route("/webhooks/<int:endpoint_id>")
@owner_required
def webhook_endpoint(endpoint_id: int):
    return _endpoint_page(endpoint_id)


@blueprint.route("/webhooks/<int:endpoint_id>", methods=["POST"])
@owner_required
def webhook_endpoint_update(endpoint_id: int):
    try:
        hooks.update_endpoint(endpoint_id, active=forms.checkbox(request.form, "active"), **_fields(request.form))
    except DomainError as exc:
        hooks.get_endpoint(endpoint_id)  # a missing endpoint is a 404, not a message
        return _endpoint_page(endpoint_id, status=400, values=request.form, error=str(exc))
    flash("Endpoint saved.", "info")
    return redirect(_endpoint_url(endpoint_id))


@blueprint.route("/webhooks/<int:endpoint_id>/active", methods=["POST"])
@owner_required
def webhook_endpoint_active(endpoint_id: int):
    endpoint = hooks.set_active(endpoint_id, forms.checkbox(request.form, "active"))
    flash("Endpoint enabled." if endpoint.active else
          "Endpoint disabled: deliveries still waiting were cancelled.", "info")
    return redirect(_endpoint_url(endpoint_id))


@blueprint.route("/webhooks/<int:endpoint_id>/secret", methods=["POST"])
@owner_required
def webhook_endpoint_secret(endpoint_id: int):
    """A POST (with CSRF), so a link or a prefetch never shows it."""
    if wants_fragment():
        response = make_response(render_template("oms/admin/webhooks/_secret.html",
                                                 endpoint=hooks.get_endpoint(endpoint_id), revealed=True))
        response.headers["Cache-Control"] = "private, no-store"
        return response
    return _endpoint_page(endpoint_id, revealed=True)


@blueprint.route("/webhooks/<int:endpoint_id>/rotate", methods=["POST"])
@owner_required
def webhook_endpoint_rotate(endpoint_id: int):
    hooks.rotate_secret(endpoint_id)
    flash("New signing secret made: reveal it and give it to the receiver (the old one no longer signs).", "info")
    return redirect(_endpoint_url(endpoint_id))


@blueprint.route("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>")
@owner_required
def webhook_delivery(endpoint_id: int, delivery_id: int):
    return render_template("oms/admin/webhooks/delivery.html",
                           delivery=hooks.get_delivery(endpoint_id, delivery_id))


@blueprint.route("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/resend", methods=["POST"])
@owner_required
def webhook_delivery_resend(endpoint_id: int, delivery_id: int):
    try:
        delivery = hooks.resend(endpoint_id, delivery_id, actor=actor())
    except DomainError as exc:
        hooks.get_delivery(endpoint_id, delivery_id)  # missing: 404
        flash(str(exc), "error")
    else:
        flash(f"Delivery #{delivery.id} ({delivery.event_type}) queued to be sent again.", "info")
    return redirect(_endpoint_url(endpoint_id))
