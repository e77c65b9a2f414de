"""Reading Prometheus metrics in the tests, as Prometheus would: the text parsed with
prometheus-client's own parser, never searched as a string.

    families = parsed(urllib.request.urlopen(url).read().decode())
    assert value(families, "ravao_scans_accepted_total") == 3
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from pipeline.prometheus import exposition


def parsed(text: str) -> dict[str, list]:
    """Every sample of the exposition, by sample name (``ravao_x_total``)."""
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def of_registry(registry) -> dict[str, list]:
    body, _ = exposition(registry)
    return parsed(body.decode())


def value(samples: dict[str, list], name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` (0 if none)."""
    return sum(s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items()))
