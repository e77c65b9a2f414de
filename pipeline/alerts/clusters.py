"""Cluster alerts at one venue: the open cases there, their drafts, and the versions to
write (`pipeline.alerts.evaluate` has the rules; this module applies them to the job's
cases and evaluations)."""

from __future__ import annotations

from datetime import datetime

from schemas.cases import Alert, Case, CaseStatus

from ..settings import Settings
from . import evaluate
from .evaluate import Evaluation


def cluster_versions(venue: str, cases: dict[str, Case], evaluations: dict[str, Evaluation],
                     existing: dict, settings: Settings, now: datetime) -> list[Alert]:
    """The new versions of the cluster alerts at ``venue`` (``existing``: its cluster
    alerts by id), given the latest evaluation of every case."""
    k, days = settings.alerts_cluster_cases, settings.alerts_cluster_days
    members = {}
    for case_id, evaluation in evaluations.items():
        case = cases.get(case_id)
        if case is None or case.status is CaseStatus.cleared or venue not in evaluation.presence:
            continue
        members[case_id] = (case, evaluation.presence[venue], evaluation.exposed.get(venue, frozenset()))
    drafts = evaluate.keep_cluster_names(evaluate.clusters(venue, members, k, days), existing)
    written = []
    for alert_id in sorted(set(drafts) | set(existing), key=str):
        draft = drafts.get(alert_id)
        in_it = [cases[c] for c in (draft.case_ids if draft else existing[alert_id].case_ids) if c in cases]
        registered_at = max((c.updated_at or c.registered_at for c in in_it), default=now)
        newest = [evaluations[c.case_id].newest_scan_at for c in in_it
                  if c.case_id in evaluations and evaluations[c.case_id].newest_scan_at]
        reason = f"{len(draft.case_ids)} cases within {days} days" if draft else f"fewer than {k} cases within {days} days"
        new = evaluate.revise(existing.get(alert_id), draft, now=now, registered_at=registered_at,
                              newest_scan_at=max(newest) if newest else None, reason=reason,
                              auto_confirm=settings.alerts_auto_confirm)
        if new is not None:
            written.append(new)
    return written
