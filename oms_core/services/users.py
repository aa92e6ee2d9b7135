"""Back-office users and roles."""
from __future__ import annotations

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ..db import db, write_transaction
from ..errors import ValidationError
from ..models import ROLES, StaffUser
from .common import clean_email, required_text

MIN_PASSWORD_LENGTH = 8


def create_user(*, email: str, name: str, password: str, role: str = "staff") -> StaffUser:
    email = clean_email(email)
    name = required_text(name, "Name")
    if role not in ROLES:
        raise ValidationError(f"Role must be one of {', '.join(ROLES)}.")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.")
    with write_transaction():
        if db.session.scalar(select(StaffUser.id).where(StaffUser.email == email)):
            raise ValidationError(f"A user {email} exists already.")
        user = StaffUser(email=email, name=name, role=role,
                         password_hash=generate_password_hash(password))
        db.session.add(user)
    return user


def authenticate(email: str, password: str) -> StaffUser | None:
    user = db.session.scalar(select(StaffUser).where(StaffUser.email == (email or "").strip().lower()))
    if user is None or not user.active or not check_password_hash(user.password_hash, password or ""):
        return None
    return user


def get_user(user_id: int) -> StaffUser | None:
    return db.session.get(StaffUser, user_id)


def find_by_email(email: str) -> StaffUser | None:
    return db.session.scalar(select(StaffUser).where(StaffUser.email == (email or "").strip().lower()))
