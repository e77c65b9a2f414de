"""Every record type: canonical examples parse (or fail) as documented; the committed
JSON Schema files are what the models export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.cli.qr import DEFAULT_SCHEMA_DIR, export_schemas
from schemas import RECORDS, RawScan, RejectReason

EXAMPLES = Path(__file__).resolve().parents[1] / "schemas" / "examples"


def examples(kind: str) -> list[tuple[str, Path]]:
    return [(name, path) for name in RECORDS for path in sorted((EXAMPLES / name / kind).glob("*"))]


@pytest.mark.parametrize("name, path", examples("valid"), ids=lambda v: getattr(v, "name", v))
def test_valid_examples_parse_and_round_trip(name: str, path: Path) -> None:
    record = RECORDS[name].from_bytes(path.read_bytes())
    assert RECORDS[name].from_bytes(record.to_bytes()) == record


@pytest.mark.parametrize("name, path", [e for e in examples("invalid") if e[0] != "raw_scan"],
                         ids=lambda v: getattr(v, "name", v))
def test_invalid_examples_are_refused_by_the_model(name: str, path: Path) -> None:
    with pytest.raises(ValidationError):
        RECORDS[name].from_bytes(path.read_bytes())


def test_every_record_type_has_valid_and_invalid_examples() -> None:
    for name in RECORDS:
        assert list((EXAMPLES / name / "valid").glob("*")), name
        assert list((EXAMPLES / name / "invalid").glob("*")), name


def test_invalid_raw_scans_name_a_known_reject_reason_and_undecodable_ones_do_not_parse() -> None:
    seen = set()
    for path in (EXAMPLES / "raw_scan" / "invalid").glob("*"):
        reason = RejectReason(path.name.split("__")[0])
        seen.add(reason)
        if reason is RejectReason.undecodable:
            with pytest.raises(ValidationError):
                RawScan.from_bytes(path.read_bytes())
    # internal_error marks a bug in the validator: no input is meant to cause it.
    assert seen == set(RejectReason) - {RejectReason.internal_error}, f"no example for {set(RejectReason) - seen}"


def test_the_committed_json_schemas_are_up_to_date(tmp_path: Path) -> None:
    for fresh in export_schemas(tmp_path):
        committed = DEFAULT_SCHEMA_DIR / fresh.name
        assert committed.exists(), f"run `ravao schemas export` and commit {committed.name}"
        assert json.loads(committed.read_text()) == json.loads(fresh.read_text()), (
            f"{committed.name} is stale: run `ravao schemas export`")


@pytest.mark.parametrize("version", ['"1"', "1.0", "true"])
def test_a_schema_version_that_is_not_an_integer_is_refused(version: str) -> None:
    valid = (EXAMPLES / "raw_scan" / "valid" / "guard_phone_auto.json").read_text()
    assert RawScan.from_bytes(valid).schema_version == 1
    with pytest.raises(ValidationError, match="schema_version"):
        RawScan.from_bytes(valid.replace('"schema_version": 1', f'"schema_version": {version}'))
