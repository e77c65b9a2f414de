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
) -> None:
    """One worker's events/s end to end (raw scans in, visits out) against a bare
    confluent-kafka consumer reading the same topic. Uses the local broker if one runs,
    else starts a temporary one.

    Example: ravao bench pipeline --scans 200000
    """
    from bench.pipeline import run

    run(scans, profile)
