"""Does the simulator's runtime model follow real Spark runs across instance types and cluster sizes?

For every workload in the tuning datasets (``../shared/datasets/tuning``, real measured runs) the
benchmark picks the simulator profile that matches the job (sort, iterative ML, join/aggregate,
scan, wide aggregation), then fits two numbers: how much work per byte (CPU factor) and how much
data (input factor). The input factor is solved so that one anchor configuration (the one with the
median measured runtime) matches exactly; the CPU factor is chosen on half of the other
configurations (train). Errors are reported on the held-out half (test):

- ``mdape``: median absolute percentage error of the model on test configurations;
- ``naive``: the same for "runtime is inversely proportional to total vCPUs", scaled to the anchor;
- ``rho``: Spearman rank correlation between modelled and measured runtimes over all configurations
  (does the model order configurations the way reality does?).

Usage: ``python -m benchmarks.calibration [--datasets-dir ../shared/datasets/tuning] [--all-lumos]``
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from scipy.stats import spearmanr

from sandbox.nodes import NODE_TYPES, NodeType
from sandbox.sim.cluster import ClusterPlan
from sandbox.sim.profiles import PROFILES, WorkloadProfile
from sandbox.sim.scheduler import schedule

DATASETS = ("cherrypick", "c3o", "bell", "dataproc", "lumos")
CPU_FACTORS = (0.25, 1.0, 4.0, 16.0, 64.0)
STARTUP_SHARES = (0.0, 0.15, 0.3, 0.5)  # application start-up as a share of the anchor's runtime
MAX_TASKS = 600  # more than the largest cluster's slots (480), so big clusters are not starved of tasks
# Where each dataset's jobs read their input. Databricks reads cloud storage over the network;
# these clusters mostly read HDFS on their own disks (bell: stated; lumos: one VM; c3o and
# cherrypick: EMR/Hadoop set-ups with HDFS, assumed); Dataproc jobs read Cloud Storage (assumed).
INPUT_LOCAL = {"cherrypick": True, "c3o": True, "bell": True, "dataproc": False, "lumos": True}

# Instance types of the datasets that are not in the sandbox catalog (older AWS generations,
# GCP N2, the on-premises nodes): network Gbps, local SSD GB, relative per-vCPU speed.
_EXTRA_NODES: dict[str, tuple[float, float, float]] = {
    "c4.large": (0.6, 0, 1.0), "c4.xlarge": (0.75, 0, 1.0), "c4.2xlarge": (1.0, 0, 1.0),
    "m4.large": (0.45, 0, 0.9), "m4.xlarge": (0.75, 0, 0.9), "m4.2xlarge": (1.0, 0, 0.9),
    "r3.large": (0.5, 32, 0.8), "r3.xlarge": (0.7, 80, 0.8), "r3.2xlarge": (1.0, 160, 0.8),
    "i2.xlarge": (0.7, 800, 0.8), "i2.2xlarge": (1.0, 1600, 0.8),
    "r4.xlarge": (10.0, 0, 0.95), "r4.2xlarge": (10.0, 0, 0.95),
    "c5.large": (10.0, 0, 1.1), "m5.large": (10.0, 0, 1.0), "r5.large": (10.0, 0, 1.0),
    "onprem-4c8t-16g": (1.0, 1000, 0.8),
}


@dataclass(frozen=True)
class Config:
    instance_type: str
    vcpus: int
    memory_gib: float
    nodes: int
    runtime_s: float  # mean of the successful repetitions


@dataclass(frozen=True)
class Fit:
    dataset: str
    workload: str
    profile: str
    configs: int
    cpu_factor: float
    startup_s: float
    input_factor: float
    mdape: float
    naive_mdape: float
    rho: float


def node_for(c: Config) -> NodeType:
    if c.instance_type in NODE_TYPES:
        return NODE_TYPES[c.instance_type]
    if c.instance_type.startswith("n2-"):  # GCP N2: 2 Gbps egress per vCPU up to 32, persistent disks
        return NodeType(c.instance_type, "gcp", "n2", c.vcpus, c.memory_gib, 0, min(2.0 * c.vcpus, 32.0), "x86_64",
                        core_speed=1.05)
    net, disk, speed = _EXTRA_NODES.get(c.instance_type, (1.0, 0, 1.0))
    return NodeType(c.instance_type, "aws", c.instance_type.split(".")[0], c.vcpus, c.memory_gib, disk, net,
                    "x86_64", core_speed=speed)


def profile_for(workload: str) -> str:
    name = workload.lower()
    rules = (
        (("terasort", "sort", "orderby"), "sort"),
        (("kmeans", "sgd", "regression", "pagerank", "als", "bayes"), "iterative_ml"),
        (("grep", "scan", "select", "filter", "projection", "dfsioe"), "io_bound"),
        (("wordcount", "groupby", "aggregation"), "memory_bound"),
    )
    for keys, profile in rules:
        if any(k in name for k in keys):
            return profile
    return "etl_join_aggregate"


def model_seconds(profile: WorkloadProfile, c: Config) -> float:
    node = node_for(c)
    plan = ClusterPlan(worker_type=node, driver_type=node, min_workers=c.nodes, max_workers=c.nodes,
                       autoscale=False, availability="ON_DEMAND", first_on_demand=c.nodes + 1)
    tl = schedule(profile, plan, day=0, rng=random.Random(0), start_ms=0, noise=False)
    return tl.app_end_ms / 1000.0


def _solve_input(base: WorkloadProfile, cpu: float, startup_s: float, anchor: Config) -> tuple[float, WorkloadProfile]:
    """Input factor (log-bisection) that makes the model match the anchor's measured runtime."""
    lo, hi = math.log(1e-6), math.log(1e3)
    for _ in range(13):
        mid = (lo + hi) / 2
        trial = base.scaled(input_factor=math.exp(mid), cpu_factor=cpu, startup_s=startup_s)
        if model_seconds(trial, anchor) < anchor.runtime_s:
            lo = mid
        else:
            hi = mid
    factor = math.exp((lo + hi) / 2)
    return factor, base.scaled(input_factor=factor, cpu_factor=cpu, startup_s=startup_s)


