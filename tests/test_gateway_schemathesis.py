"""Property-based tests of the gateway against its own OpenAPI document (schemathesis):
whatever a client sends, the answer is never a 500 and matches the documented
statuses, content types and schemas. The number of examples is bounded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from conftest import TEST_QR_KEYS
from gateway_helpers import Stack, register, start_gateway, stop_gateway
from pipeline.kafka_io import ensure_topics
from pipeline.settings import Settings
from pipeline.topics import topics_for

pytestmark = pytest.mark.kafka
MAX_EXAMPLES = 50  # per operation and generation mode
@pytest.fixture(scope="module")
def gateway(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    home = tmp_path_factory.mktemp("gateway-schemathesis")
    config = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"s{uuid.uuid4().hex[:10]}.",
                      topic_partitions=3, data_dir=home / "data", qr_keys=TEST_QR_KEYS)
    ensure_topics(kafka_bootstrap, topics_for(config).all())
    stack = register(config)
    # Rates out of the way: this test is about the shape of the answers, not about throttling.
    process, base = start_gateway(config, home, RAVAO_GATEWAY_DEVICE_RATE="1000000", RAVAO_GATEWAY_DEVICE_BURST="1000000",
                                  RAVAO_GATEWAY_SELF_RATE="1000000", RAVAO_GATEWAY_SELF_BURST="1000000",
                                  RAVAO_GATEWAY_CLIENT_RATE="1000000", RAVAO_GATEWAY_CLIENT_BURST="1000000",
                                  RAVAO_GATEWAY_AUTH_FAILURE_RATE="1000000", RAVAO_GATEWAY_AUTH_FAILURE_BURST="1000000")
    try:
        yield stack, base
    finally:
        assert stop_gateway(process) == 0


def operations(base: str) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_url(base + "/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


# schemathesis's pytest plugin (`schema.parametrize`) does not run under pytest 9 (it reads
# a node attribute that pytest removed), so each operation's strategy is drawn with
# Hypothesis directly: the same cases and the same checks.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_answers_as_documented_and_never_with_a_500(gateway: tuple[Stack, str], mode: GenerationMode) -> None:
    stack, base = gateway
    found = operations(base)
    assert {op.path for op in found} >= {"/api/v1/scans", "/api/v1/scans/batch", "/api/v1/checkins"}
    for operation in found:
        if mode is GenerationMode.NEGATIVE and not operation.body:
            continue  # nothing to get wrong in a GET without parameters
        headers = stack.bearer(stack.station) if operation.security else None

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, timeout=60)

        check()
