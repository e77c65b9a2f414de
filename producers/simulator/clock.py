"""Time in the simulated province: Vietnam has one zone, UTC+7, and no summer time."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

LOCAL = timezone(timedelta(hours=7), "ICT")


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A local wall-clock time of ``day`` (hour may run past 24)."""
    return datetime.combine(day, time(0), LOCAL) + timedelta(hours=hour, minutes=minute, seconds=second)


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)
