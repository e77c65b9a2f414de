"""The `ravao` command: one entry point, a sub-command per job.

Every command's help ends with an example; `tests/test_cli_help.py` fails when one
does not.
"""

from __future__ import annotations

import logging
import sys

import typer
from pydantic import ValidationError

from ..access.audit import AuditUnavailable
from ..access.policy import Denied
from ..areas import AreaSourceError
from ..kafka_local import KafkaSetupError
from ..private_files import keep_new_files_private
from ..keys import KeyConfigError
from ..registry import RegistryError
from ..warehouse import WarehouseError
from . import bench, demo, kafka, qr, registry, stream, warehouse
from . import gateway
from . import edge
from . import audit, web
from . import users
from . import alerts

app = typer.Typer(
    name="ravao",
    help="Entry/exit control by signed QR codes, streamed through Kafka into ClickHouse, "
    "for fast contact tracing.\n\nExample: ravao kafka start && ravao areas load vn-2025",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(kafka.app, name="kafka")
app.add_typer(registry.areas_app, name="areas")
app.add_typer(registry.venue_app, name="venue")
app.add_typer(registry.person_app, name="person")
app.add_typer(registry.device_app, name="device")
app.add_typer(users.user_app, name="user")
app.add_typer(qr.qr_app, name="qr")
app.add_typer(qr.schemas_app, name="schemas")
app.add_typer(bench.app, name="bench")
app.command("up")(demo.up)
app.command("demo")(demo.demo)
app.command("worker")(stream.worker)
app.command("gateway")(gateway.gateway)
app.command("station")(edge.station)
app.command("simulate")(edge.simulate)
app.command("stats")(stream.stats)
app.command("migrate")(warehouse.migrate)
app.command("sink")(warehouse.sink)
app.command("sql")(warehouse.sql)
app.command("trace")(warehouse.trace)
app.add_typer(warehouse.warehouse_app, name="warehouse")
app.command("audit")(audit.audit)
app.command("web")(web.web)
app.add_typer(alerts.alerts_app, name="alerts")

# Errors a user can cause: a message that says what to do, and exit status 2.
USER_ERRORS = (AuditUnavailable, Denied, AreaSourceError, KafkaSetupError, KeyConfigError, RegistryError, WarehouseError)


def main() -> None:
    keep_new_files_private()  # the data directory holds personal data: files are the service user's only
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app()
    except USER_ERRORS as exc:
        print(f"ravao: {exc}", file=sys.stderr)
        sys.exit(2)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
        print(f"ravao: invalid input: {problems}", file=sys.stderr)
        sys.exit(2)
