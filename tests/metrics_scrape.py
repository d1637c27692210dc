"""Scraping a server's ``GET /metrics`` over HTTP, as Prometheus does, for the metrics tests."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(dashboard_url: str) -> Samples:
    """Every sample the server's /metrics answers: (sample name, its labels) -> value."""
    with urllib.request.urlopen(dashboard_url.rstrip("/") + "/metrics", timeout=30) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = reply.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """One sample's value; None when the server does not show it."""
    return samples.get((name, frozenset(labels.items())))
