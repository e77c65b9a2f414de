"""The production compose file: valid YAML, consistent with the settings, and safe by
default (no default password, nothing but the gateway published, and that on loopback).
Docker cannot run here; this reads the file as compose would."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from pipeline.settings import Settings

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_the_clickhouse_password_must_be_set_and_has_no_default() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    uses = re.findall(r"\$\{CLICKHOUSE_PASSWORD([^}]*)\}", text)
    assert uses and all(use.startswith(":?") for use in uses), uses
    assert "change-me" not in text


def test_only_the_gateway_is_published_and_only_on_loopback() -> None:
    services = compose()["services"]
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert published == {"gateway": ["127.0.0.1:8080:8080"]}
    assert compose()["networks"]["backend"]["internal"] is True
    for name in ("kafka", "clickhouse", "worker", "sink"):
        assert services[name]["networks"] == ["backend"], name


def test_the_gateway_trusts_the_forwarded_address_of_the_edge_bridge_only() -> None:
    gateway = compose()["services"]["gateway"]
    edge = compose()["networks"]["edge"]["ipam"]["config"][0]
    assert gateway["environment"]["RAVAO_GATEWAY_TRUSTED_PROXIES"] == edge["gateway"]


def test_every_ravao_variable_in_the_compose_file_is_a_setting() -> None:
    names = set(re.findall(r"\bRAVAO_([A-Z0-9_]+?)(?:_FILE)?\b(?=[:}\s])", COMPOSE.read_text(encoding="utf-8")))
    assert names and {n.lower() for n in names} <= set(Settings.model_fields), names
