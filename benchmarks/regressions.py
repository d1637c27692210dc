"""How soon the change-point screen (`models.changes`) sees a lasting slow-down, and how often it
rebases a job that did not change, in closed loops on `models.decide.decide`.

    python -m benchmarks.regressions [--seeds 30] [--first-seed 0] [--noise 0.10,0.15,0.20] [--factors 1.3,1.5] [--workers 2]

The world is the decision-core tests' synthetic job (`benchmarks.synth.Job`, 28 clusters,
every-run SLA 960 s on the execution). Each night `decide` picks the cluster, the job runs it with
lognormal run noise of sd ``--noise``, and the screen reads the whole history. Scenarios per noise:

- ``stable``: 24 nights, nothing changes: every change point is false;
- ``xF``: from night 8 every run is F times slower (the whole runtime, on every cluster), followed
  for 12 runs (nights 8-19). A change point found on night < 8 is false; the slow-down is seen when
  a change point at run 7 or later (a slow last night before it by noise may start it) is found by
  night 19; delay = runs of the slowed job up to the night it is seen (1: the first slow run).

A loop goes on after a false change point (the screen learns the new segment), so a slow-down can
still be seen after one. The same seed gives the same run noise draws in every scenario and mode.
"""

from __future__ import annotations

import argparse
import json
import sys
from multiprocessing import get_context

import numpy as np

from benchmarks.synth import Job, grid
from models import changes, drift, refusals
from models.changes import screen
from models.decide import Settings, decide
from models.observation import Observation

CANDS = grid()
KNOWN = {c.config_id: c for c in CANDS}
SLA = 960.0
CHANGE_AT = 8
FOLLOW = 12
STABLE_NIGHTS = 24


def loop(factor: float | None, seed: int, noise: float) -> tuple[list[int], int | None]:
    """(nights of false change points, night the slow-down was seen or None)."""
    rng = np.random.default_rng(seed)
    job = Job()
    nights = STABLE_NIGHTS if factor is None else CHANGE_AT + FOLLOW
    history: list[Observation] = []
    false: list[int] = []
    seen: int | None = None
    last_start = 0
    for n in range(nights):
        cand = decide(CANDS, history, Settings(sla_s=SLA, sla_per_run=True), seed=len(history)).candidate
        slow = factor if factor is not None and n >= CHANGE_AT else 1.0
        t = job.mean_runtime(cand) * slow * float(np.exp(rng.normal(0.0, noise)))
        history.append(Observation(cand.config_id, t, True, input_gb=100.0))
        scr = screen(history, KNOWN, 0.05, 1.0)
        if scr.change_kind is None or scr.segment_start == last_start:
            continue
        last_start = scr.segment_start
        if factor is not None and n >= CHANGE_AT and scr.segment_start >= CHANGE_AT - 1:
            seen = n
            break
        false.append(n)
    return false, seen


def _one(args: tuple[float | None, int, float, dict[str, float]]) -> tuple[float | None, int, float, list[int], int | None]:
    factor, seed, noise, overrides = args
    for name, value in overrides.items():
        # `models.changes` re-exports the settings of `models.drift` and `models.refusals`, and each
        # module reads its own binding: a name is set in every one that has it (REGRESSION_RATIO is
        # read in changes and drift, LAUNCH_REFUSALS in changes and refusals).
        for module in (changes, drift, refusals):
            if hasattr(module, name):
                setattr(module, name, value)
    false, seen = loop(factor, seed, noise)
    return factor, seed, noise, false, seen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--first-seed", type=int, default=0,
                    help="seeds first-seed .. first-seed + seeds - 1 (a held-out set beside the usual 0-29)")
    ap.add_argument("--noise", default="0.10,0.15,0.20")
    ap.add_argument("--factors", default="1.3,1.5")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a `models.changes` setting (to measure what it buys)")
    ap.add_argument("--raw", help="write every loop's (factor, seed, noise, false nights, seen night) here")
    args = ap.parse_args(argv)
    noises = [float(x) for x in args.noise.split(",")]
    factors: list[float | None] = [None] + [float(x) for x in args.factors.split(",") if x]
    overrides = {k: float(v) for k, v in (o.split("=", 1) for o in args.set)}
    jobs = [(f, s, z, overrides) for z in noises for f in factors for s in range(args.first_seed, args.first_seed + args.seeds)]
    with get_context("spawn").Pool(args.workers) as pool:
        results = pool.map(_one, jobs, chunksize=4)
    if args.raw:
        with open(args.raw, "w") as out:
            json.dump(results, out)
    print(f"{'noise':>5} {'scenario':>8} {'false (loops)':>13} {'seen':>5} {'mean delay':>10} "
          f"{'seen <= 3':>9}  false seeds / unseen seeds")
    for z in noises:
        for f in factors:
            rows = [r for r in results if r[0] == f and r[2] == z]
            false_seeds = [r[1] for r in rows if r[3]]
            name = "stable" if f is None else f"x{f:g}"
            if f is None:
                print(f"{z:>5.2f} {name:>8} {len(false_seeds):>13} {'':>5} {'':>10} {'':>9}  {false_seeds}")
                continue
            delays = [r[4] - CHANGE_AT + 1 for r in rows if r[4] is not None]
            unseen = [r[1] for r in rows if r[4] is None]
            mean = f"{np.mean(delays):.2f}" if delays else "-"
            quick = sum(d <= 3 for d in delays)
            print(f"{z:>5.2f} {name:>8} {len(false_seeds):>13} {len(delays):>5} {mean:>10} {quick:>9}  "
                  f"{false_seeds} / {unseen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
