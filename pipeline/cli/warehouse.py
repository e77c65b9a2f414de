"""`ravao migrate`, `ravao sink`, `ravao sql`, `ravao trace`, `ravao warehouse ...`."""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone

import typer

from ..settings import get_settings

log = logging.getLogger("ravao.warehouse")

warehouse_app = typer.Typer(
    help="Look after the warehouse.\n\nExample: ravao warehouse check",
    no_args_is_help=True, rich_markup_mode=None,
)


def migrate() -> None:
    """Apply the warehouse migrations (sql/migrations) that have not run yet, in order,
    then set the tables' TTL to RAVAO_RETENTION_DAYS if it changed. Safe to run twice.
    The embedded warehouse cannot be migrated while `ravao sink` holds it (the sink
    migrates when it starts).

    Example: ravao migrate
    """
    from ..warehouse import open_warehouse
    from ..warehouse.migrations import migrate as apply

    settings = get_settings()
    with open_warehouse(settings) as warehouse:
        applied = apply(warehouse, settings.retention_days)
        typer.echo(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else "")
                   + f"; warehouse: {warehouse.location}; retention {settings.retention_days} days")


def sink(
    group: str = typer.Option(None, help="Consumer group (default <prefix>ravao-sink); Kafka's committed "
                              "offsets only show lag, the position is kept in the warehouse"),
    replay: bool = typer.Option(False, "--replay", help="Read every topic from offset 0 again, ignoring the "
                                "stored positions; idempotent inserts leave every query result unchanged"),
    until_caught_up: bool = typer.Option(False, "--until-caught-up", help="Exit once everything published "
                                         "before the start is written (a one-off backfill or replay)"),
) -> None:
    """Run the sink: read scans.valid, visits, scans.dlq and the registry topics, insert
    them into the warehouse in batches (RAVAO_SINK_BATCH_ROWS / RAVAO_SINK_BATCH_SECONDS),
    exactly once per event and visit version; pause and retry while the warehouse is
    down. With the embedded warehouse it also answers ClickHouse's HTTP interface,
    read-only, on 127.0.0.1:RAVAO_SINK_PORT, for `ravao sql`, `ravao trace`, the
    services and an analyst's ClickHouse tools (`ravao warehouse url`). Prometheus
    metrics (batches, rows, insert seconds, dead letters by reason, lag) on
    RAVAO_METRICS_HOST:RAVAO_SINK_METRICS_PORT/metrics when that port is set (0: off).
    SIGTERM stops it after writing what it has read.

    Example: RAVAO_SINK_METRICS_PORT=9464 ravao sink
    """
    from ..sink.service import run_sink
    from ..warehouse import WarehouseError

    try:
        totals = run_sink(get_settings(), group=group, replay=replay, until_caught_up=until_caught_up)
    except WarehouseError:
        log.exception("the sink stopped: the warehouse refused a write (retrying would not help)")
        raise typer.Exit(1) from None
    if until_caught_up:
        typer.echo("rows sent: " + (", ".join(f"{t} {n}" for t, n in sorted(totals.items())) or "none"))


def sql(
    query: str = typer.Argument(None, help="A query of the library (sql/queries/NAME.sql) or a .sql file; "
                                "none: list the library"),
    param: list[str] = typer.Option([], "--param", "-p", help="NAME=VALUE, once per parameter; times as "
                                    "2026-03-01T08:00 (UTC unless an offset is given), now or now-14d"),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json"),
) -> None:
    """Run a query of the library, or a .sql file holding one read (SELECT, WITH ...
    SELECT), with typed {name:Type} parameters. The warehouse's door refuses anything
    else: writes, KILL, SYSTEM, SETTINGS, INTO OUTFILE, table functions that reach files,
    URLs, servers or programs, and personal tables (read only by `ravao trace
    --with-names`). Goes through the running sink's door if it holds the embedded
    warehouse.

    Example: ravao sql f1_contacts -p person=PBCDEFGHIJKLNOP -p from=now-14d -p to=now -p min_overlap_seconds=15m
    """
    from ..warehouse import open_for_reading
    from ..warehouse.output import FORMATS, render
    from ..warehouse.queries import QueryInputError, library, load, run

    if fmt not in FORMATS:
        raise QueryInputError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    if query is None:
        for item in library():
            params = ", ".join(f"{n} {t}" for n, t in item.parameters.items()) or "no parameters"
            typer.echo(f"{item.name:24} {item.summary}\n{'':24} ({params})")
        return
    chosen = load(query)
    values = {}
    for item in param:
        name, sep, value = item.partition("=")
        if not sep:
            raise QueryInputError(f"--param {item!r}: write NAME=VALUE")
        values[name.strip()] = value
    from ..access import cli_caller, reads_for

    settings = get_settings()
    with open_for_reading(settings) as warehouse:
        result = reads_for(settings, warehouse).sql(cli_caller(), chosen, values)
    sys.stdout.write(render(result, fmt))


