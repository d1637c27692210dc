"""The PROJECTSxRUNS sizes the store benchmarks take (projects_page, savings)."""

from __future__ import annotations

import argparse


def parse_size(text: str, *, example: str, min_runs: int = 1, why: str = "") -> tuple[int, int]:
    """``text`` as (projects, runs each); ``min_runs``: the fewest runs a project may have, ``why``
    says what needs them."""
    try:
        projects, runs = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a size is PROJECTSxRUNS (e.g. {example}), got {text!r}") from None
    if projects < 1 or runs < min_runs:
        need = "one run" if min_runs == 1 else f"{min_runs} runs"
        raise argparse.ArgumentTypeError(f"a size needs at least one project and {need}{why}, got {text!r}")
    return projects, runs
