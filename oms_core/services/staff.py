"""Staff management (owners): invitations, roles, disabling, password resets, and
the audit trail of all of it.

Invitations and resets are single-use links emailed through the outbox. A link
carries its StaffToken row's id and random key, signed with the app's SECRET_KEY
(itsdangerous), so neither a copy of the database nor a guess makes one; the row
says whether it is still good: not used, not expired, not replaced by a newer link,
and, for a reset, issued since the user's last new password (a new password marks
every open reset link used: users.replace_password). The outbox row names only the
token's id; the worker signs the link when it sends the email.

The shop never loses its last active owner: demoting or disabling an owner is
refused unless another active owner remains, checked with the owners' rows locked
so two owners demoting each other at once cannot both succeed.

"Forgot password" gives the same answer whether the email is a user's or not, and
sends at most one link per user every OMS_PASSWORD_RESET_RESEND_MINUTES, so the
page (rate-limited per client, like the log-in) cannot flood a mailbox.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formataddr
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func, select, update

from .. import runtime
from ..db import db, write_transaction
from ..errors import NotFound, ValidationError
from ..models import ROLES, StaffAuditEvent, StaffToken, StaffUser
from ..models._base import utcnow
from . import notifications, outbox, users
from .common import clean_email, fetch, required_text

INVITE, RESET = "invite", "reset"
EMAIL_KIND = "staff.email"
LINK_NOT_VALID = "This link has expired, has been used already or is not valid. Ask for a new one."
_SALT = "oms-staff-link"
_SUBJECTS = {INVITE: "You are invited to the back-office of {shop}",
             RESET: "Reset your password for the back-office of {shop}"}
_PATHS = {INVITE: "/invite/", RESET: "/reset-password/"}

# What the audit trail says was done.
INVITED, INVITE_ACCEPTED, ROLE_CHANGED = "invited", "invite_accepted", "role_changed"
DISABLED, ENABLED = "disabled", "enabled"
RESET_SENT, PASSWORD_RESET = "reset_sent", "password_reset"
INVITE_WITHDRAWN = "invite_withdrawn"
CREATED, PASSWORD_SET = "created", "password_set"  # by hand: flask oms create-user, set-password
ACTION_LABELS = {CREATED: "Created", PASSWORD_SET: "Password set by hand",INVITED: "Invited", INVITE_WITHDRAWN: "Invitation withdrawn", INVITE_ACCEPTED: "Joined",
                 ROLE_CHANGED: "Role changed",
                 DISABLED: "Disabled", ENABLED: "Enabled again", RESET_SENT: "Password reset link sent",
                 PASSWORD_RESET: "Password reset"}


def _audit(actor: str, action: str, subject: str, detail: str = "") -> None:
    db.session.add(StaffAuditEvent(actor=actor, action=action, subject=subject, detail=detail))


# ------------------------------------------------------------------ links


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def link_token(token: StaffToken) -> str:
    return _serializer().dumps({"id": token.id, "key": token.key})


def link_url(token: StaffToken) -> str:
    base = runtime.setting("PUBLIC_BASE_URL").rstrip("/") + runtime.setting("ADMIN_PREFIX")
    return base + _PATHS[token.purpose] + link_token(token)


def _lifetime(purpose: str) -> timedelta:
    if purpose == INVITE:
        return timedelta(hours=runtime.setting("STAFF_INVITE_HOURS"))
    return timedelta(minutes=runtime.setting("PASSWORD_RESET_MINUTES"))


def _issue(purpose: str, email: str, *, role: str = "staff", user_id: int | None = None,
           actor: str) -> StaffToken:
    """A new link replacing the open ones of the same purpose for that email, and its
    email queued (caller's transaction)."""
    _close_open(purpose, email)
    token = StaffToken(purpose=purpose, email=email, role=role, user_id=user_id, key=secrets.token_hex(16),
                       expires_at=utcnow() + _lifetime(purpose), created_by=actor)
    db.session.add(token)
    db.session.flush()
    # The key travels in the link; the Message-ID gets a digest of it.
    digest = hashlib.sha256(f"staff-email:{token.key}".encode()).hexdigest()[:24]
    outbox.enqueue(EMAIL_KIND, {"token_id": token.id}, key=f"staff-email-{digest}")
    return token


def _close_open(purpose: str, email: str) -> None:
    db.session.execute(update(StaffToken)
                       .where(StaffToken.purpose == purpose, StaffToken.email == email,
                              StaffToken.used_at.is_(None))
                       .values(used_at=utcnow()).execution_options(synchronize_session=False))


def _is_good(token: StaffToken | None, purpose: str) -> bool:
    return (token is not None and token.purpose == purpose and token.used_at is None
            and token.expires_at > utcnow())


def _token_from_link(link: str, purpose: str, *, lock: bool = False) -> StaffToken:
    """The still-good token a link names, or ValidationError (one message for every
    way of being wrong)."""
    max_age = int(max(_lifetime(INVITE), _lifetime(RESET)).total_seconds())
    try:
        data = _serializer().loads(link or "", max_age=max_age)
    except BadSignature:
        raise ValidationError(LINK_NOT_VALID) from None
    token_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(token_id, int) or isinstance(token_id, bool) or not 1 <= token_id <= 2**31 - 1:
        raise ValidationError(LINK_NOT_VALID)
    token = db.session.get(StaffToken, token_id, with_for_update=lock, populate_existing=lock)
    if (not _is_good(token, purpose)
            or not hmac.compare_digest(str(data.get("key", "")).encode(), token.key.encode())):
        raise ValidationError(LINK_NOT_VALID)
    return token


def check_link(link: str, purpose: str) -> str:
    """The email a still-good link is for (the page that asks for a password), or
    ValidationError."""
    return _token_from_link(link, purpose).email


# ------------------------------------------------------------------ owners' actions


def invite(email: str, role: str, *, actor: str) -> StaffToken:
    """Email an invitation to join with `role`; a newer one replaces an older one."""
    email = clean_email(email)
    _check_role(role)
    with write_transaction():
        if users.find_by_email(email) is not None:
            raise ValidationError(f"{email} is a user already.")
        token = _issue(INVITE, email, role=role, actor=actor)
        _audit(actor, INVITED, email, f"as {role}")
    return token


def withdraw_invite(token_id: int, *, actor: str) -> None:
    with write_transaction():
        token = fetch(StaffToken, token_id, "invitation", with_for_update=True, populate_existing=True)
        if not _is_good(token, INVITE):
            raise ValidationError("That invitation is no longer open.")
        token.used_at = utcnow()
        _audit(actor, INVITE_WITHDRAWN, token.email)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValidationError(f"Role must be one of {', '.join(ROLES)}.")


def _lock_user(user_id: int) -> StaffUser:
    return fetch(StaffUser, user_id, "user", with_for_update=True, populate_existing=True)


def _lock_owners() -> set[int]:
    """The active owners' ids, their rows locked (PostgreSQL; SQLite's BEGIN IMMEDIATE
    serialises writers already). Taken before any other user's row, always in id
    order, so two owners demoting each other at once wait for one another instead of
    deadlocking, and the second sees the first's change."""
    return set(db.session.scalars(select(StaffUser.id)
                                  .where(StaffUser.role == "owner", StaffUser.active.is_(True))
                                  .order_by(StaffUser.id).with_for_update()))


def _keep_an_owner(owners: set[int], user: StaffUser) -> None:
    """Refuse to take away `user`'s owner powers when no other active owner remains."""
    if user.role == "owner" and user.active and not (owners - {user.id}):
        raise ValidationError("The shop needs an active owner: make someone else owner first.")


def set_role(user_id: int, role: str, *, actor: str) -> StaffUser:
    _check_role(role)
    with write_transaction():
        owners = _lock_owners()
        user = _lock_user(user_id)
        if user.role == role:
            return user
        _keep_an_owner(owners, user)
        _audit(actor, ROLE_CHANGED, user.email, f"{user.role} -> {role}")
        user.role = role
    return user


def set_active(user_id: int, active: bool, *, actor: str) -> StaffUser:
    """Disable a user (every session of theirs ends at once, log-in is refused) or
    enable them again."""
    with write_transaction():
        owners = _lock_owners()
        user = _lock_user(user_id)
        if user.active == active:
            return user
        if not active:
            _keep_an_owner(owners, user)
            users.end_sessions_in_transaction(user.id)
        user.active = active
        _audit(actor, ENABLED if active else DISABLED, user.email)
    return user


def send_reset(user_id: int, *, actor: str) -> StaffToken:
    """An owner sends a user a password-reset link."""
    with write_transaction():
        user = _lock_user(user_id)
        if not user.active:
            raise ValidationError(f"{user.email} is disabled: enable them first.")
        token = _issue(RESET, user.email, role=user.role, user_id=user.id, actor=actor)
        _audit(actor, RESET_SENT, user.email)
    return token


# ------------------------------------------------------------------ the people the links are for


def accept_invite(link: str, *, name: str, password: str) -> StaffUser:
    """Join the back-office through an invitation: name and password; the link is used up."""
    name = required_text(name, "Name")
    with write_transaction():
        token = _token_from_link(link, INVITE, lock=True)
        if users.find_by_email(token.email) is not None:
            raise ValidationError(LINK_NOT_VALID)
        token.used_at = utcnow()
        user = users.create_user(email=token.email, name=name, password=password, role=token.role)
        _audit(f"staff:{token.email}", INVITE_ACCEPTED, token.email, f"as {token.role}")
    return user


def request_reset(email: str) -> None:
    """"Forgot password": a reset link to an active user with this email, at most one
    every OMS_PASSWORD_RESET_RESEND_MINUTES. Says nothing about whether anyone has
    that email: the caller shows the same page either way."""
    try:
        email = clean_email(email)
    except ValidationError:
        return
    with write_transaction():
        user = users.find_by_email(email)
        if user is None or not user.active:
            return
        since = utcnow() - timedelta(minutes=runtime.setting("PASSWORD_RESET_RESEND_MINUTES"))
        recent = db.session.scalar(select(func.count()).select_from(StaffToken).where(
            StaffToken.purpose == RESET, StaffToken.user_id == user.id, StaffToken.created_at > since))
        if recent:
            return
        _issue(RESET, user.email, role=user.role, user_id=user.id, actor="anonymous:forgot-password")
        _audit("anonymous:forgot-password", RESET_SENT, user.email)


def reset_password(link: str, password: str) -> StaffUser:
    """A new password through a reset link: the link and every other open one die,
    and every session of the user ends."""
    with write_transaction():
        token = _token_from_link(link, RESET, lock=True)
        user = _lock_user(token.user_id)
        if not user.active or user.email != token.email:
            raise ValidationError(LINK_NOT_VALID)
        users.replace_password(user, password)  # marks this token used too
        _audit(user.actor, PASSWORD_RESET, user.email)
    return user


# ------------------------------------------------------------------ by hand (flask oms ...)


def create_user(*, email: str, name: str, password: str, role: str, actor: str) -> StaffUser:
    """A user made by hand (`flask oms create-user`: the first owner), on the audit trail."""
    with write_transaction():
        user = users.create_user(email=email, name=name, password=password, role=role)
        _audit(actor, CREATED, user.email, f"as {user.role}")
    return user


def set_password(email: str, password: str, *, actor: str) -> StaffUser:
    """A password set by hand (`flask oms set-password`); sessions and reset links end."""
    with write_transaction():
        user = users.set_password(email, password)
        _audit(actor, PASSWORD_SET, user.email)
    return user


def set_active_by_email(email: str, active: bool, *, actor: str) -> StaffUser:
    """`set_active` for the user with this email (`flask oms deactivate-user`)."""
    user = users.find_by_email(clean_email(email))
    if user is None:
        raise NotFound(f"No user {email.strip()}.")
    return set_active(user.id, active, actor=actor)


# ------------------------------------------------------------------ the staff page


@dataclass
class StaffOverview:
    users: list[StaffUser]
    invitations: list[StaffToken]  # open ones
    audit: list[StaffAuditEvent]  # newest first


def overview(*, audit_limit: int = 100) -> StaffOverview:
    now = utcnow()
    return StaffOverview(
        users=list(db.session.scalars(select(StaffUser).order_by(StaffUser.email))),
        invitations=list(db.session.scalars(
            select(StaffToken).where(StaffToken.purpose == INVITE, StaffToken.used_at.is_(None),
                                     StaffToken.expires_at > now).order_by(StaffToken.id.desc()))),
        audit=list(db.session.scalars(select(StaffAuditEvent).order_by(StaffAuditEvent.id.desc())
                                      .limit(audit_limit))))


# ------------------------------------------------------------------ the email


def compose(token: StaffToken) -> EmailMessage:
    shop = runtime.setting("SHOP_NAME")
    context = {"purpose": token.purpose, "shop_name": shop, "url": link_url(token), "role": token.role,
               "expires_at": token.expires_at.strftime("%Y-%m-%d %H:%M UTC")}
    message = EmailMessage()
    message["From"] = formataddr((shop, runtime.setting("MAIL_SENDER")))
    message["To"] = token.email
    message["Subject"] = _SUBJECTS[token.purpose].format(shop=shop)
    message.set_content(notifications.render("staff_link.txt", **context))
    message.add_alternative(notifications.render("staff_link.html", **context), subtype="html")
    return message


@outbox.handler(EMAIL_KIND)
def _send_link(message) -> None:
    token = db.session.get(StaffToken, message.payload["token_id"])
    if not _is_good(token, token.purpose if token else ""):
        db.session.commit()
        return  # replaced, used or expired before it went out: nothing worth sending
    email = compose(token)
    host = urlsplit(runtime.setting("PUBLIC_BASE_URL")).hostname or "oms"
    email["Message-ID"] = f"<{message.idempotency_key}@{host}>"
    notifications.send(email)
