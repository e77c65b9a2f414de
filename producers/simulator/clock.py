"""Time in the simulated province: Vietnam has one zone, UTC+7, and no summer time."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

LOCAL = timezone(timedelta(hours=7), "ICT")


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A local wall-clock time of ``day`` (hour may run past 24)."""
    return datetime.combine(day, time(0), LOCAL) + timedelta(hours=hour, minutes=minute, seconds=second)


def yesterday() -> date:
    """The day `ravao simulate` plays by default (and `ravao demo`'s pages open on): the
    day before today in Vietnam, so that every scan is within the accepted lateness."""
    return (datetime.now(LOCAL) - timedelta(days=1)).date()


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)
