"""What a case's visits and contacts mean, as plain functions: no Kafka, no warehouse.

    window(case, now, days_before_onset)        the infectious window
    presences(visits, start, end)               per venue: first and last time there, visits
    exposed_at(contacts)                        per venue: the F1 contacts met there
    venue_alerts(case, presence, exposed, ...)  one draft per venue
    clusters(members, k, days)                  cases at one venue within d days
    revise(previous, draft, ...)                the next version of an alert, or None

A draft is an `Alert` whose version, status and timing the job fills in (`revise`): a
draft equal to the latest version in what it says (venue, cases, times, counts) makes no
new version, so re-running a case, registering it twice, or replaying `cases` changes
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone

from schemas.cases import (MAX_CLUSTER_CASES, Alert, AlertKind, AlertStatus, Case, CaseStatus, Contact, cluster_alert_id,
                           venue_alert_id)
from schemas.visits import ExitHow

# What an alert says; a change in any of these makes a new version.
CONTENT = ("kind", "venue_id", "case_ids", "first_presence", "last_presence", "visits", "exposed")
CONTACT_CONTENT = ("degree", "overlap_seconds", "overlaps", "via", "venues", "first_contact", "last_contact",
                   "removed")


@dataclass
class Presence:
    """A case at one venue within its window."""

    first: datetime
    last: datetime
    visits: int = 0


@dataclass
class Evaluation:
    """What the latest evaluation of one case found."""

    case: Case
    presence: dict[str, Presence] = field(default_factory=dict)
    exposed: dict[str, frozenset[str]] = field(default_factory=dict)  # venue -> F1 person ids met there
    contacts: dict[str, Contact] = field(default_factory=dict)  # person -> contact (degree 1 and 2)
    newest_scan_at: datetime | None = None


def moment(value) -> datetime:
    """A time as the warehouse's JSON gives it ('2026-11-29 06:00:00.000', UTC), or a datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(str(value)).replace(tzinfo=timezone.utc)


def window(case: Case, now: datetime, days_before_onset: int) -> tuple[datetime, datetime]:
    start = datetime.combine(case.onset, time(0), tzinfo=timezone.utc) - timedelta(days=days_before_onset)
    return start, max(now, start)


def presences(visits: Iterable[Mapping], start: datetime, end: datetime) -> dict[str, Presence]:
    """Per venue, the case's first and last time there, clipped to [start, end)."""
    found: dict[str, Presence] = {}
    for visit in visits:
        t_in, t_out = max(moment(visit["t_in"]), start), min(moment(visit["t_out"]), end)
        if t_out <= t_in:
            continue
        there = found.get(visit["venue_id"])
        if there is None:
            found[visit["venue_id"]] = Presence(t_in, t_out, 1)
        else:
            there.first, there.last, there.visits = min(there.first, t_in), max(there.last, t_out), there.visits + 1
    return found


def newest_scan(visits: Iterable[Mapping]) -> datetime | None:
    """The latest time a scan of the case stands behind (a timed-out or open visit's end
    is the platform's guess, not a scan)."""
    times = [moment(v["t_in"]) for v in visits]
    times += [moment(v["t_out"]) for v in visits if v["exit_how"] in (ExitHow.scan, ExitHow.next_scan)]
    return max(times) if times else None


def exposed_at(contacts: Iterable[Contact]) -> dict[str, frozenset[str]]:
    met: dict[str, set[str]] = {}
    for contact in contacts:
        if contact.degree == 1 and not contact.removed:
            for venue in contact.venues:
                met.setdefault(venue, set()).add(contact.person_id)
    return {venue: frozenset(people) for venue, people in met.items()}


def contact_from_row(case_id: str, row: Mapping) -> Contact:
    """A row of `pipeline.warehouse.trace.trace` as a contact of the case."""
    return Contact(case_id=case_id, person_id=row["person_id"], degree=int(row["degree"][1:]),
                   overlap_seconds=round(float(row["overlap_seconds"])), overlaps=int(row["overlaps"]),
                   via=row.get("via") or "", venues=sorted(row["venues"]), first_contact=moment(row["first_contact"]),
                   last_contact=moment(row["last_contact"]))


def venue_alerts(evaluation: Evaluation) -> dict:
    """One draft per venue the case was at: ``{alert_id: Alert}``."""
    case = evaluation.case
    if case.status is CaseStatus.cleared:
        return {}
    drafts = {}
    for venue, there in evaluation.presence.items():
        alert_id = venue_alert_id(case.case_id, venue)
        drafts[alert_id] = _draft(alert_id, AlertKind.venue, venue, [case.case_id], there.first, there.last,
                                  there.visits, len(evaluation.exposed.get(venue, ())))
    return drafts


