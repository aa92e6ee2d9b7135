"""Reconciliation: what does not add up between the gateways and the OMS, and one
action per row (oms_core/services/reconciliation.py)."""
from __future__ import annotations

from flask import render_template, request, url_for

from oms_core.errors import DomainError
from oms_core.services import reconciliation

from . import blueprint, forms
from .access import actor
from .responses import action_result, wants_fragment

PANEL = "oms/admin/reconciliation/_rows.html"


def _context() -> dict:
    return {"rows": reconciliation.rows(), "kinds": reconciliation.KINDS, "actions": reconciliation.ACTIONS}


@blueprint.route("/reconciliation")
def reconciliation_page():
    return render_template("oms/admin/reconciliation/page.html", **_context())


@blueprint.route("/reconciliation/<kind>/<int:target_id>/<action>", methods=["POST"])
def reconciliation_act(kind: str, target_id: int, action: str):
    try:
        note, error = reconciliation.act(kind, action, target_id, actor=actor(),
                                         reference=forms.text(request.form, "reference")), None
    except DomainError as exc:
        note, error = None, str(exc)
    return action_result(fragment=PANEL, context=_context() if wants_fragment() else {},
                         redirect_to=url_for("oms_admin.reconciliation_page"), message=note, error=error)
