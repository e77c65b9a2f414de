"""`ravao kafka start|stop|status`: the local broker."""

from __future__ import annotations

import typer

from ..kafka_io import ensure_topics
from ..kafka_local import LocalKafka
from ..settings import get_settings
from ..topics import topics_for

app = typer.Typer(
    help="Run a local Apache Kafka broker (KRaft, loopback) for tests and the embedded stack.\n\n"
    "Example: ravao kafka start",
    no_args_is_help=True,
)


@app.command()
def start() -> None:
    """Start the local broker (fetching its jars with Maven the first time) and create
    every topic. Prints the bootstrap address.

    Example: ravao kafka start
    """
    settings = get_settings()
    if settings.kafka_bootstrap:
        typer.echo(f"RAVAO_KAFKA_BOOTSTRAP is set ({settings.kafka_bootstrap}): no local broker started")
        raise typer.Exit(0)
    state = LocalKafka.from_settings(settings).start()
    ensure_topics(state.bootstrap, topics_for(settings).all(), settings.topic_replication)
    typer.echo(f"Kafka is running at {state.bootstrap} (pid {state.pid}, data in {state.home})")


@app.command()
def stop() -> None:
    """Stop the local broker; its data is kept for the next start.

    Example: ravao kafka stop
    """
    stopped = LocalKafka.from_settings(get_settings()).stop()
    typer.echo("Kafka stopped" if stopped else "Kafka was not running")


@app.command()
def status() -> None:
    """Say whether the local broker runs, and where. Exit status 1 if it does not.

    Example: ravao kafka status
    """
    state = LocalKafka.from_settings(get_settings()).state()
    if state is None:
        typer.echo("Kafka is not running (start it with `ravao kafka start`)")
        raise typer.Exit(1)
    typer.echo(f"Kafka is running at {state.bootstrap} (pid {state.pid}, data in {state.home})")


@app.command()
def topics() -> None:
    """Create every declared topic that is missing (on the local broker or on
    RAVAO_KAFKA_BOOTSTRAP) and list them with partitions, retention and key.

    Example: RAVAO_KAFKA_BOOTSTRAP=kafka:9092 ravao kafka topics
    """
    from rich.console import Console
    from rich.table import Table

    from ..kafka_local import bootstrap_servers

    settings = get_settings()
    declared = topics_for(settings).all()
    created = set(ensure_topics(bootstrap_servers(settings), declared, settings.topic_replication))
    table = Table("topic", "partitions", "retention", "key", "")
    for spec in declared:
        retention = "compacted" if spec.compacted else f"{settings.retention_days} days"
        table.add_row(spec.name, str(spec.partitions), retention, spec.key, "created" if spec.name in created else "")
    Console().print(table)
