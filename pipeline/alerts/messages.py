"""What a notification says: the webhook's JSON payload and the SMS text, from an alert
and its venue. Pure functions.

Only what a recipient needs to act: the alert (id, version, kind), the venue (id, name,
areas), the time range the case(s) were there, the advice, and a link. Never anything
about the case's person: no case id, person id, onset or note (an alert carries case ids;
they stay out). `tests/test_notify_messages.py` searches every body for them.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from schemas.cases import Alert, AlertKind
from schemas.notifications import Purpose

# Recipients read times as the clock on their wall: Vietnam's (no daylight saving).
VIETNAM = timezone(timedelta(hours=7))
RETRACTION_ADVICE = ("This alert is withdrawn: the health authority no longer places a case at this venue then. "
                     "No action is needed.")


def event_type(purpose: Purpose) -> str:
    return "alert.retracted" if purpose is Purpose.retraction else "alert.confirmed"


def alert_link(web_public_url: str, alert: Alert) -> str:
    return f"{web_public_url.rstrip('/')}/alerts/{alert.alert_id}"


def webhook_body(alert: Alert, purpose: Purpose, venue_name: str, area_path: tuple[str, ...],
                 advice: str, web_public_url: str) -> str:
    """The Standard Webhooks payload shape: ``type``, ``timestamp``, ``data``. The
    timestamp is the alert version's, so a repeat is byte for byte the same."""
    data = {
        "alert_id": str(alert.alert_id),
        "version": alert.version,
        "kind": alert.kind.value,
        "venue": {"id": alert.venue_id, "name": venue_name,
                  "area_id": area_path[-1] if area_path else None, "area_path": list(area_path)},
        "from": _iso(alert.first_presence),
        "to": _iso(alert.last_presence),
        "advice": RETRACTION_ADVICE if purpose is Purpose.retraction else advice,
        "link": alert_link(web_public_url, alert),
    }
    return json.dumps({"type": event_type(purpose), "timestamp": _iso(alert.updated_at), "data": data},
                      ensure_ascii=False, separators=(",", ":"))


def sms_text(alert: Alert, purpose: Purpose, venue_name: str, advice: str, web_public_url: str) -> str:
    what = "cluster of cases" if alert.kind is AlertKind.cluster else "case"
    when = f"{_local(alert.first_presence)} to {_local(alert.last_presence)}"
    if purpose is Purpose.retraction:
        return f"ravao: alert withdrawn for {venue_name}, {when}. No action needed. {alert_link(web_public_url, alert)}"
    return f"ravao alert: a confirmed {what} at {venue_name}, {when}. {advice} {alert_link(web_public_url, alert)}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _local(moment: datetime) -> str:
    return moment.astimezone(VIETNAM).strftime("%H:%M %d/%m/%Y")
