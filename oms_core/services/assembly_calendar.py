"""The calendar file (RFC 5545, the `icalendar` library) of an assembly appointment,
for the customer's email and the proven-customer page.

One VEVENT per job with a stable UID (the job's random key), SEQUENCE raised by
every move and by the cancellation, DTSTART/DTEND in the shop's time zone
(OMS_SHOP["time_zone"]) with its VTIMEZONE, METHOD REQUEST for an appointment and CANCEL
for its cancellation, so calendar apps update the one event they hold.
"""
from __future__ import annotations

from datetime import date, datetime, time
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from .. import runtime, shop
from ..db import db
from ..models import AssemblyJob
from ..models._base import utcnow

CONTENT_TYPE = ("text", "calendar")


def snapshot(job: AssemblyJob, method: str) -> dict:
    """The appointment as the email or download states it (outbox payloads keep it)."""
    return {"job_id": job.id, "sequence": job.sequence, "method": method,
            "date": job.scheduled_date.isoformat(), "start": job.window_start.strftime("%H:%M"),
            "end": job.window_end.strftime("%H:%M")}


def uid(job: AssemblyJob) -> str:
    host = urlsplit(runtime.setting("PUBLIC_BASE_URL")).hostname or "oms"
    return f"assembly-{job.key}@{host}"


def filename(job: AssemblyJob) -> str:
    return f"assembly-{job.order.number}.ics"


def ics(job: AssemblyJob, appointment: dict) -> bytes:
    """The calendar file of `appointment` (a `snapshot`)."""
    import icalendar  # used by emails and one download only, not when serving pages

    tz = ZoneInfo(shop.details().time_zone)
    day = date.fromisoformat(appointment["date"])
    start = datetime.combine(day, time.fromisoformat(appointment["start"]), tzinfo=tz)
    end = datetime.combine(day, time.fromisoformat(appointment["end"]), tzinfo=tz)
    shop_name = runtime.setting("SHOP_NAME")
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Flask-OMS//assembly//EN")
    calendar.add("version", "2.0")
    calendar.add("method", appointment["method"])
    event = icalendar.Event()
    event.add("uid", uid(job))
    event.add("sequence", appointment["sequence"])
    event.add("dtstamp", utcnow())
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", f"{shop_name}: assembly for order {job.order.number}")
    place = (job.line1, job.line2, f"{job.postal_code} {job.city}".strip(), job.country)
    event.add("location", ", ".join(part for part in place if part))
    event.add("status", "CANCELLED" if appointment["method"] == "CANCEL" else "CONFIRMED")
    organizer = icalendar.vCalAddress(f"mailto:{runtime.setting('MAIL_SENDER')}")
    organizer.params["cn"] = icalendar.vText(shop_name)
    event.add("organizer", organizer)
    attendee = icalendar.vCalAddress(f"mailto:{job.order.customer.email}")
    attendee.params["cn"] = icalendar.vText(job.order.customer_name)
    event.add("attendee", attendee)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()


def email_attachments(payload: dict) -> list[tuple[str, bytes, tuple[str, str], dict]]:
    """The calendar file an assembly email carries: (filename, bytes, content type,
    its parameters: the METHOD, as mail clients want it on the part)."""
    appointment = payload.get("assembly")
    if not appointment:
        return []
    job = db.session.get(AssemblyJob, appointment["job_id"])
    return [(filename(job), ics(job, appointment), CONTENT_TYPE, {"method": appointment["method"]})]


def describe(payload: dict, locale: str | None = None) -> dict | None:
    """The appointment an email states, for its text: day (in `locale`'s words, the
    shop's by default), start, end, time zone."""
    from babel.dates import format_date

    from .. import i18n

    appointment = payload.get("assembly")
    if not appointment:
        return None
    return {"day": format_date(date.fromisoformat(appointment["date"]), "full",
                               locale=locale or i18n.shop_locale()),
            "start": appointment["start"], "end": appointment["end"],
            "time_zone": shop.details().time_zone}
