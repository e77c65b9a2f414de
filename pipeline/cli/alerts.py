"""`ravao alerts`: the alerting job, and `alerts list|confirm|status` for people."""

from __future__ import annotations

import json
import sys
from uuid import UUID

import typer

from ..access import cli_caller
from ..kafka_local import bootstrap_servers
from ..settings import get_settings

alerts_app = typer.Typer(help="The alerting job, and its alerts. Without a sub-command: run the job (venue "
                         "alerts, contact lists, cluster alerts, and their notifications) until Ctrl-C.\n\n"
                         "Example: ravao alerts list --area 718 --format csv", invoke_without_command=True)


@alerts_app.callback()
def alerts(ctx: typer.Context) -> None:
    """Run the alerting job: every case on the `cases` topic is evaluated against the
    warehouse when registered, when its status or onset changes, when late visits at its
    venues and times land, and every RAVAO_ALERTS_RECHECK_SECONDS; its venue alerts,
    contacts and cluster alerts go to the `alerts` and `contacts` topics, confirmed alerts
    to their recipients. Reads the warehouse as the `alerts` account (the sink's door in the
    embedded default, or RAVAO_CLICKHOUSE_URL). Prometheus metrics (evaluations, alerts
    written, notifications sent and failed) on RAVAO_METRICS_HOST:RAVAO_ALERTS_METRICS_PORT
    when that port is set (0: off).

    Example: ravao alerts
    """
    if ctx.invoked_subcommand is not None:
        return
    from ..alerts.service import serve

    serve(get_settings())


@alerts_app.command("list")
def alerts_list(
    venue: str = typer.Option("", help="Only this venue's alerts"),
    area: str = typer.Option("", help="Only alerts at venues in this area (a commune, district or province)"),
    case: str = typer.Option("", "--case", help="Only this case's alerts (and clusters it is part of)"),
    status: str = typer.Option("", help="proposed, confirmed, notified or retracted"),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json"),
) -> None:
    """List alerts, newest first: each alert's latest version, its venue, cases, time range,
    exposed count and how long it took from the case's registration.

    Example: ravao alerts list --status proposed
    """
    from ..access import reads_for
    from ..warehouse import open_for_reading
    from ..warehouse.output import FORMATS, render
    from ..warehouse.queries import QueryInputError

    if fmt not in FORMATS:
        raise QueryInputError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    settings = get_settings()
    with open_for_reading(settings) as warehouse:
        reads = reads_for(settings, warehouse)
        result = reads.alerts(cli_caller(), venue=venue.strip(), area=area.strip(), case=case.strip(),
                              status=status.strip())
        reads.trail.close()
    sys.stdout.write(render(result, fmt))


@alerts_app.command("confirm")
def alerts_confirm(alert_id: str = typer.Argument(..., help="The alert's id (from `ravao alerts list`)")) -> None:
    """Confirm a proposed alert: its notifications then go out (the job applies the
    decision within a second).

    Example: ravao alerts confirm 6b3f2c1a-0000-4000-8000-000000000001
    """
    from ..alerts.decisions import confirm

    try:
        wanted = UUID(alert_id.strip())
    except ValueError:
        raise typer.BadParameter(f"{alert_id[:40]!r} is not an alert id") from None
    settings = get_settings()
    alert = confirm(settings, bootstrap_servers(settings), wanted, cli_caller().actor)
    if alert.status.value == "proposed":
        typer.echo(f"{wanted}: confirmed; the alerting job sends its notifications")
    else:
        typer.echo(f"{wanted}: already {alert.status} (version {alert.version}); nothing to do")


@alerts_app.command("status")
def status(
    failed: bool = typer.Option(False, "--failed", help="Only the notifications given up (failed) or not sent "
                                "because their endpoint is disabled"),
    fmt: str = typer.Option("table", "--format", help="table or json"),
) -> None:
    """Every notification's delivery state: delivered, pending (with its next attempt),
    failed (with the last error), and the webhook endpoints disabled by a 410 Gone. Phone
    numbers are masked.

    Example: ravao alerts status --failed --format json
    """
    from ..alerts.outbox import Outbox
    from ..alerts.status import status_result, summary
    from ..topics import topics_for
    from ..warehouse.output import render

    if fmt not in ("table", "json"):
        raise typer.BadParameter("one of table, json", param_hint="--format")
    settings = get_settings()
    outbox = Outbox(bootstrap_servers(settings), topics_for(settings).notifications.name)
    outbox.restore()
    result = status_result(outbox, failed_only=failed)
    if fmt == "json":
        typer.echo(json.dumps({"notifications": result.dicts(),
                               "endpoints_disabled": sorted(outbox.disabled_endpoints())},
                              ensure_ascii=False, indent=1))
        return
    typer.echo(render(result, "table") + summary(outbox), nl=False)
