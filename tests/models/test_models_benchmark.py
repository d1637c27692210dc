"""The tuning benchmark harness on small files in the tuning dataset format v1."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from benchmarks import tuning
from benchmarks.dataset_format import Rep, Workload, load_dataset
from tests.models.models_synth import grid, random_job

HEADER = ["dataset", "workload", "config_id", "instance_type", "vcpus", "memory_gib", "nodes", "price_per_hour",
          "runtime_s", "ok", "data_size_gb", "rep", "m_cpu_user_pct"]


def _write(path: Path, name: str, workloads: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cands = grid((2, 4, 8, 16))
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for k in range(workloads):
            job = random_job(rng)
            for c in cands:
                for rep in (1, 2):
                    t = job.mean_runtime(c) * float(np.exp(rng.normal(0, 0.03)))
                    w.writerow([name, f"job{k}", c.config_id, c.instance_type, c.vcpus, c.memory_gib, c.nodes,
                                c.price_per_hour, round(t, 3), 1, 10.0, rep, round(float(rng.uniform(20, 90)), 2)])


def test_benchmark_prints_tables_and_a_rescorable_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scored, other = tmp_path / "scored.csv", tmp_path / "other.csv"
    _write(scored, "scored", 2, 1)
    _write(other, "other", 6, 2)
    trace = tmp_path / "trace.jsonl"
    rc = tuning.main(["--dataset", str(scored), "--seeds", "2", "--budget", "4", "--sla-quantiles", "0.5",
                      "--trace", str(trace)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "prior from 6 workloads of other datasets" in out  # leave-one-dataset-out
    assert "fit+decide with 500 runs" in out
    # A budget of 4 runs: the table has no 6-run columns (regret@6, ceiling@6).
    assert "search/oracle" in out.splitlines()[2] and "ceiling@6" not in out.splitlines()[2]
    # Trimtab states a 90% interval with every run it picks; the others state none.
    rows = out.splitlines()
    head = next(i for i, r in enumerate(rows) if r.startswith("90% interval held the run"))
    coverage = rows[head + 1].split()
    assert coverage[:2] == ["trimtab", "q0.50"]
    shares = [float(v) for v in coverage[2:] if re.fullmatch(r"\d\.\d\d", v)]
    assert shares and all(0.0 <= v <= 1.0 for v in shares)
    assert not any(r.startswith(("cherrypick q", "random q")) for r in out.splitlines())
    lines = [json.loads(x) for x in trace.read_text().splitlines()]
    tuners = {"trimtab", "cherrypick", "ernest", "random", "keep"}
    assert {x["tuner"] for x in lines} == tuners
    assert len(lines) == len(tuners) * 2 * 1 * 2 * 4
    assert set(lines[0]) == {"tuner", "workload", "sla_quantile", "sla_s", "seed", "step", "tried", "runtime_s",
                             "ok", "recommended"}
    # Every tuner starts from the same configuration for a given workload and seed.
    starts = {(x["workload"], x["seed"], x["tried"]) for x in lines if x["step"] == 1}
    assert len(starts) == 2 * 2
    # Rescore P@3 for trimtab from the trace and find the printed value.
    wls = {f"{w.dataset}/{w.name}": w for w in load_dataset(scored)}
    hits = []
    for x in lines:
        if x["tuner"] == "trimtab" and x["step"] == 3:
            wl = wls[x["workload"]]
            by_id = {c.config_id: c for c in wl.candidates}
            mean = wl.mean_runtime(x["recommended"])
            best = tuning.oracle_cost(wl, x["sla_s"])
            hits.append(mean <= x["sla_s"] and by_id[x["recommended"]].cost(mean) <= 1.1 * best)
    row = next(r for r in out.splitlines() if r.startswith("trimtab"))
    assert float(row.split()[2]) == pytest.approx(np.mean(hits), abs=0.006)


def test_benchmark_works_on_an_unseen_file_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lonely = tmp_path / "alone" / "new.csv"
    lonely.parent.mkdir()
    _write(lonely, "new", 1, 3)
    assert tuning.main(["--dataset", str(lonely.parent), "--seeds", "1", "--budget", "3"]) == 0
    out = capsys.readouterr().out
    assert "default prior" in out
    assert len(re.findall(r"^trimtab +0\.", out, re.M)) == 3  # one table row per SLA quantile


def _workload(means: dict[str, tuple[float, float]]) -> Workload:
    """A workload of single-node configurations: config id -> (price per hour, mean runtime)."""
    from models.space import Candidate

    cands = [Candidate(cid, cid, 4.0, 16.0, 1, price) for cid, (price, _) in means.items()]
    reps = {cid: [Rep(t * 0.99, True, {}), Rep(t * 1.01, True, {})] for cid, (_, t) in means.items()}
    return Workload("synth", "job", cands, reps, None)


def test_ceiling_says_whether_a_good_configuration_stands_clear_of_the_sla() -> None:
    wl = _workload({"cheap": (0.5, 300.0), "small": (1.0, 101.0), "mid": (2.0, 60.5), "big": (4.0, 40.5)})
    assert tuning.noise_sd(wl) == pytest.approx(float(np.std(np.log([0.99, 1.01]), ddof=1)))
    # SLA 300 s (the slowest mean): "small" is the cheapest that meets it, far below it.
    assert tuning.sla_for(wl, 1.0) == pytest.approx(300.0)
    assert tuning.confirmable(wl, 1.0)
    # SLA = "mid"'s own mean: the cheapest that meets it does so with no margin, and the next one
    # ("big") costs 34% more, so no tuner can be 90% sure of a within-10% configuration.
    assert tuning.sla_for(wl, 1 / 3) == pytest.approx(60.5)
    assert not tuning.confirmable(wl, 1 / 3)


def test_failed_searches_are_told_apart() -> None:
    assert tuning.why_failed(False, True) == "misses SLA"
    assert tuning.why_failed(True, True) == "good one run, not trusted"
    assert tuning.why_failed(True, False) == "good one never run"


class _Fixed:
    """Runs each configuration in turn and predicts a fixed interval for every run (test tuner)."""

    name = "fixed"

    def __init__(self, interval: tuple[float, float] | None) -> None:
        self._interval = interval

    def reset(self, candidates: list, sla_s: float, seed: int) -> None:  # type: ignore[type-arg]
        self._ids = [c.config_id for c in candidates]
        self._n = 0
        self._asked: str | None = None

    def tell(self, config_id: str, runtime_s: float, ok: bool, metrics: object) -> None:
        self._n += 1
        self._asked = None

    def ask(self) -> str:
        self._asked = self._ids[(self._n // 2) % len(self._ids)]  # each configuration twice: new, then run before
        return self._asked

    def recommend(self) -> str:
        return self._ids[0]

    def interval(self, config_id: str) -> tuple[float, float] | None:
        # Only the prediction for the run just asked for, before its outcome is told.
        return self._interval if config_id == self._asked else None


@pytest.mark.parametrize(("interval", "share"), [((0.0, 1e9), 1.0), ((0.0, 1e-3), 0.0)])
def test_interval_coverage_counts_each_chosen_run_once(tmp_path: Path, interval: tuple[float, float], share: float) -> None:
    path = tmp_path / "one.csv"
    _write(path, "one", 1, 3)
    wl = load_dataset(path)[0]
    scores = tuning.Scores()
    tuning.search(_Fixed(interval), wl, 0.5, 0, 6, None, scores)  # type: ignore[arg-type]
    # Five chosen runs (the first is the user's): the first pick and every other one are new.
    assert len(scores.covered_new) + len(scores.covered_tried) == 5
    assert scores.covered_new and scores.covered_tried
    assert np.mean(scores.covered_new + scores.covered_tried) == share
    # A tuner that predicts no interval is not counted.
    quiet = tuning.Scores()
    tuning.search(_Fixed(None), wl, 0.5, 0, 6, None, quiet)  # type: ignore[arg-type]
    assert not quiet.covered_new and not quiet.covered_tried


def test_the_default_prior_can_be_chosen_for_comparison(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scored, other = tmp_path / "scored.csv", tmp_path / "other.csv"
    _write(scored, "scored", 1, 1)
    _write(other, "other", 6, 2)
    assert tuning.main(["--dataset", str(scored), "--seeds", "1", "--budget", "3", "--sla-quantiles", "0.5",
                        "--tuners", "trimtab", "--prior", "default"]) == 0
    assert "default prior" in capsys.readouterr().out  # although another file is beside it


def test_export_prior_writes_every_workloads_fit_and_checks_staleness(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import export_prior
    from models.prior import combine_fits

    data = tmp_path / "data"
    data.mkdir()
    _write(data / "a.csv", "a", 2, 3)
    _write(data / "b.csv", "b", 4, 4)
    out = tmp_path / "public_prior.py"
    assert export_prior.main(["--dataset", str(data), "--out", str(out)]) == 0
    module: dict = {}
    exec(compile(out.read_text(), str(out), "exec"), module)  # noqa: S102 - the file just written
    fits = module["FITS"]
    assert sorted(name for name, _, _ in fits) == ["a/job0", "a/job1", "b/job0", "b/job1", "b/job2", "b/job3"]
    assert {name: w for name, w, _ in fits}["a/job0"] == pytest.approx(0.5)  # each file weighs one
    prior = combine_fits([f for _, _, f in fits], [w for _, w, _ in fits])
    assert prior.n_workloads == 6 and np.all(np.linalg.eigvalsh(prior.cov_array()) > 0)
    assert export_prior.main(["--dataset", str(data), "--out", str(out), "--check"]) == 0
    _write(data / "b.csv", "b", 4, 5)  # the measurements changed
    assert export_prior.main(["--dataset", str(data), "--out", str(out), "--check"]) == 1
    assert "stale" in capsys.readouterr().out


def test_first_seed_runs_held_out_seeds(tmp_path: Path) -> None:
    """`--first-seed` moves the seeds searched, so a change chosen on seeds 0-9 can be checked on others."""
    scored = tmp_path / "scored.csv"
    _write(scored, "scored", 1, 1)
    trace = tmp_path / "trace.jsonl"
    assert tuning.main(["--dataset", str(scored), "--seeds", "2", "--first-seed", "7", "--budget", "3",
                        "--sla-quantiles", "0.5", "--tuners", "trimtab", "--trace", str(trace)]) == 0
    assert {json.loads(x)["seed"] for x in trace.read_text().splitlines()} == {7, 8}
