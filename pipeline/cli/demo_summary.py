"""What `ravao demo` shows while it runs, read back from Kafka (the workers' counters) and
the warehouse (tier counts, visits, alerts): as tables for a terminal's live view, or as
one plain line for a log or a pipe.

    summary = Summary(settings, case_after=60)
    seen = summary.read()          # one snapshot; what cannot be read yet says why
    summary.render(seen)           # rich tables (the terminal)
    summary.line(seen)             # "12:00:10 stream: 1,234 scans (56/s) ... | tiers 74: ... | alerts: ..."
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from rich.console import Group
from rich.table import Table

from .demo_sign_in import PROVINCE

STREAM_COUNTERS = ("scans_duplicate", "scans_double", "visits_emitted", "visits_revised")
TIER_COLUMNS = {"venues": "venues_registered", "with scans": "venues_scanned", "scans": "scans",
                "entries": "entries", "exits": "exits", "declared": "scans_declared",
                "symptoms": "scans_with_symptoms", "people": "people"}


@dataclass
class Snapshot:
    """One reading; each part is None with the reason in ``waiting`` while it cannot be read."""

    stream: dict | None = None  # (counter, reason) -> value
    rate: float = 0.0  # scans accepted per second since the previous reading
    tiers: list[dict] | None = None  # rows of tier_counts for the province and its districts
    visits: int = 0
    alerts: Counter | None = None  # (kind, status) -> alerts
    waiting: dict[str, str] = field(default_factory=dict)  # part -> why not yet


class Summary:
    def __init__(self, settings, case_after: float = 0.0) -> None:
        self.settings = settings
        self.last: tuple[float, int] | None = None
        self.case_due = time.monotonic() + case_after if case_after > 0 else None
        self.case_id: str | None = None

    # --- reading --------------------------------------------------------------------------
    def read(self) -> Snapshot:
        seen = Snapshot()
        self._read_stream(seen)
        self._read_warehouse(seen)
        return seen

    def _read_stream(self, seen: Snapshot) -> None:
        from ..kafka_local import bootstrap_servers
        from ..stream.metrics import read_stats

        try:
            seen.stream = read_stats(bootstrap_servers(self.settings), self.settings)
        except Exception as exc:  # noqa: BLE001 - shown, retried at the next reading
            seen.waiting["stream"] = type(exc).__name__
            return
        accepted = seen.stream.get(("scans_accepted", ""), 0)
        now = time.monotonic()
        if self.last is not None and now > self.last[0]:
            seen.rate = max(0.0, (accepted - self.last[1]) / (now - self.last[0]))
        self.last = (now, accepted)

    def _read_warehouse(self, seen: Snapshot) -> None:
        from ..warehouse.connect import running_sink
        from ..warehouse.queries import load, run

        try:
            # Only through the sink: opening the embedded warehouse here would take it
            # from the sink, which is the one process allowed to hold it.
            warehouse = running_sink(self.settings)
            if warehouse is None:
                raise ConnectionError("the sink is starting")
            today = date.today()
            with warehouse:
                seen.tiers = run(warehouse, load("tier_counts"), {
                    "area": PROVINCE, "from_day": str(today - timedelta(days=1)), "to_day": str(today)}).dicts()
                seen.visits = warehouse.query("SELECT count() FROM visits FINAL WHERE NOT deleted").scalar()
                try:
                    rows = run(warehouse, load("alerts_list"), {"venue": "", "area": "", "case": "", "status": ""})
                    seen.alerts = Counter((r["kind"], r["status"]) for r in rows.dicts())
                except Exception as exc:  # noqa: BLE001 - shown, retried
                    seen.waiting["alerts"] = type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - the sink may still be starting: shown, retried
            seen.waiting["warehouse"] = seen.waiting["alerts"] = type(exc).__name__

    # --- showing ----------------------------------------------------------------------------
    def render(self, seen: Snapshot) -> Group:
        return Group(self._stream_table(seen), self._tier_table(seen), self._alerts_table(seen))

    def line(self, seen: Snapshot) -> str:
        """One plain line: the stream's counters, the province's tier totals, the alerts."""
        parts = [datetime.now().strftime("%H:%M:%S")]
        if seen.stream is None:
            parts.append(f"stream: not yet ({seen.waiting.get('stream', '')})")
        else:
            totals = seen.stream
            rejected = sum(v for (name, _r), v in totals.items() if name == "scans_rejected")
            parts.append(f"stream: {totals.get(('scans_accepted', ''), 0):,} scans accepted ({seen.rate:,.0f}/s), "
                         f"{rejected:,} dead letters, " + ", ".join(
                             f"{totals.get((n, ''), 0):,} {n.replace('_', ' ').removeprefix('scans ')}"
                             for n in STREAM_COUNTERS))
        if seen.tiers is None:
            parts.append(f"| tiers: not yet ({seen.waiting.get('warehouse', '')})")
        else:
            top = next((r for r in seen.tiers if r["area_id"] == PROVINCE), seen.tiers[0] if seen.tiers else None)
            counts = ", ".join(f"{top[key] or 0:,} {label}" for label, key in TIER_COLUMNS.items()) if top else "none"
            parts.append(f"| tiers {PROVINCE}: {counts}; {seen.visits:,} visits")
        if seen.alerts is None:
            parts.append(f"| alerts: not yet ({seen.waiting.get('alerts', '')})")
        else:
            parts.append("| alerts: " + (", ".join(f"{count:,} {kind} {status}" for (kind, status), count
                                                   in sorted(seen.alerts.items())) or "none yet"))
        return " ".join(parts)

    def _stream_table(self, seen: Snapshot) -> Table:
        table = Table(title="stream (ravao stats)", show_header=True)
        table.add_column("counter")
        table.add_column("count", justify="right")
        if seen.stream is None:
            table.add_row("(not yet)", seen.waiting.get("stream", ""))
            return table
        totals = seen.stream
        table.add_row("scans accepted", f"{totals.get(('scans_accepted', ''), 0):,}  ({seen.rate:,.0f}/s)")
        for (name, reason), value in sorted(totals.items()):
            if name == "scans_rejected":
                table.add_row(f"  dead letters: {reason}", f"{value:,}")
        for name in STREAM_COUNTERS:
            table.add_row(name.replace("_", " "), f"{totals.get((name, ''), 0):,}")
        return table

    def _tier_table(self, seen: Snapshot) -> Table:
        table = Table(title=f"tier counts, yesterday and today (ravao sql tier_counts -p area={PROVINCE})")
        if seen.tiers is None:
            table.add_column("warehouse")
            table.add_row(f"not yet: {seen.waiting.get('warehouse', '')}")
            return table
        table.add_column("area")
        for column in TIER_COLUMNS:
            table.add_column(column, justify="right")
        for row in seen.tiers:
            table.add_row(row["name"] or row["area_id"], *(f"{row[k] or 0:,}" for k in TIER_COLUMNS.values()))
        table.caption = f"visits in the warehouse: {seen.visits:,}"
        return table

    def _alerts_table(self, seen: Snapshot) -> Table:
        table = Table(title="alerts (ravao alerts list)")
        table.add_column("kind")
        table.add_column("status")
        table.add_column("alerts", justify="right")
        if seen.alerts is None:
            table.add_row("not yet", seen.waiting.get("alerts", ""), "")
            return table
        for (kind, status), count in sorted(seen.alerts.items()):
            table.add_row(kind, status, f"{count:,}")
        if not seen.alerts:
            table.add_row("none yet", "", "")
        return table

    def maybe_register_case(self) -> str | None:
        """Once --case-after has passed: the busiest simulated person of the last two days
        becomes a confirmed case (as a tracer would register them), once."""
        if self.case_due is None or self.case_id is not None or time.monotonic() < self.case_due:
            return None
        from schemas.cases import CaseStatus

        from ..alerts.cases import CaseBook
        from ..kafka_local import bootstrap_servers
        from ..warehouse.connect import running_sink
        from ..warehouse.queries import load, run

        try:
            warehouse = running_sink(self.settings)
            if warehouse is None:
                return None
            now = datetime.now(timezone.utc)
            with warehouse:
                found = run(warehouse, load("demo_case_candidate"),
                            {"from": now - timedelta(days=2), "to": now}).dicts()
            if not found:
                return None
            book = CaseBook(self.settings, bootstrap_servers(self.settings))
            try:
                case, _ = book.register(found[0]["person_id"], now.date(), CaseStatus.confirmed,
                                        by="demo", known=lambda _p: True)
            finally:
                book.close()
        except Exception as exc:  # noqa: BLE001 - tried again at the next tick
            return f"[yellow]the demo's case is not registered yet ({type(exc).__name__})[/]"
        self.case_id = case.case_id
        return (f"registered case {case.case_id} for the busiest simulated person: see `ravao alerts list`; "
                "`ravao alerts confirm ID` sends its notifications")