def trace(
    person: str = typer.Argument(..., help="The case's person id"),
    start: str = typer.Option(None, "--from", help="Window start (default: 14 days before the person's case "
                              "onset, or 14 days ago)"),
    end: str = typer.Option("now", "--to", help="Window end"),
    min_overlap: str = typer.Option("15m", "--min-overlap", help="Least total time together: 15m, 1h, 900s"),
    depth: int = typer.Option(1, "--depth", min=1, max=2, help="1: F1 contacts; 2: also their contacts (F2)"),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json"),
    with_names: bool = typer.Option(False, "--with-names", help="Add names, phones and ID numbers in full; "
                                    "writes who asked, and why, to the audit log first"),
    case: str = typer.Option(None, "--case", help="The case this trace is for: the purpose kept in the audit "
                             "row (default: admin)"),
    actor: str = typer.Option(None, help="Whom you ask for, kept in the audit row as a claim; the row's "
                              "actor is this machine's account, acting as admin"),
) -> None:
    """List a case's contacts: F1 (at the same venue at the same time, for at least the
    minimum overlap in total) and, with --depth 2, F2. Ranked by total overlap, with the
    venues and the first and last contact. Shows person ids only unless --with-names.

    Example: ravao trace PBCDEFGHIJKLNOP --min-overlap 15m --depth 2 --format csv > contacts.csv
    """
    from ..warehouse import open_for_reading
    from ..warehouse.output import FORMATS, render
    from ..warehouse.queries import QueryInputError, parse_duration, parse_time
    from ..warehouse.trace import TraceRequest, default_start
    from ..access import cli_caller, reads_for

    if fmt not in FORMATS:
        raise QueryInputError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    now = datetime.now(timezone.utc)
    settings = get_settings()
    caller = cli_caller()
    with open_for_reading(settings) as warehouse:
        reads = reads_for(settings, warehouse)
        request = TraceRequest(
            person=person.strip(),
            start=parse_time(start, now) if start else default_start(reads, caller, person.strip(), now, case),
            end=parse_time(end, now),
            min_overlap_seconds=parse_duration(min_overlap),
            depth=depth,
        )
        if request.end <= request.start:
            raise QueryInputError("--to must be after --from")
        result = reads.trace(caller, request, purpose=case, with_names=with_names, claimed_for=actor)
        reads.trail.close()
    sys.stdout.write(render(result, fmt))


@warehouse_app.command("check")
def check(repair: bool = typer.Option(False, "--repair", help="Rebuild the days that disagree from the raw "
                                      "scans (stop every sink first)")) -> None:
    """Compare the tier-count views with a recount from the raw scans, every area and
    period; exit 1 if they differ. --repair rebuilds the days that disagree.

    Example: ravao warehouse check
    """
    from ..warehouse import open_for_reading, open_warehouse
    from ..warehouse.tier_counts import mismatches
    from ..warehouse.tier_counts import repair as rebuild

    settings = get_settings()
    opener = open_warehouse if repair else open_for_reading
    with opener(settings) as warehouse:
        if repair:
            days = rebuild(warehouse)
            typer.echo(f"rebuilt {len(days)} day(s)" + (": " + ", ".join(map(str, days)) if days else ""))
        found = mismatches(warehouse)
    if found.rows:
        for row in found.rows[:50]:
            typer.echo(f"{row[0]} {row[1]} {row[2]}: raw {row[3]} counted {row[4]}")
        typer.echo(f"{len(found.rows)} mismatch(es): run `ravao warehouse check --repair` with the sinks stopped")
        raise typer.Exit(1)
    typer.echo("tier counts equal a recount from the raw scans")


