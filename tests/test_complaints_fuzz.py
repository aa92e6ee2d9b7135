"""Hypothesis fuzz of the complaint forms (public and back-office), with the walk
of tests/test_fuzz.py: a proven customer and a logged-in owner send nasty values
to every complaint endpoint; no 5xx, and a refused request changes nothing
(complaints, messages, uploads, outbox and timeline rows are watched too)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from oms_core import tracking_codes
from oms_core.db import db
from oms_core.models import Complaint, ComplaintMessage, Upload
from oms_core.services import complaints
import test_fuzz
from test_fuzz import fuzz_endpoint, oms_rules, recording

PUBLIC = ("oms_documents.complaint_new", "oms_documents.complaint_thread", "oms_documents.complaint_link",
          "oms_documents.complaint_photo")


@pytest.fixture
def app_config():
    return {"OMS_LOGIN_RATE_LIMIT": "100000 per minute", "OMS_TRACKING_RATE_LIMIT": "100000 per minute"}


@pytest.fixture(autouse=True)
def watch_complaints(monkeypatch):
    """The walk's "refused changes nothing" check also counts complaint rows, and
    watches their status, category and assignee."""
    monkeypatch.setattr(test_fuzz, "COUNTED", test_fuzz.COUNTED + (ComplaintMessage, Upload))
    monkeypatch.setattr(test_fuzz, "WATCHED", {**test_fuzz.WATCHED, Complaint: (
        Complaint.status, Complaint.category, Complaint.assignee_id, Complaint.subject)})


@pytest.fixture
def world(app, place, owner_user):
    order = place(confirm=True, email="ann@example.com")
    other = place(confirm=True, email="bob@example.com")
    mine = complaints.open_complaint(order.id, subject="Mine", category="Other", body="b")
    theirs = complaints.open_complaint(other.id, subject="Theirs", category="Other", body="b")
    from oms_core.services import customer_proof
    return {"order": order, "ids": {"order_id": [order.id, other.id], "complaint_id": [mine.id, theirs.id],
                                    "token": [customer_proof.link_token(order.id), "x" * 40]},
            "seeds": {
                "oms_documents.complaint_new": {"subject": "s", "category": "Other", "body": "b"},
                "oms_documents.complaint_thread": {"body": "b"},
                "oms_admin.complaint_reply": {"body": "b"},
                "oms_admin.complaint_note": {"body": "b"},
                "oms_admin.complaint_status": {"status": "resolved", "reason": "r"},
                "oms_admin.complaint_assign": {"assignee_id": str(owner_user.id)},
                "oms_admin.complaint_category": {"category": "Delivery"},
                "oms_admin.complaints_list": {"status": "open", "assignee": "none", "category": "Other"},
            }}


def test_public_complaint_forms_survive_fuzzing(app, world):

    client = app.test_client()
    page = client.get("/track/documents").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    order = world["order"]
    proven = client.post("/track/documents", data={"code": tracking_codes.display(order.tracking_code),
                                                   "email": "ann@example.com", "csrf_token": token})
    assert proven.status_code == 303

    def post(url, data=None, headers=None):
        return client.post(url, data={**(data or {}), "csrf_token": token}, headers=headers or {})

    rules = [r for r in oms_rules(app, prefix=("oms_documents.complaint",))]
    assert {r.endpoint for r in rules} == set(PUBLIC)
    with recording(app):
        for rule in rules:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                fuzz_endpoint(client, rule, method, seeds=world["seeds"], ids=world["ids"], post=post)
    # The fuzzing wrote only into the proven order's threads.
    theirs = db.session.get(Complaint, world["ids"]["complaint_id"][1])
    assert [m.body for m in theirs.messages] == ["b"]


def test_back_office_complaint_forms_survive_fuzzing(app, owner_client, world):
    rules = [r for r in oms_rules(app, prefix=("oms_admin.complaint",))]
    assert len(rules) == 8
    with recording(app):
        for rule in rules:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                fuzz_endpoint(owner_client.client, rule, method, seeds=world["seeds"], ids=world["ids"],
                              post=owner_client.post)
    assert {"body"} <= test_fuzz.READ["oms_admin.complaint_reply"]
    assert db.session.scalars(select(Complaint)).first() is not None
