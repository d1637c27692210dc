"""Tuning benchmark on real measurements (tuning dataset format v1, see the datasets' README).

    python -m benchmarks.tuning --dataset FILE.csv [--dataset DIR ...] [--sla-quantiles 0.2,0.5,0.8]
        [--budget 10] [--seeds 10] [--trace OUT.jsonl] [--quick]

For each workload, SLA quantile (SLA = that quantile of the workload's configuration mean runtimes)
and seed, a seeded random configuration is the user's starting one and is run first (step 1). Then
each tuner, in an ask/tell loop, picks a configuration; the harness "runs" it by drawing one of its
measured repetitions; the tuner states its recommendation after every step. Scores per dataset and
SLA tightness:

- P@k: share of searches whose recommendation after k runs meets the SLA (mean runtime) and costs
  <= 1.10 x the cheapest configuration that meets it (the oracle);
- regret@6: median of cost(recommended)/oracle - 1 after 6 runs (inf when it misses the SLA);
- misses: runs chosen by the tuner (steps >= 2) whose runtime exceeded the SLA or failed, per search;
- search/oracle: total cost of all the search's runs / the cost of one run of the oracle (the issue's
  "total search cost / oracle cost"; with a budget of 10 runs, 10 would be ten runs at the oracle's cost);
- run/oracle: the same per run, i.e. search/oracle / runs (1.00: the search's runs cost on average what
  a run of the oracle costs).
- ceiling@6 (same for every tuner): share of workloads where a within-10% configuration stands far
  enough below the SLA that any tuner holding the issue's rule, recommend only at
  P(runtime <= SLA) >= 0.9, can be that sure of it after 5 runs on it (see `confirmable`). Where it
  is below 0.9, P@6 >= 0.9 is out of reach for such a tuner: the SLA (a quantile of the
  configurations' mean runtimes) then sits on, or within run-to-run noise of, the cheap
  configurations' mean runtimes.

With a budget under 6 runs, regret@6, ceiling@6 and the "why" table (all about the 6th run) are left out.

Trimtab's prior is learned leave-one-dataset-out from the other files given or found next to the
scored one (never the scored file); with none, the built-in default prior is used.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import math
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from benchmarks.baselines import CherryPickTuner, ErnestTuner, KeepTuner, RandomTuner, TrimtabTuner, Tuner
from benchmarks.dataset_format import DatasetError, Workload, dataset_files, load_dataset
from models.decide import Settings, decide
from models.observation import Observation
from models.prior import Prior, learn_prior
from models.space import Candidate

REPORT_STEPS = (3, 6, 10)


@dataclass
class Scores:
    success: dict[int, list[bool]] = field(default_factory=dict)
    regret6: list[float] = field(default_factory=list)
    misses: list[int] = field(default_factory=list)
    # Total cost of a search's runs / the cost of one run of the oracle.
    search_cost_ratio: list[float] = field(default_factory=list)
    # The same per run the search made.
    run_cost_ratio: list[float] = field(default_factory=list)
    confirmable: list[bool] = field(default_factory=list)
    # Why searches failed after 6 runs (see `why_failed`), counted per search.
    why6: dict[str, int] = field(default_factory=dict)
    # Whether each chosen run's runtime fell inside the 90% interval the tuner predicted for it
    # (tuners that state one), for configurations run before and for new ones.
    covered_tried: list[bool] = field(default_factory=list)
    covered_new: list[bool] = field(default_factory=list)


def histories(workloads: Sequence[Workload]) -> list[tuple[list[Candidate], list[Observation]]]:
    """Every measured run of each workload, as a project history for `learn_prior`."""
    return [
        (
            wl.candidates,
            [Observation(cfg, r.runtime_s, r.ok, wl.input_gb, metrics=r.metrics) for cfg, reps in wl.reps.items() for r in reps],
        )
        for wl in workloads
    ]


def _fingerprint(wl: Workload) -> tuple[float, ...]:
    """A workload by its measurements alone: a copy of it under other names (dataset, workload or
    configuration ids renamed) has the same runtimes."""
    return tuple(sorted(round(r.runtime_s, 6) for reps in wl.reps.values() for r in reps))


def loo_prior(scored: Path, pool: dict[Path, list[Workload]],
              note: Callable[[str], None] | None = None) -> Prior | None:
    """Prior from every other dataset file, each file weighing the same in total. A file is left
    out by its path, its dataset name, or any workload whose measurements are the scored file's (a
    renamed copy would otherwise teach the prior the very runs being scored)."""
    others = [(p, wls) for p, wls in pool.items() if p.resolve() != scored.resolve()]
    names = {wl.dataset for wl in pool.get(scored, [])}
    others = [(p, wls) for p, wls in others if not {wl.dataset for wl in wls} & names]
    scored_prints = {_fingerprint(wl) for wl in pool.get(scored, [])}
    copies = [p for p, wls in others if any(_fingerprint(wl) in scored_prints for wl in wls)]
    if copies and note is not None:
        note(f"{scored.name}: not used for its prior: {', '.join(p.name for p in copies)} (holds its workloads' "
             "measurements under other names)")
    others = [(p, wls) for p, wls in others if p not in copies]
    if not others:
        return None
    hist, weights = [], []
    for _, wls in others:
        hist.extend(histories(wls))
        weights.extend([1.0 / len(wls)] * len(wls))
    return learn_prior(hist, weights)


def load_pool(files: Sequence[Path], prior_from: Sequence[Path], note: Callable[[str], None]) -> dict[Path, list[Workload]]:
    """Every file to score, and the prior pool beside them: the files of ``--prior-from`` and the
    scored files' neighbours (other datasets in the same folder). A file to score or named for the
    prior must be in the format (`DatasetError` otherwise); a neighbour that is not is left out of
    the pool with a note, since a folder may hold other CSV files."""
    named = set(files) | set(prior_from)
    neighbours = {q for p in files for q in p.parent.glob("*.csv")} - named
    pool = {p: load_dataset(p, note) for p in sorted(named)}
    for p in sorted(neighbours):
        try:
            pool[p] = load_dataset(p, note)
        except DatasetError as err:
            note(f"not used for the prior: {err}")
    return pool


def sla_for(wl: Workload, quantile: float) -> float:
    means = [m for c in wl.candidates if (m := wl.mean_runtime(c.config_id)) is not None]
    return float(np.quantile(means, quantile))


def oracle_cost(wl: Workload, sla_s: float) -> float:
    costs = [c.cost(m) for c in wl.candidates if (m := wl.mean_runtime(c.config_id)) is not None and m <= sla_s]
    return min(costs)


# Run-to-run noise assumed for files with one run per configuration (log-scale sd; the repeated
# files' median configuration scatters by 1-3%).
_ASSUMED_NOISE_SD = 0.02
_Z90 = 1.2816  # normal score of 0.9


def noise_sd(wl: Workload) -> float:
    """Median over configurations of the sd of log runtime between successful repetitions."""
    sds = [float(np.std(np.log(ts), ddof=1)) for reps in wl.reps.values() if len(ts := [r.runtime_s for r in reps if r.ok]) > 1]
    return float(np.median(sds)) if sds else _ASSUMED_NOISE_SD


def confirmable(wl: Workload, quantile: float, runs: int = 5) -> bool:
    """Whether some configuration within 10% of the oracle's cost has a mean runtime at least
    z(0.9) x noise / sqrt(runs) below the SLA, i.e. ``runs`` runs on it could show P(mean <= SLA)
    >= 0.9. A generous bound: it ignores the runs needed to find the configuration at all."""
    sla_s = sla_for(wl, quantile)
    best = oracle_cost(wl, sla_s)
    margin = _Z90 * noise_sd(wl) / math.sqrt(runs)
    for c in wl.candidates:
        mean = wl.mean_runtime(c.config_id)
        if mean is not None and mean <= sla_s and c.cost(mean) <= 1.10 * best and math.log(sla_s / mean) >= margin:
            return True
    return False


def search(
    tuner: Tuner,
    wl: Workload,
    quantile: float,
    seed: int,
    budget: int,
    trace: IO[str] | None,
    coverage: Scores | None = None,
) -> tuple[list[str], list[tuple[str, float, bool]]]:
    """One search: returns the recommendation after each step and the runs made. With ``coverage``,
    each chosen successful run is checked against the 90% runtime interval the tuner predicted for
    it (`Tuner.interval`, where the tuner has one)."""
    sla_s = sla_for(wl, quantile)
    # The start and the repetitions drawn depend on (workload, seed) only, so every tuner starts
    # from the same configuration and sees the same luck on the same configuration.
    base = zlib.crc32(f"{wl.dataset}/{wl.name}/{seed}".encode())
    start = wl.candidates[int(np.random.default_rng(base).integers(len(wl.candidates)))].config_id
    draw_rng = {c.config_id: np.random.default_rng(base + i + 1) for i, c in enumerate(wl.candidates)}
    tuner.reset(wl.candidates, sla_s, seed)
    recs: list[str] = []
    runs: list[tuple[str, float, bool]] = []
    for step in range(1, budget + 1):
        cfg = start if step == 1 else tuner.ask()
        reps = wl.reps[cfg]
        rep = reps[int(draw_rng[cfg].integers(len(reps)))]
        interval = getattr(tuner, "interval", None)
        if coverage is not None and step > 1 and rep.ok and interval is not None and (iv := interval(cfg)) is not None:
            inside = iv[0] <= rep.runtime_s <= iv[1]
            seen = any(c == cfg for c, _, _ in runs)
            (coverage.covered_tried if seen else coverage.covered_new).append(inside)
        tuner.tell(cfg, rep.runtime_s, rep.ok, rep.metrics)
        rec = tuner.recommend()
        recs.append(rec)
        runs.append((cfg, rep.runtime_s, rep.ok))
        if trace is not None:
            trace.write(
                json.dumps(
                    {
                        "tuner": tuner.name,
                        "workload": f"{wl.dataset}/{wl.name}",
                        "sla_quantile": quantile,
                        # Unrounded: the SLA often sits exactly on one configuration's mean (a
                        # quantile of the means), and a rounded one flips that configuration to a
                        # miss for anyone rescoring the trace.
                        "sla_s": sla_s,
                        "seed": seed,
                        "step": step,
                        "tried": cfg,
                        "runtime_s": rep.runtime_s,
                        "ok": rep.ok,
                        "recommended": rec,
                    }
                )
                + "\n"
            )
    return recs, runs


def score(wl: Workload, quantile: float, recs: list[str], runs: list[tuple[str, float, bool]], into: Scores) -> None:
    sla_s = sla_for(wl, quantile)
    best = oracle_cost(wl, sla_s)
    by_id = {c.config_id: c for c in wl.candidates}

    def outcome(cfg: str) -> tuple[bool, float]:
        mean = wl.mean_runtime(cfg)
        if mean is None or mean > sla_s:
            return False, math.inf
        return True, by_id[cfg].cost(mean) / best - 1.0

    for k in REPORT_STEPS:
        if k <= len(recs):
            meets, regret = outcome(recs[k - 1])
            into.success.setdefault(k, []).append(meets and regret <= 0.10)
    if len(recs) >= 6:
        meets, regret = outcome(recs[5])
        into.regret6.append(regret)
        if not (meets and regret <= 0.10):
            good = {c.config_id for c in wl.candidates if (o := outcome(c.config_id))[0] and o[1] <= 0.10}
            why = why_failed(meets, bool(good & {cfg for cfg, _, _ in runs[:6]}))
            into.why6[why] = into.why6.get(why, 0) + 1
    into.misses.append(sum(1 for cfg, t, ok in runs[1:] if not ok or t > sla_s))
    search_cost = sum(by_id[cfg].cost(t) for cfg, t, _ in runs) / best
    into.search_cost_ratio.append(search_cost)
    into.run_cost_ratio.append(search_cost / len(runs))
    into.confirmable.append(confirmable(wl, quantile))


WHY_FAILED = ("misses SLA", "good one run, not trusted", "good one never run")


def why_failed(meets: bool, good_was_run: bool) -> str:
    """Why a search's recommendation after 6 runs is not within 10% of the oracle: it misses the SLA
    (a wrong prediction, or a measured configuration whose mean lies above the SLA), or it is too
    dear although a within-10% configuration was run (measured but not trusted), or too dear and no
    within-10% configuration was ever run (the search looked elsewhere)."""
    if not meets:
        return WHY_FAILED[0]
    return WHY_FAILED[1] if good_was_run else WHY_FAILED[2]


TUNER_NAMES = ("trimtab", "cherrypick", "ernest", "random", "keep")


def make_tuners(
    prior: Prior | None, input_gb: float | None, names: Sequence[str] = TUNER_NAMES, overrides: dict[str, float] | None = None
) -> list[Tuner]:
    """The tuners named (all by default); ``overrides`` are Trimtab `Settings` fields, for experiments."""
    every: dict[str, Callable[[], Tuner]] = {
        "trimtab": lambda: TrimtabTuner(prior, input_gb=input_gb, **(overrides or {})),
        "cherrypick": CherryPickTuner,
        "ernest": ErnestTuner,
        "random": RandomTuner,
        "keep": KeepTuner,
    }
    return [every[n]() for n in names]


def run_dataset(
    path: Path,
    workloads: list[Workload],
    prior: Prior | None,
    quantiles: Sequence[float],
    seeds: int,
    budget: int,
    trace: IO[str] | None,
    progress: Callable[[str], None],
    names: Sequence[str] = TUNER_NAMES,
    overrides: dict[str, float] | None = None,
    first_seed: int = 0,
) -> dict[tuple[str, float], Scores]:
    results: dict[tuple[str, float], Scores] = {}
    for wl in workloads:
        for tuner in make_tuners(prior, wl.input_gb, names, overrides):
            for q in quantiles:
                sc = results.setdefault((tuner.name, q), Scores())
                for seed in range(first_seed, first_seed + seeds):
                    recs, runs = search(tuner, wl, q, seed, budget, trace, sc)
                    score(wl, q, recs, runs, sc)
        progress(f"{path.name}: {wl.name} done")
    return results


def print_why(results: dict[tuple[str, float], Scores], out: IO[str]) -> None:
    """Shares of all searches failing after 6 runs, by reason (Trimtab only: where to improve).
    Nothing when no Trimtab search reached 6 runs (a shorter budget, or Trimtab not run)."""
    rows = [(q, s) for (tuner, q), s in sorted(results.items(), key=lambda kv: kv[0][1]) if tuner == "trimtab" and s.regret6]
    if not rows:
        return
    print(f"{'why not within 10% after 6 runs':<32}" + "".join(f"{w:>27}" for w in WHY_FAILED), file=out)
    for q, s in rows:
        n = len(s.regret6)
        print(f"{'trimtab q' + format(q, '.2f'):<32}" + "".join(f"{s.why6.get(w, 0) / n:27.2f}" for w in WHY_FAILED), file=out)


def print_coverage(results: dict[tuple[str, float], Scores], out: IO[str]) -> None:
    """How often a chosen run fell inside the 90% runtime interval predicted for it (tuners that
    predict one): for a configuration run before, and for one run for the first time."""
    rows = [(k, s) for k, s in sorted(results.items(), key=lambda kv: kv[0][1]) if s.covered_tried or s.covered_new]
    if not rows:
        return
    print(f"{'90% interval held the run':<32}{'run before':>27}{'new configuration':>27}", file=out)
    for (tuner, q), s in rows:
        cells = "".join(f"{np.mean(c):20.2f} ({len(c):>4})" if c else f"{'-':>27}" for c in (s.covered_tried, s.covered_new))
        print(f"{tuner + ' q' + format(q, '.2f'):<32}{cells}", file=out)


def print_table(name: str, results: dict[tuple[str, float], Scores], out: IO[str]) -> None:
    steps = [k for k in REPORT_STEPS if any(k in s.success for s in results.values())]
    # The 6-run columns only when the searches reached 6 runs: below that they have nothing to show.
    six = any(s.regret6 for s in results.values())
    head = f"{'tuner':<11} {'SLA q':>5} " + " ".join(f"{'P@' + str(k):>6}" for k in steps)
    head += (f" {'regret@6':>9}" if six else "") + f" {'misses':>7} {'search/oracle':>13} {'run/oracle':>10}"
    head += f" {'ceiling@6':>9}" if six else ""
    print(f"\n== {name}", file=out)
    print(head, file=out)
    for (tuner, q), s in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0] != "trimtab", kv[0][0])):
        row = f"{tuner:<11} {q:5.2f} " + " ".join(f"{np.mean(s.success[k]):6.2f}" for k in steps)
        if six:
            row += f" {np.median(s.regret6):9.1%}" if s.regret6 else f" {'-':>9}"
        row += f" {np.mean(s.misses):7.2f} {np.mean(s.search_cost_ratio):13.2f} {np.mean(s.run_cost_ratio):10.2f}"
        row += f" {np.mean(s.confirmable):9.2f}" if six else ""
        print(row, file=out)


def timing_500(workloads: Sequence[Workload], prior: Prior | None) -> float:
    """Seconds for one fit+decide on a 500-run history of the largest workload (median of 5)."""
    wl = max(workloads, key=lambda w: len(w.candidates))
    rng = np.random.default_rng(0)
    hist = []
    for _ in range(500):
        c = wl.candidates[int(rng.integers(len(wl.candidates)))]
        rep = wl.reps[c.config_id][int(rng.integers(len(wl.reps[c.config_id])))]
        hist.append(Observation(c.config_id, rep.runtime_s, rep.ok, wl.input_gb))
    settings = Settings(sla_s=sla_for(wl, 0.5))
    times = []
    for i in range(5):
        t0 = time.perf_counter()
        decide(wl.candidates, hist, settings, prior, seed=i)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


# The Settings fields `--set` may change: the numbers and switches of the decision. Not sla_s (each
# SLA quantile sets it) nor the names reasons print (currency, sla_name), which change no decision.
_SETTABLE_TYPES = {"float": float, "int": int, "bool": bool}
SETTABLE: dict[str, type] = {f.name: _SETTABLE_TYPES[str(f.type)] for f in dataclasses.fields(Settings)
                             if str(f.type) in _SETTABLE_TYPES}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def parse_overrides(items: Sequence[str]) -> dict[str, float]:
    """`--set FIELD=VALUE` items as Settings overrides; ValueError naming the item, the valid fields
    (the closest first) or the value's expected form. A typo reached `Settings(**overrides)` as a
    raw TypeError traceback, and `--set p_explore=high` as a bare float() one."""
    overrides: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name or not text:
            raise ValueError(f"--set {item!r}: expected FIELD=VALUE, e.g. p_explore=0.3")
        kind = SETTABLE.get(name)
        if kind is None:
            close = difflib.get_close_matches(name, SETTABLE, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            why = " (each SLA quantile sets it)" if name == "sla_s" else ""
            raise ValueError(f"--set {item!r}: {name} is not a Settings field --set can change{why}; {hint}"
                             f"valid: {', '.join(sorted(SETTABLE))}")
        if kind is bool:
            if text.lower() not in _TRUE | _FALSE:
                raise ValueError(f"--set {item!r}: {name} is true or false (1/0, yes/no)")
            overrides[name] = text.lower() in _TRUE
            continue
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"--set {item!r}: {name} is {'a whole number' if kind is int else 'a number'}, "
                             f"not {text!r}") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"--set {item!r}: {name} must be a finite number >= 0")
        if name.startswith("p_") and value > 1:
            raise ValueError(f"--set {item!r}: {name} is a probability, between 0 and 1")
        overrides[name] = value
    return overrides


def parse_quantiles(text: str) -> list[float]:
    """``--sla-quantiles`` as numbers in [0, 1]; ValueError naming the item at fault. A bad item
    reached numpy's quantile as a traceback (exit 1)."""
    quantiles = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        try:
            q = float(item)
        except ValueError:
            raise ValueError(f"--sla-quantiles: {item!r} is not a number") from None
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"--sla-quantiles: {item} is not a quantile between 0 and 1")
        if q in quantiles:
            raise ValueError(f"--sla-quantiles: {item} is given twice (its searches would be scored twice)")
        quantiles.append(q)
    if not quantiles:
        raise ValueError("--sla-quantiles: give at least one quantile, e.g. 0.2,0.5,0.8")
    return quantiles


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.tuning", description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", action="append", required=True, help="CSV file or directory (repeatable)")
    ap.add_argument("--prior-from", action="append", default=None, help="extra files/dirs for the prior pool")
    ap.add_argument("--prior", choices=("loo", "default"), default="loo",
                    help="loo: learned from the other datasets (default); default: the built-in guess, for comparison")
    ap.add_argument("--sla-quantiles", default="0.2,0.5,0.8")
    ap.add_argument("--budget", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=10)
    # Held-out seeds: a change chosen on seeds 0-9 is checked on seeds no choice was made on.
    ap.add_argument("--first-seed", type=int, default=0, help="first seed (default 0): seeds first..first+seeds-1")
    ap.add_argument("--trace", type=Path, default=None)
    ap.add_argument("--quick", action="store_true", help="3 seeds and at most 12 workloads per dataset")
    ap.add_argument("--max-workloads", type=int, default=None)
    ap.add_argument("--tuners", default=",".join(TUNER_NAMES), help="comma-separated subset of " + ",".join(TUNER_NAMES))
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override a Trimtab Settings field (repeatable): " + ", ".join(sorted(SETTABLE)))
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.tuners.split(",") if n.strip()]
    if unknown := set(names) - set(TUNER_NAMES):
        ap.error(f"unknown tuners: {sorted(unknown)}")
    try:
        overrides = parse_overrides(args.set)
    except ValueError as err:
        ap.error(str(err))
    if args.budget < 1 or args.seeds < 1:
        ap.error("--budget and --seeds must be at least 1")
    if args.first_seed < 0:
        ap.error("--first-seed must be 0 or more")
    if args.max_workloads is not None and args.max_workloads < 1:
        ap.error("--max-workloads must be at least 1")
    try:
        quantiles = parse_quantiles(args.sla_quantiles)
    except ValueError as err:
        ap.error(str(err))
    seeds = min(args.seeds, 3) if args.quick else args.seeds
    max_wl = args.max_workloads or (12 if args.quick else None)
    try:
        files = dataset_files(args.dataset)
        pool = load_pool(files, dataset_files(args.prior_from or []), note=lambda m: print(f"note: {m}", file=sys.stderr))
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        trace = args.trace.open("w", encoding="utf-8") if args.trace else None
    except OSError as err:
        print(f"error: --trace {args.trace}: cannot write it ({err.strerror})", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    try:
        for path in files:
            workloads = pool[path]
            if max_wl and len(workloads) > max_wl:
                step = len(workloads) / max_wl
                workloads = [workloads[int(i * step)] for i in range(max_wl)]
            prior = loo_prior(path, pool, note=lambda m: print(f"note: {m}", file=sys.stderr)) if args.prior == "loo" else None
            src = f"prior from {prior.n_workloads} workloads of other datasets" if prior else "default prior"
            results = run_dataset(path, workloads, prior, quantiles, seeds, args.budget, trace, lambda m: None, names, overrides, args.first_seed)
            print_table(f"{path.name} ({len(workloads)} workloads, {seeds} seeds, {src})", results, sys.stdout)
            print_why(results, sys.stdout)
            print_coverage(results, sys.stdout)
            sys.stdout.flush()
        all_wl = [wl for p in files for wl in pool[p]]
        print(f"\nfit+decide with 500 runs: {timing_500(all_wl, None) * 1000:.0f} ms")
        print(f"total benchmark time: {time.perf_counter() - t_start:.0f} s")
    finally:
        if trace is not None:
            trace.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
