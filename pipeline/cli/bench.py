"""`ravao bench ...`: the benchmarks in bench/, each against a baseline of the same run."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Benchmarks that print ratios against a baseline measured in the same run.\n\n"
                  "Example: ravao bench pipeline --scans 100000", no_args_is_help=True)


@app.command()
def pipeline(
    scans: int = typer.Option(100_000, help="Raw scans to pre-load"),
    profile: Path = typer.Option(None, help="Run the worker under pyinstrument and write its text report here"),
    key: str = typer.Option("person", help="Key of the raw scans: person (as the gateway publishes them) or "
                            "device (as a station publishing straight to Kafka might: one more hop)"),
    envelope_size: int = typer.Option(50, min=2, max=1000, help="Scans per envelope and partition in the "
                                      "envelope run"),
    inside: int = typer.Option(0, min=0, help="Also measure the worker's memory with this many people inside "
                               "venues at once (e.g. 1000000); 0: not"),
) -> None:
    """One worker's raw scans/s end to end (raw scans in, visits out), one scan per
    message and in envelopes, against a bare confluent-kafka consumer reading the same
    topic and against Faust alone moving the same messages with no work. Uses the local
    broker if one runs, else starts a temporary one.

    Example: ravao bench pipeline --scans 200000 --inside 1000000
    """
    from bench.pipeline import run

    if key not in ("person", "device"):
        raise typer.BadParameter("person or device", param_hint="--key")
    run(scans, profile, by_device=key == "device", envelope_size=envelope_size, inside=inside)


@app.command()
def gateway(
    scans: int = typer.Option(50_000, help="Scans sent in batches"),
    batch: int = typer.Option(500, help="Scans per HTTP batch"),
    concurrency: int = typer.Option(4, help="Clients sending batches at once"),
    rate: float = typer.Option(500.0, help="Single-scan requests per second for the latency part (200/s is "
                               "measured too, in the same run)"),
    seconds: float = typer.Option(30.0, help="How long the latency part runs at each rate"),
    envelopes: str = typer.Option("on,off", help="Gateways to measure in turn: envelopes on, off, or on,off"),
    workers: int = typer.Option(1, help="Processes of each measured gateway (RAVAO_GATEWAY_WORKERS)"),
    profile: Path = typer.Option(None, help="Sample the last gateway with py-spy at --rate, print its busiest "
                                 "frames and write the collapsed stacks (a flame graph's input) here"),
) -> None:
    """Scans/s accepted end to end by a gateway (HTTP batch -> Kafka acknowledged)
    against a bare confluent-kafka producer sending the same events in the same run; then
    p50/p99 of single-scan requests at a constant rate from vegeta (`make vegeta`, run by
    itself when it is missing) at 200/s and at --rate. Goal: p99 under 50 ms at 500/s on
    one process.

    Example: ravao bench gateway --scans 20000 --rate 500 --envelopes on,off
    """
    from bench.gateway import Mode, run

    asked = [part.strip() for part in envelopes.split(",") if part.strip()]
    if not asked or any(part not in ("on", "off") for part in asked):
        raise typer.BadParameter("on, off, or on,off", param_hint="--envelopes")
    modes = [Mode(envelopes=part == "on", workers=workers) for part in asked]
    run(scans=scans, batch=batch, concurrency=concurrency, rate=rate, seconds=seconds, modes=modes, profile=profile)


@app.command()
def warehouse(
    visits: int = typer.Option(10_000_000, help="Visits to generate (a month of a province)"),
    days: int = typer.Option(30, help="Days the visits span"),
    cases: int = typer.Option(20, help="F1 traces timed through the co-presence index"),
    naive_cases: int = typer.Option(3, help="F1 traces timed with the naive self-join"),
    sink_rows: int = typer.Option(300_000, help="Messages for the sink measurement"),
) -> None:
    """F1 trace latency through the co-presence index against a naive self-join, tier
    counts from the views against a GROUP BY over raw scans, and the sink's rows/s
    against one bulk INSERT of the same rows, all in the same run on a fresh warehouse.

    Example: ravao bench warehouse --visits 1000000
    """
    from bench.warehouse import run

    run(visits, days, cases, naive_cases, sink_rows)


@app.command()
def alerts(
    visits: int = typer.Option(10_000_000, help="Visits to generate (a month of a province)"),
    cases: int = typer.Option(20, help="Cases registered, one after another"),
    days: int = typer.Option(30, help="Days the visits span"),
    profile: Path = typer.Option(None, help="Run the alerting job's loop under pyinstrument and write its text "
                                 "report here"),
) -> None:
    """A case registered to every venue alert of it on the `alerts` topic (p50/p99), on a
    fresh warehouse behind a real `ravao sink`, beside the bare F1 query for the same case
    and window through the same door, in the same run. Goal: under 5 s end to end. Uses
    the local broker if one runs, else starts a temporary one.

    Example: ravao bench alerts --visits 1000000 --cases 10
    """
    from bench.alerts import run

    run(visits, cases, days, profile)


@app.command()
def web(
    visits: int = typer.Option(10_000_000, help="Visits to generate (a month of a province)"),
    days: int = typer.Option(30, help="Days the visits span"),
    cases: int = typer.Option(5, help="Open cases the F1 view is asked for, in turn"),
    requests: int = typer.Option(100, help="Timed requests per page (and as many bare SQL runs)"),
) -> None:
    """Server time (p50/p99) of the tier page (a province, 30 days) and of the tracing
    console's F1 view, answered by the real app in-process (httpx's ASGI transport) to a
    signed-in provincial officer and tracer, beside the bare SQL each page is for (the
    tier counts, the F1 trace) with the same parameters, alternating, in the same run, on
    a fresh warehouse. Goal: page p99 under 150 ms.

    Example: ravao bench web --visits 1000000 --requests 50
    """
    from bench.web import run

    run(visits, days, cases, requests)
