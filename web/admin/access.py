"""Role checks for back-office views."""
from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user


def owner_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not getattr(current_user, "is_owner", False):
            abort(403)
        return view(*args, **kwargs)
    return wrapped


def actor() -> str:
    return current_user.actor