def _mdape(pairs: list[tuple[float, float]]) -> float:
    return statistics.median(abs(p - m) / m for p, m in pairs) if pairs else float("nan")


def fit_workload(dataset: str, workload: str, configs: list[Config]) -> Fit:
    name = profile_for(workload)
    # Every measured run succeeded, so the fit must not push tasks into simulated OutOfMemoryErrors.
    base = replace(PROFILES[name], max_tasks_per_stage=MAX_TASKS, input_local=INPUT_LOCAL.get(dataset, False),
                   oom_pressure=None)
    ordered = sorted(configs, key=lambda c: c.runtime_s)
    anchor = ordered[len(ordered) // 2]
    rest = sorted((c for c in configs if c is not anchor), key=lambda c: (c.instance_type, c.nodes))
    train, test = rest[0::2], rest[1::2]
    best: tuple[float, float, float, float, WorkloadProfile] | None = None
    for cpu in CPU_FACTORS:
        for share in STARTUP_SHARES:
            factor, prof = _solve_input(base, cpu, share * anchor.runtime_s, anchor)
            err = _mdape([(model_seconds(prof, c), c.runtime_s) for c in train])
            if best is None or err < best[0]:
                best = (err, cpu, share * anchor.runtime_s, factor, prof)
    assert best is not None
    _, cpu, startup, factor, prof = best
    predicted = {c: model_seconds(prof, c) for c in configs}
    naive = {c: anchor.runtime_s * (anchor.vcpus * anchor.nodes) / (c.vcpus * c.nodes) for c in configs}
    modelled = [predicted[c] for c in configs]
    # A model that predicts one runtime for every configuration ranks nothing: rho is undefined.
    rho = spearmanr(modelled, [c.runtime_s for c in configs]).statistic if len(set(modelled)) > 1 else math.nan
    return Fit(dataset, workload, name, len(configs), cpu, startup, factor,
               _mdape([(predicted[c], c.runtime_s) for c in test]),
               _mdape([(naive[c], c.runtime_s) for c in test]), float(rho))


def _nanmedian(values: list[float]) -> float:
    defined = [v for v in values if not math.isnan(v)]
    return statistics.median(defined) if defined else math.nan


def load(path: Path, *, all_lumos: bool) -> dict[str, list[Config]]:
    runs: dict[tuple[str, str], list[float]] = {}
    shape: dict[tuple[str, str], tuple[str, int, float, int]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["ok"] != "1":
                continue
            if row["dataset"] == "lumos" and not all_lumos and not row["workload"].startswith("spark_"):
                continue  # Hadoop and Hive jobs are not Spark
            key = (row["workload"], row["config_id"])
            runs.setdefault(key, []).append(float(row["runtime_s"]))
            shape[key] = (row["instance_type"], int(float(row["vcpus"])), float(row["memory_gib"]), int(row["nodes"]))
    out: dict[str, list[Config]] = {}
    for (workload, config_id), times in runs.items():
        instance_type, vcpus, memory, nodes = shape[(workload, config_id)]
        out.setdefault(workload, []).append(Config(instance_type, vcpus, memory, nodes, statistics.mean(times)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" /
                        "datasets" / "tuning")
    parser.add_argument("--all-lumos", action="store_true", help="also fit lumos' Hadoop and Hive workloads")
    parser.add_argument("--only", help="comma-separated dataset names")
    args = parser.parse_args(argv)
    wanted = args.only.split(",") if args.only else DATASETS
    # Checked before the table's header: a clone without ../shared beside it printed an empty table
    # and "per dataset ..." above its error, which reads like a result.
    present = [d for d in wanted if (args.datasets_dir / f"{d}.csv").is_file()]
    if not present:
        where = "" if args.datasets_dir.is_dir() else " (no such directory)"
        print(f"no dataset found in {args.datasets_dir}{where}: give --datasets-dir, a directory holding "
              f"{', '.join(f'{d}.csv' for d in wanted)} in the tuning dataset format v1 "
              "(benchmarks/dataset_format.py); the measurements are not part of this repository", file=sys.stderr)
        return 2
    fits: list[Fit] = []
    print(f"{'dataset':10} {'workload':28} {'profile':18} {'n':>3} {'cpu×':>6} {'start':>6} {'input×':>8} "
          f"{'mdape':>6} {'naive':>6} {'rho':>5}")
    for dataset in wanted:
        path = args.datasets_dir / f"{dataset}.csv"
        if not path.exists():
            print(f"{dataset}: {path} not found", file=sys.stderr)
            continue
        for workload, configs in sorted(load(path, all_lumos=args.all_lumos).items()):
            fit = fit_workload(dataset, workload, configs)
            fits.append(fit)
            print(f"{fit.dataset:10} {fit.workload[:28]:28} {fit.profile:18} {fit.configs:3d} {fit.cpu_factor:6.3g} {fit.startup_s:6.0f} "
                  f"{fit.input_factor:8.3g} {fit.mdape:6.1%} {fit.naive_mdape:6.1%} {fit.rho:5.2f}", flush=True)
    print("\nper dataset (medians over workloads): test MdAPE of the model vs naive 1/vCPU scaling, Spearman rho")
    for dataset in wanted:
        rows = [f for f in fits if f.dataset == dataset]
        if rows:
            print(f"{dataset:10} workloads={len(rows):3d} mdape={statistics.median(f.mdape for f in rows):6.1%} "
                  f"naive={statistics.median(f.naive_mdape for f in rows):6.1%} "
                  f"rho={_nanmedian([f.rho for f in rows]):5.2f}")
    if not fits:
        # Files without one successful run: empty tables with exit 0 read as a result.
        print(f"no successful run in the datasets of {args.datasets_dir}: nothing to fit", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
