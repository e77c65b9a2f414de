"""`ravao qr check` and `ravao schemas export`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from schemas import RECORDS
from schemas.qrcode import InvalidCode

from ..keys import load_codec
from ..settings import PROJECT_ROOT, get_settings

qr_app = typer.Typer(help="Check QR codes.\n\nExample: ravao qr check 'RVBK BPLO ...'", no_args_is_help=True)
schemas_app = typer.Typer(help="JSON Schema of every record.\n\nExample: ravao schemas export", no_args_is_help=True)

DEFAULT_SCHEMA_DIR = PROJECT_ROOT / "schemas" / "jsonschema"


@qr_app.command("check")
def check(
    text: str = typer.Argument(..., help="What the reader typed, a code, or a poster URL"),
    expect: str = typer.Option("", help="person or venue, to refuse the other kind"),
) -> None:
    """Say whether TEXT is a genuine code and, if not, why (misread, Caps Lock on,
    keyboard layout, truncated, forged, old key). Exit status 1 when it is not valid.

    Example: ravao qr check RVBKBPLONKUOJOGSVVIEKSSDGVRBGBNCDPFO --expect person
    """
    kinds = {"": None, "person": "P", "venue": "V"}
    if expect not in kinds:
        raise typer.BadParameter("expect person or venue", param_hint="--expect")
    try:
        decoded = load_codec(get_settings()).decode(text, expect=kinds[expect])
    except InvalidCode as exc:
        typer.echo(f"invalid ({exc.reason.value}): {exc.message}")
        raise typer.Exit(1)
    kind = "person" if decoded.kind == "P" else "venue"
    typer.echo(f"valid {kind} code: {decoded.entity_id} (key {decoded.key_id})")


def export_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in RECORDS.items():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written


@schemas_app.command("export")
def export(directory: Path = typer.Argument(DEFAULT_SCHEMA_DIR, help="Where to write the files")) -> None:
    """Write one JSON Schema file per record type (<name>.schema.json).

    Example: ravao schemas export /tmp/ravao-schemas
    """
    for path in export_schemas(directory):
        typer.echo(str(path))