def clusters(venue_id: str, members: Mapping[str, tuple[Case, Presence, frozenset[str]]], k: int,
             days: int) -> dict:
    """Cluster drafts at one venue: the open cases there, in the order of their first
    presence, chained while each starts within ``days`` of the latest presence before it
    (so every case of a cluster is within d days of another); chains of ``k`` or more
    distinct cases are clusters. A cluster is named by its first-registered case, which
    stays its name as later cases join."""
    ordered = sorted(members.items(), key=lambda item: (item[1][1].first, item[0]))
    groups: list[list[str]] = []
    reach: datetime | None = None
    for case_id, (_case, there, _met) in ordered:
        if reach is None or there.first - reach > timedelta(days=days):
            groups.append([])
            reach = there.last
        groups[-1].append(case_id)
        reach = max(reach, there.last)
    drafts = {}
    for group in groups:
        if len(group) < k:
            continue
        named_by = min(group, key=lambda c: (members[c][0].registered_at, c))
        alert_id = cluster_alert_id(venue_id, named_by)
        # The first-registered ones, if a cluster ever outgrows what an alert can name.
        case_ids = sorted(group, key=lambda c: (members[c][0].registered_at, c))[:MAX_CLUSTER_CASES]
        exposed = frozenset().union(*(members[c][2] for c in group)) - {members[c][0].person_id for c in group}
        drafts[alert_id] = _draft(alert_id, AlertKind.cluster, venue_id, case_ids,
                                  min(members[c][1].first for c in group), max(members[c][1].last for c in group),
                                  sum(members[c][1].visits for c in group), len(exposed))
    return drafts


def _draft(alert_id, kind, venue_id, case_ids, first, last, visits, exposed) -> Alert:
    # Timing fields are placeholders until `revise` fills them in.
    return Alert(alert_id=alert_id, kind=kind, venue_id=venue_id, case_ids=case_ids, first_presence=first,
                 last_presence=last, visits=visits, exposed=exposed, registered_at=first,
                 seconds_from_registration=0)


def same_content(a: Alert, b: Alert) -> bool:
    return all(getattr(a, name) == getattr(b, name) for name in CONTENT)


def revise(previous: Alert | None, draft: Alert | None, *, now: datetime, registered_at: datetime,
           newest_scan_at: datetime | None, reason: str, auto_confirm: bool) -> Alert | None:
    """The alert's next version, or None when there is nothing new to say.

    ``draft`` None retracts ``previous``. A retracted alert that is found again starts over
    as proposed. A changed alert keeps its status (a confirmed one stays confirmed)."""
    timing = {"updated_at": now, "registered_at": registered_at, "newest_scan_at": newest_scan_at,
              "seconds_from_registration": max(0.0, (now - registered_at).total_seconds()),
              "seconds_from_newest_scan": (max(0.0, (now - newest_scan_at).total_seconds())
                                           if newest_scan_at else None)}
    if draft is None:
        if previous is None or previous.status is AlertStatus.retracted:
            return None
        return previous.model_copy(update={**timing, "version": previous.version + 1,
                                           "status": AlertStatus.retracted, "reason": reason})
    fresh = AlertStatus.confirmed if auto_confirm else AlertStatus.proposed
    how = "; confirmed at once (RAVAO_ALERTS_AUTO_CONFIRM)" if auto_confirm else ""
    if previous is None:
        return Alert.model_validate({**draft.model_dump(), **timing, "created_at": now, "status": fresh,
                                     "reason": reason + how,
                                     "confirmed_by": "auto" if auto_confirm else None})
    if previous.status is not AlertStatus.retracted and same_content(previous, draft):
        return None
    status = fresh if previous.status is AlertStatus.retracted else previous.status
    confirmed_by = ("auto" if auto_confirm else None) if previous.status is AlertStatus.retracted \
        else previous.confirmed_by
    return Alert.model_validate({**draft.model_dump(), **timing, "version": previous.version + 1,
                                 "created_at": previous.created_at, "status": status,
                                 "reason": reason + (how if previous.status is AlertStatus.retracted else ""),
                                 "confirmed_by": confirmed_by})


def revise_contact(previous: Contact | None, found: Contact | None, case_id: str, person_id: str,
                   now: datetime) -> Contact | None:
    """A contact's next version, or None when nothing changed; ``found`` None removes it."""
    if found is None:
        if previous is None or previous.removed:
            return None
        return previous.model_copy(update={"version": previous.version + 1, "removed": True, "updated_at": now})
    if previous is not None and all(getattr(previous, n) == getattr(found, n) for n in CONTACT_CONTENT):
        return None
    return found.model_copy(update={"version": (previous.version + 1) if previous else 1, "updated_at": now})


def keep_cluster_names(drafts: dict, existing: dict) -> dict:
    """A cluster that lost the case it was named after (cleared) keeps its alert: a draft
    under a new name takes over the live cluster alert it shares cases with, so its
    recipients get a revision, not "withdrawn, no action needed" and a new alert."""
    live = [a for a in existing.values() if a.status is not AlertStatus.retracted]
    taken = set(drafts)
    kept = {}
    for alert_id, draft in drafts.items():
        if alert_id not in existing or existing[alert_id].status is AlertStatus.retracted:
            heir = next((a for a in live if a.alert_id not in taken and set(a.case_ids) & set(draft.case_ids)), None)
            if heir is not None:
                taken.add(heir.alert_id)
                alert_id, draft = heir.alert_id, draft.model_copy(update={"alert_id": heir.alert_id})
        kept[alert_id] = draft
    return kept
