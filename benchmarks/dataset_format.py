"""Reading files in the tuning dataset format v1 (see the datasets' README), with checks.

The benchmark must take *any* file in that format, so a file that breaks the format is refused
with the file, line and column at fault (`DatasetError`), never a traceback from deep inside a
tuner. What the format allows is accepted: blank ``vcpus``/``memory_gib`` (sources that hide
them), blank ``data_size_gb``, failed runs, extra ``m_*`` columns, a missing ``rep`` column.

A workload the harness cannot score is left out with a note rather than failing the file: it
needs two configurations with a successful run (the SLA is a quantile of their mean runtimes and
the oracle the cheapest under it; with one there is nothing to choose).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.space import Candidate

REQUIRED = ("dataset", "workload", "config_id", "instance_type", "vcpus", "memory_gib", "nodes",
            "price_per_hour", "runtime_s", "ok")
# Constant within a (workload, config_id): the configuration itself, not the run.
_CONFIG_COLUMNS = ("instance_type", "vcpus", "memory_gib", "nodes", "price_per_hour")
MIN_SCORABLE_CONFIGS = 2


class DatasetError(ValueError):
    """A file that is not in the tuning dataset format v1; the message says where and why."""


@dataclass
class Rep:
    runtime_s: float
    ok: bool
    metrics: dict[str, float]


@dataclass
class Workload:
    dataset: str
    name: str
    candidates: list[Candidate]
    reps: dict[str, list[Rep]]
    input_gb: float | None
    # Every row's data_size_gb: the harness gives a tuner one input size per workload (the median
    # when rows differ, `settle_input_size`), not the first row's.
    sizes: list[float] = field(default_factory=list)

    def mean_runtime(self, config_id: str) -> float | None:
        ok = [r.runtime_s for r in self.reps[config_id] if r.ok]
        return float(np.mean(ok)) if ok else None

    def feasible_configs(self) -> int:
        return sum(1 for c in self.candidates if self.mean_runtime(c.config_id) is not None)


def _number(value: str | None, where: str, column: str, *, blank_ok: bool = False,
            positive: bool = False) -> float | None:
    text = (value or "").strip()
    if not text:
        if blank_ok:
            return None
        raise DatasetError(f"{where}: {column} is blank (a number is required)")
    try:
        out = float(text)
    except ValueError:
        raise DatasetError(f"{where}: {column} {text!r} is not a number") from None
    if not math.isfinite(out):
        raise DatasetError(f"{where}: {column} {text!r} is not a finite number")
    if positive and out <= 0:
        raise DatasetError(f"{where}: {column} must be positive, got {text}")
    return out


def load_dataset(path: Path, note: Callable[[str], None] | None = None) -> list[Workload]:
    """The workloads of one file in the tuning dataset format v1, in file order.

    Raises `DatasetError` (file, line, what is wrong) for a missing file, a missing column, a value
    of the wrong type or sign, an ``ok`` other than 0/1, a repeated (workload, config_id, rep), or
    a configuration whose attributes change between its rows. Workloads the harness cannot score
    are dropped and reported through ``note``.
    """
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    by_key: dict[tuple[str, str], Workload] = {}
    config_rows: dict[tuple[str, str, str], tuple[tuple[str | float, ...], int]] = {}
    reps_seen: set[tuple[str, str, str]] = set()
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts the file with a byte-order mark, which plain utf-8
        # keeps as part of the first column's name ("\ufeffdataset"), so the file looked headless.
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            if missing := [c for c in REQUIRED if c not in header]:
                raise DatasetError(f"{path}: not in the tuning dataset format v1: missing column(s) "
                                   f"{', '.join(missing)} (header: {', '.join(header) or 'none'})")
            metric_columns = [c for c in header if c.startswith("m_")]
            for row in reader:
                where = f"{path}:{reader.line_num}"
                _read_row(row, where, metric_columns, by_key, config_rows, reps_seen)
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except csv.Error as err:
        raise DatasetError(f"{path}: not a readable CSV file ({err})") from None
    if not by_key:
        raise DatasetError(f"{path}: no runs (a header and at least one row are needed)")
    kept = []
    for wl in by_key.values():
        _settle_input_size(wl, path, note)
        if wl.feasible_configs() < MIN_SCORABLE_CONFIGS:
            if note is not None:
                note(f"{path}: workload {wl.name!r} left out: {wl.feasible_configs()} configuration(s) with a "
                     f"successful run, the benchmark needs {MIN_SCORABLE_CONFIGS}")
            continue
        kept.append(wl)
    if not kept:
        raise DatasetError(f"{path}: no workload has {MIN_SCORABLE_CONFIGS} configurations with a successful run")
    return kept


def _read_row(row: dict[str, str], where: str, metric_columns: list[str], by_key: dict[tuple[str, str], Workload],
              config_rows: dict[tuple[str, str, str], tuple[tuple[str | float, ...], int]],
              reps_seen: set[tuple[str, str, str]]) -> None:
    if None in row:  # csv.DictReader puts surplus fields under the key None
        raise DatasetError(f"{where}: more fields than the header has columns")
    if missing := [c for c, v in row.items() if v is None]:
        # csv.DictReader fills a short row's last columns with None, which read as "ok must be 0 or
        # 1, got None": say the row is short instead.
        raise DatasetError(f"{where}: fewer fields than the header has columns ({', '.join(missing)} missing)")
    for column in ("dataset", "workload", "config_id", "instance_type"):
        if not (row.get(column) or "").strip():
            raise DatasetError(f"{where}: {column} is blank")
    dataset, name, cfg = row["dataset"], row["workload"], row["config_id"]
    first = next(iter(by_key.values()), None)
    if first is not None and first.dataset != dataset:
        raise DatasetError(f"{where}: dataset {dataset!r} differs from {first.dataset!r} of the rows above "
                           "(one dataset per file)")
    vcpus = _number(row["vcpus"], where, "vcpus", blank_ok=True, positive=True) or 1.0
    memory = _number(row["memory_gib"], where, "memory_gib", blank_ok=True, positive=True) or 4.0 * vcpus
    nodes = _number(row["nodes"], where, "nodes", positive=True)
    assert nodes is not None
    if nodes != int(nodes):
        raise DatasetError(f"{where}: nodes {row['nodes']!r} is not a whole number")
    price = _number(row["price_per_hour"], where, "price_per_hour", positive=True)
    runtime = _number(row["runtime_s"], where, "runtime_s", positive=True)
    assert price is not None and runtime is not None
    ok = (row["ok"] or "").strip()
    if ok not in ("0", "1"):
        raise DatasetError(f"{where}: ok must be 0 or 1, got {row['ok']!r}")
    rep = (row.get("rep") or "").strip()
    if rep:
        if (name, cfg, rep) in reps_seen:
            raise DatasetError(f"{where}: (workload, config_id, rep) = ({name}, {cfg}, {rep}) appears twice")
        reps_seen.add((name, cfg, rep))
    # Compared as values, not text: "8" and "8.0", "1.5920" and "1.592" are one configuration.
    attrs = (row["instance_type"].strip(), vcpus, memory, nodes, price)
    known = config_rows.setdefault((dataset, name, cfg), (attrs, 0))
    if known[0] != attrs:
        changed = [c for c, a, b in zip(_CONFIG_COLUMNS, known[0], attrs, strict=True) if a != b]
        raise DatasetError(f"{where}: configuration {cfg!r} of workload {name!r} changes {', '.join(changed)} "
                           "from its earlier rows (they must be constant within a configuration)")
    size = _number(row.get("data_size_gb"), where, "data_size_gb", blank_ok=True, positive=True)
    wl = by_key.setdefault((dataset, name), Workload(dataset, name, [], {}, size))
    if size is not None:
        wl.sizes.append(size)
    if cfg not in wl.reps:
        wl.candidates.append(Candidate(
            config_id=cfg, instance_type=row["instance_type"], vcpus=vcpus, memory_gib=memory, nodes=int(nodes),
            price_per_hour=price, family=row["instance_type"].split(".")[0].split("-")[0]))
    metrics = {}
    for column in metric_columns:
        value = _number(row.get(column), where, column, blank_ok=True)
        if value is not None:
            metrics[column] = value
    wl.reps.setdefault(cfg, []).append(Rep(runtime, ok == "1", metrics))


def _settle_input_size(wl: Workload, path: Path, note: Callable[[str], None] | None) -> None:
    """One input size per workload: the median of its rows' sizes, with a note when they differ
    (the format gives a size per row; a workload measured on one input has one)."""
    if not wl.sizes:
        wl.input_gb = None
        return
    wl.input_gb = float(np.median(wl.sizes))
    if note is not None and min(wl.sizes) != max(wl.sizes):
        note(f"{path}: workload {wl.name!r}: data_size_gb differs between rows ({min(wl.sizes):g}-"
             f"{max(wl.sizes):g}); the tuners are given the median, {wl.input_gb:g}")


def dataset_files(paths: Iterable[str]) -> list[Path]:
    """The CSV files named, a directory standing for the CSV files in it; `DatasetError` for a path
    that does not exist or a directory without any."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.csv"))
            if not found:
                raise DatasetError(f"{p}: no .csv files in this directory")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise DatasetError(f"{p}: no such file or directory")
    # A file named twice (or in a directory named beside it) would score its searches twice, with
    # trace lines a rescorer cannot tell apart.
    unique: dict[Path, Path] = {}
    for p in out:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())
