"""The settings of cases, declarations, the alerting job and its notifications: one group
of the one settings class (`pipeline.settings.Settings` builds on it; read them there).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings


class AlertingSettings(BaseSettings):
    # --- cases, declarations, alerts ---------------------------------------------------
    case_window_days_before_onset: int = Field(
        2, ge=0, le=30, description="A case's infectious window starts this many days before its onset (and "
        "runs until now, or until the case is cleared)."
    )
    declaration_current_days: int = Field(
        1, ge=1, le=30, description="A health declaration is current for this many days after it is made; a "
        "scan after that shows status none."
    )
    alerts_auto_confirm: bool = Field(
        False, description="Confirm every alert at once (notifications go out without a tracer's "
        "`ravao alerts confirm`)."
    )
    alerts_contact_depth: int = Field(
        1, ge=1, le=2, description="Contact lists of cases: 1 = F1 only, 2 = F1 and F2."
    )
    alerts_min_overlap_seconds: int = Field(
        900, ge=0, description="Least total time together for a contact (as `ravao trace --min-overlap`)."
    )
    alerts_cluster_cases: int = Field(
        2, ge=2, description="A cluster alert: at least this many distinct cases at one venue..."
    )
    alerts_cluster_days: int = Field(
        7, ge=1, description="...within this many days of each other."
    )
    alerts_recheck_seconds: float = Field(
        900.0, gt=0, description="Every open case is evaluated again this often, besides the re-checks that "
        "new visits at its venues and times trigger."
    )
    alerts_heartbeat_file: Path | None = Field(
        None, description="A file the alerting job touches every few seconds while it runs, for a container's "
        "health check (`deploy/healthcheck.py alerts`); unset: none."
    )

    # --- notifications of alerts (pipeline/alerts/notify.py) ---------------------------
    webhooks: str | None = Field(
        None, description="Webhook endpoints told of every confirmed alert (Standard Webhooks), as JSON: "
        '[{"name": "eoc", "url": "https://eoc.example.org/hooks", "secret": "whsec_..."}]. Secrets: or the whole '
        'list from RAVAO_WEBHOOKS_FILE, or "secret_file" (a path) in place of "secret". Unset: no webhooks.'
    )
    notify_retry_seconds: str = Field(
        "0,5,300,1800,7200,18000,36000,36000", pattern=r"^\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?)*\s*$",
        description="Waits before each attempt of one notification, in seconds (the first: 0, at once); after the "
        "last one fails it is given up (failed). The Standard Webhooks schedule by default; SMS too."
    )
    notify_timeout_seconds: float = Field(
        15.0, gt=0, description="How long one webhook attempt may take before it counts as failed (and is retried)."
    )
    notify_poll_seconds: float = Field(
        1.0, gt=0, description="How often the notifier looks for notifications due."
    )
    web_public_url: str = Field(
        "http://127.0.0.1:8090", description="Base URL of `ravao web` as recipients reach it: a notification links "
        "to <web_public_url>/alerts/<alert id>."
    )
    notify_advice: str = Field(
        "Clean and air the premises; staff present then: watch for symptoms and make a health declaration.",
        min_length=1, max_length=400, description="The advice every alert notification carries (SMS and webhook)."
    )
