"""The access control a ClickHouse server needs for ravao, as SQL for its operator to run
(`ravao warehouse grants`): on a server, Grafana and analysts may connect straight to
the engine, so the server's own users, roles, settings profiles and row policies must
hold what the application's door holds on chdb.

    ravao_read          a settings profile: readonly = 1 and the door's limits
    ravao_web, ravao_alerts
                        the services: every non-personal table; personal_data (the web
                        process masks it per caller; the alerting job texts phones)
    ravao_tracer        people tracing a case: every non-personal table, personal_data,
                        declarations (people's health answers)
    ravao_analyst       the admin's read-only analysts: every non-personal table, the audit log
    ravao_area_officer  the area-scoped tables only, each row by a policy per officer
                        (``--area-officer USER=AREA``): the officer's area and below

Nothing here is granted INSERT, ALTER, KILL QUERY, SYSTEM, or the sources of table
functions (FILE, URL, REMOTE, S3, ...): a read-only user of these roles cannot reach them.
The sink writes as the server's own writer account (RAVAO_CLICKHOUSE_URL), not one of these.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from clickhouse_connect.driver.binding import format_str
from clickhouse_connect.driver.binding import quote_identifier as _quoted

from .base import IDENTIFIER

from .door import PERSONAL_TABLES
from .migrations import MIGRATIONS_DIR

SERVICE_ROLES = ("ravao_web", "ravao_alerts")
PERSONAL_READERS = {"personal_data": ("ravao_web", "ravao_alerts", "ravao_tracer"), "audit_log": ("ravao_analyst",),
                    "declarations": ("ravao_tracer",)}
EVERYTHING_ROLES = SERVICE_ROLES + ("ravao_tracer", "ravao_analyst")
OFFICER_ROLE = "ravao_area_officer"
# The tables an area officer reads, and the condition that keeps a row in their area.
AREA_SCOPED = {
    "areas": "has(path, {area})",
    "venues": "has(area_path, {area})",
    "scans": "has(area_path, {area})",
    "visits": "has(area_path, {area})",
    "tier_counts_hourly": "area_id IN (SELECT area_id FROM {db}.areas WHERE has(path, {area}))",
    "tier_counts_daily": "area_id IN (SELECT area_id FROM {db}.areas WHERE has(path, {area}))",
}
CREATED = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")


def quote_identifier(name: str) -> str:
    """A plain name as it is; any other in backquotes, escaped."""
    return name if IDENTIFIER.match(name) else _quoted(name)


def tables() -> list[str]:
    """Every table the migrations create, in order."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        found += [name for name in CREATED.findall(path.read_text()) if name not in found]
    return found


def statements(database: str, limits: Mapping[str, Any], area_officers: Mapping[str, str]) -> list[str]:
    """The SQL, one statement per item. ``limits``: `door.read_settings`; ``area_officers``:
    user name -> the area id they oversee. Each user gets a random password, shown once."""
    db = quote_identifier(database)
    profile = ", ".join(f"{name} = {value if isinstance(value, (int, float)) else format_str(str(value))}"
                        for name, value in limits.items())
    out = [f"CREATE SETTINGS PROFILE IF NOT EXISTS ravao_read SETTINGS {profile}"]
    for role in EVERYTHING_ROLES + (OFFICER_ROLE,):
        out.append(f"CREATE ROLE IF NOT EXISTS {role} SETTINGS PROFILE 'ravao_read'")
    readers = ", ".join(EVERYTHING_ROLES)
    for table in tables():
        if table in PERSONAL_TABLES:
            out.append(f"GRANT SELECT ON {db}.{quote_identifier(table)} TO {', '.join(PERSONAL_READERS[table])}")
        else:
            out.append(f"GRANT SELECT ON {db}.{quote_identifier(table)} TO {readers}")
    for table in AREA_SCOPED:
        out.append(f"GRANT SELECT ON {db}.{quote_identifier(table)} TO {OFFICER_ROLE}")
        # Once a table has a row policy, a user with none on it may see no rows: every
        # other role reads all of them.
        out.append(f"CREATE ROW POLICY IF NOT EXISTS ravao_all ON {db}.{quote_identifier(table)} FOR SELECT "
                   f"USING 1 TO {readers}")
    for service in ("web", "alerts"):
        out += _user(f"ravao_{service}", f"ravao_{service}")
    for user, area in sorted(area_officers.items()):
        out += _user(user, OFFICER_ROLE)
        for table, condition in AREA_SCOPED.items():
            out.append(f"CREATE ROW POLICY IF NOT EXISTS {quote_identifier('ravao_area_' + user)} ON "
                       f"{db}.{quote_identifier(table)} FOR SELECT USING "
                       f"{condition.format(area=format_str(area), db=db)} TO {quote_identifier(user)}")
    return out


def _user(name: str, role: str) -> list[str]:
    user = quote_identifier(name)
    password = format_str(secrets.token_urlsafe(24))
    return [f"CREATE USER IF NOT EXISTS {user} IDENTIFIED WITH sha256_password BY {password} "
            "SETTINGS PROFILE 'ravao_read'",
            f"GRANT {role} TO {user}",
            f"SET DEFAULT ROLE {role} TO {user}"]


def parse_officers(values: list[str]) -> dict[str, str]:
    """``USER=AREA`` pairs from the command line."""
    officers = {}
    for value in values:
        user, sep, area = value.partition("=")
        if not sep or not user.strip() or not area.strip():
            raise ValueError(f"--area-officer {value!r}: write USER=AREA, e.g. --area-officer hoa=25741")
        officers[user.strip()] = area.strip()
    return officers
