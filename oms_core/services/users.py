"""Back-office users and roles, log-in and the life of their sessions.

A session names its user as '<id>:<session version>' (StaffUser.get_id). Raising the
version (log-out, deactivation, a new password) ends every session of the user at
once, copies of the session cookie included; an inactive user has no session.
"""
from __future__ import annotations

import re
import secrets
from functools import lru_cache

from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from .. import limits
from ..db import db, write_transaction
from ..errors import NotFound, ValidationError
from ..models import ROLES, StaffToken, StaffUser
from ..models._base import utcnow
from .common import clean_email, required_text

MIN_PASSWORD_LENGTH = 8
_SESSION_ID = re.compile(r"([0-9]{1,10}):([0-9]{1,10})")


def _check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.")
    return password


def create_user(*, email: str, name: str, password: str, role: str = "staff") -> StaffUser:
    email = clean_email(email)
    name = required_text(name, "Name")
    if role not in ROLES:
        raise ValidationError(f"Role must be one of {', '.join(ROLES)}.")
    _check_password(password)
    with write_transaction():
        if db.session.scalar(select(StaffUser.id).where(StaffUser.email == email)):
            raise ValidationError(f"A user {email} exists already.")
        user = StaffUser(email=email, name=name, role=role,
                         password_hash=generate_password_hash(password))
        db.session.add(user)
    return user


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash of a password no one knows, made like the real ones (same method and
    cost), to check against when the email is unknown."""
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(email: str, password: str) -> StaffUser | None:
    """The active user with this email and password, else None. Every attempt checks
    one password hash, so the time taken does not tell whether an email is a user's."""
    email = (email or "").strip().lower()
    user = None
    if len(email) <= 254 and "\x00" not in email:
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
    if user is None:
        check_password_hash(_dummy_hash(), password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or not user.active:
        return None
    return user


def get_user(user_id: int) -> StaffUser | None:
    return db.session.get(StaffUser, user_id) if limits.is_id(user_id) else None


def session_user(session_id: str) -> StaffUser | None:
    """The user a session names ('<id>:<version>'), while that session is valid: the
    user is active and has not ended their sessions since."""
    match = _SESSION_ID.fullmatch(session_id or "")
    if match is None:
        return None  # e.g. a session from before versions existed: log in again
    user = get_user(int(match[1]))
    if user is None or not user.active or user.session_version != int(match[2]):
        return None
    return user


def _user_by_email(email: str) -> StaffUser:
    user = find_by_email(clean_email(email))
    if user is None:
        raise NotFound(f"No user {email.strip()}.")
    return user


def _end_sessions_of(user_id: int) -> None:
    db.session.execute(update(StaffUser).where(StaffUser.id == user_id)
                       .values(session_version=StaffUser.session_version + 1)
                       .execution_options(synchronize_session=False))


def end_sessions_in_transaction(user_id: int) -> None:
    """`end_sessions` in the caller's write transaction."""
    _end_sessions_of(user_id)


def end_sessions(user_id: int) -> None:
    """Log the user out everywhere: every session cookie issued so far stops working."""
    with write_transaction():
        _end_sessions_of(user_id)


def replace_password(user: StaffUser, password: str) -> None:
    """A new password, in the caller's transaction: sessions made with the old one
    end, and so does every reset link not used yet (services/staff.py)."""
    _check_password(password)
    user.password_hash = generate_password_hash(password)
    _end_sessions_of(user.id)
    db.session.execute(update(StaffToken)
                       .where(StaffToken.user_id == user.id, StaffToken.used_at.is_(None))
                       .values(used_at=utcnow()).execution_options(synchronize_session=False))


def set_password(email: str, password: str) -> StaffUser:
    """A new password; sessions made with the old one end."""
    _check_password(password)
    with write_transaction():
        user = _user_by_email(email)
        replace_password(user, password)
    return user


def set_active(email: str, active: bool) -> StaffUser:
    """Deactivate (the user's sessions end, log-in is refused) or reactivate a user."""
    with write_transaction():
        user = _user_by_email(email)
        user.active = active
        if not active:
            _end_sessions_of(user.id)
    return user


def find_by_email(email: str) -> StaffUser | None:
    return db.session.scalar(select(StaffUser).where(StaffUser.email == (email or "").strip().lower()))
