"""Returns and exchanges in the back-office: the list (by state, oldest first), a
return's page and its actions. Each action parses the form, calls one service
(oms_core/services/returns.py) and answers like the order page's actions: the
re-rendered return body for HTMX, a flash and a redirect for a plain post."""
from __future__ import annotations

from typing import Callable

from flask import make_response, render_template, request, url_for

from oms_core import return_states, runtime
from oms_core.errors import DomainError, ValidationError
from oms_core.services import returns

from ..pdf_response import attachment
from . import blueprint, forms
from .access import actor
from .responses import action_result, vary_on_htmx, wants_fragment

BODY = "oms/admin/returns/_body.html"


@blueprint.route("/returns")
def returns_list():
    state = request.args.get("state", "")
    state = state if state in return_states.STATES else ""
    try:
        after = forms.query_id(request.args, "after")
    except ValidationError:
        after = None
    limit = runtime.setting("PAGE_SIZE")
    rows = returns.listing(state=state or None, after=after, limit=limit)
    context = dict(rows=rows, state=state, states=return_states.STATES, labels=return_states.LABELS,
                   reasons=returns.reasons(),
                   next_after=rows[-1].id if len(rows) == limit else None)
    return vary_on_htmx(make_response(render_template("oms/admin/returns/list.html", **context)))


def return_context(return_id: int, values=None) -> dict:
    ret = returns.get(return_id)
    return dict(ret=ret, order=ret.order, actions=returns.staff_actions(ret), labels=return_states.LABELS,
                reasons=returns.reasons(), outcomes=return_states.OUTCOMES,
                conditions=return_states.CONDITIONS, values=values or {})


@blueprint.route("/returns/<int:return_id>")
def return_page(return_id: int):
    return render_template("oms/admin/returns/page.html", **return_context(return_id))


@blueprint.route("/returns/<int:return_id>/label")
def return_label(return_id: int):
    return attachment(*returns.label(return_id))


def _run(return_id: int, action: Callable[[], str]):
    """Run `action` (returns the success message); show its DomainError instead."""
    returns.get(return_id)  # a missing return is a 404, not a message
    try:
        message, error = action(), None
    except DomainError as exc:
        message, error = None, str(exc)
    context = return_context(return_id, request.form if error else None) if wants_fragment() else {}
    return action_result(fragment=BODY, context=context, message=message, error=error,
                         redirect_to=url_for("oms_admin.return_page", return_id=return_id))


@blueprint.route("/returns/<int:return_id>/approve", methods=["POST"])
def return_approve(return_id: int):
    def approve():
        returns.approve(return_id, note=forms.text(request.form, "note"), actor=actor())
        return f"Return #{return_id} approved."
    return _run(return_id, approve)


@blueprint.route("/returns/<int:return_id>/reject", methods=["POST"])
def return_reject(return_id: int):
    def reject():
        returns.reject(return_id, reason=forms.text(request.form, "reason"), actor=actor())
        return f"Return #{return_id} rejected."
    return _run(return_id, reject)


@blueprint.route("/returns/<int:return_id>/receive", methods=["POST"])
def return_receive(return_id: int):
    def receive():
        returns.receive(return_id, lines=forms.return_receipts(request.form), actor=actor())
        return f"Return #{return_id} received."
    return _run(return_id, receive)


@blueprint.route("/returns/<int:return_id>/refund", methods=["POST"])
def return_refund(return_id: int):
    def refund():
        returns.refund(return_id, reference=forms.text(request.form, "reference"), actor=actor())
        return f"Return #{return_id} refunded."
    return _run(return_id, refund)


@blueprint.route("/returns/<int:return_id>/exchange", methods=["POST"])
def return_exchange(return_id: int):
    def exchange():
        replacement = returns.exchange(return_id, lines=forms.exchange_lines(request.form), actor=actor())
        return f"Replacement order {replacement.number} created; ship it from its order page."
    return _run(return_id, exchange)


@blueprint.route("/returns/<int:return_id>/close", methods=["POST"])
def return_close(return_id: int):
    def close():
        returns.close(return_id, actor=actor())
        return f"Return #{return_id} closed."
    return _run(return_id, close)


@blueprint.route("/returns/<int:return_id>/note", methods=["POST"])
def return_note(return_id: int):
    def note():
        returns.add_note(return_id, request.form.get("note", ""), actor=actor())
        return "Note saved."
    return _run(return_id, note)