@warehouse_app.command("status")
def status() -> None:
    """Rows per table, the newest data, and where the sink will resume.

    Example: ravao warehouse status
    """
    from ..warehouse import open_for_reading

    with open_for_reading(get_settings()) as warehouse:
        typer.echo(f"warehouse: {warehouse.location}")
        tables = warehouse.query(
            "SELECT name, total_rows FROM system.tables WHERE database = currentDatabase() "
            "AND engine LIKE '%MergeTree' ORDER BY name")
        for name, rows in tables.rows:
            typer.echo(f"  {name:22} {rows or 0:>12} rows")
        positions = warehouse.query(
            "SELECT topic, partition, max(next_offset) FROM sink_positions GROUP BY topic, partition "
            "ORDER BY topic, partition")
        for topic, partition, offset in positions.rows:
            typer.echo(f"  resume {topic}[{partition}] at offset {offset}")


@warehouse_app.command("url")
def url(show_password: bool = typer.Option(False, "--show-password", help="Include the admin password "
                                           "(anyone who sees it can read the warehouse)")) -> None:
    """Print the URL of the running sink's door, for an analyst's ClickHouse tools
    (clickhouse-connect, Grafana's ClickHouse plugin, curl): ClickHouse's HTTP interface,
    read-only, signed in as admin. The password is in RAVAO_DATA_DIR/sink.json (mode
    600), and shown only with --show-password. With RAVAO_CLICKHOUSE_URL set, prints
    that server's URL without its password.

    Example: ravao warehouse url --show-password
    """
    from ..warehouse.client import redact
    from ..warehouse.connect import live_sink

    settings = get_settings()
    if settings.clickhouse_url:
        typer.echo(settings.clickhouse_url if show_password else redact(settings.clickhouse_url))
        return
    state = live_sink(settings)
    if state is None:
        typer.echo(f"no running sink holds {settings.warehouse_dir}: start it with `ravao sink` (or `ravao up`)",
                   err=True)
        raise typer.Exit(1)
    typer.echo(state.url_for("admin", with_password=show_password))


@warehouse_app.command("grants")
def grants(
    database: str = typer.Option(None, help="The server's database (default: the one of RAVAO_CLICKHOUSE_URL, "
                                 "else default)"),
    area_officer: list[str] = typer.Option([], "--area-officer", help="USER=AREA: a user who reads the "
                                           "area-scoped tables of AREA and below only; once per officer"),
) -> None:
    """Print the SQL that gives a ClickHouse server ravao's access control, for operators
    who connect Grafana or analysts straight to it: a readonly=1 settings profile with
    the door's limits (RAVAO_QUERY_*), a read-only role per service (web, alerts) and per
    people-role (tracer, analyst, area officer), SELECT on the non-personal tables,
    personal tables only to the roles that need them, a user per service and per area
    officer (random passwords, shown once) and a row policy per officer and area-scoped
    table. Run it as the server's administrator.

    Example: ravao warehouse grants --area-officer hoa=25741 --area-officer lan=718 > grants.sql
    """
    from urllib.parse import urlsplit

    from ..warehouse.door import configured_read_settings
    from ..warehouse.grants import parse_officers, statements
    from ..warehouse.queries import QueryInputError

    settings = get_settings()
    if database is None:
        path = urlsplit(settings.clickhouse_url).path.strip("/") if settings.clickhouse_url else ""
        database = path or "default"
    try:
        officers = parse_officers(area_officer)
    except ValueError as exc:
        raise QueryInputError(str(exc)) from None
    typer.echo("-- ravao's access control for a ClickHouse server; the passwords below are shown once")
    for statement in statements(database, configured_read_settings(), officers):
        typer.echo(statement + ";")
