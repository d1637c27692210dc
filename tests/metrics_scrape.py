"""Scraping a server's ``GET /metrics`` over HTTP, as Prometheus does, for the metrics tests."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape_text(dashboard_url: str) -> str:
    """What the server's /metrics answers, as Prometheus reads it (the text format)."""
    with urllib.request.urlopen(dashboard_url.rstrip("/") + "/metrics", timeout=30) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return str(reply.read().decode())


def samples_of(text: str) -> Samples:
    """Every sample of a scrape's ``text``: (sample name, its labels) -> value."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(dashboard_url: str) -> Samples:
    """Every sample the server's /metrics answers: (sample name, its labels) -> value."""
    return samples_of(scrape_text(dashboard_url))


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """One sample's value; None when the server does not show it."""
    return samples.get((name, frozenset(labels.items())))
