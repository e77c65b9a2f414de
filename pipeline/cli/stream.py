"""`ravao worker` and `ravao stats`."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from ..kafka_local import bootstrap_servers
from ..settings import get_settings


def worker(
    name: str = typer.Option("worker", help="Names the local state folder (RAVAO_DATA_DIR/worker/NAME); "
                             "give each worker on one host its own"),
    port: int = typer.Option(None, help="Web port for /metrics (default RAVAO_WORKER_PORT; 0: none)"),
    memory: bool = typer.Option(False, "--memory", help="Keep tables in memory (tests; state is rebuilt "
                                "from the changelog at every start)"),
    loglevel: str = typer.Option("info", help="debug, info, warning or error"),
) -> None:
    """Run a stream worker: validate raw scans, drop duplicates, pair entries with exits
    into visits. Start several with the same settings to share the partitions.

    Example: ravao worker --name w1 --port 6066
    """
    from ..stream.layout import TopicLayoutError
    from ..stream.worker import Worker

    try:
        app = Worker(get_settings(), name=name, store="memory://" if memory else "rocksdb://", web_port=port)
    except TopicLayoutError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    app.run(loglevel)


def stats(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table")) -> None:
    """Counters of every worker that ran on this cluster, summed: scans accepted,
    rejected by reason, duplicates, double scans, visits emitted and revised. Replays
    after a crash count again (processing is at-least-once).

    Example: ravao stats
    """
    import json

    from ..stream.metrics import COUNTERS
    from ..stream.metrics import read_stats

    settings = get_settings()
    totals = read_stats(bootstrap_servers(settings), settings)
    if as_json:
        typer.echo(json.dumps({f"{n}{':' + r if r else ''}": v for (n, r), v in sorted(totals.items())}, indent=1))
        return
    table = Table("counter", "reason", "count", "meaning")
    for (name, reason), value in sorted(totals.items()):
        table.add_row(name, reason, str(value), COUNTERS.get(name, ""))
    Console().print(table)
