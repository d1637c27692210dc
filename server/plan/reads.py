"""What a plan reads of a project's runs: the newest of them (`plan_window`), their stage outlines, the
newest runs' metrics.

A plan reads the project's runs from a little before its current segment on (`plan_window`), never more
than `PLAN_RUNS` (of a longer segment, its first runs and its newest): reading the whole history made
every collected run's plan cost grow with the job's age (6 s of CPU at 8000 runs, an hourly job's year).
What each consumer reads of the runs:

- the change screen (`models.changes.screen`) the current segment and some runs before it
  (`RUNS_BEFORE_SEGMENT`): to find its change point again it compares the segment's first run with
  the run before it (a complete run's stage signature, the previous segment's median input, the same
  configurations' earlier runtimes), and a change point the next run withdraws (a one-off night) falls
  back to the runs before it;
- the setup estimate (`models.setup.RECENT`), the driver rule, the storage advice, the replay, the
  capacity refusals (`models.refusals`) and a range's use (`server.plan.range_use`): the newest few
  dozen runs;
- the runtime model (`models.decide`): the segment's runs it learns from; of a segment longer than the
  window, its first runs (every configuration it learned after the change point) and its newest;
- the candidates: the configurations of the runs read (observed-only ones teach the model only through
  the segment's runs), and the job's spot loss rate over them;
- the decision's seed counts the runs left out, and the pause for an owner's edit
  (`server.plan.planner.edit_hold`) reads the newest flagged run wherever it is.

Every run's stage outline (names, parents, failures: `StageOutline`) of those runs is read, in a
few batched queries, for the code signature the screen compares. Stage metrics and driver peaks
are read only for the runs whose metrics something uses:

- the driver rule (`models.driver.choose_driver`): the newest `DRIVER_RUNS` runs with a known
  configuration (its ``WINDOW`` and ``TROUBLE_WINDOW``);
- the storage advice (`server.plan.storage.advise`): the newest `DISK_RUNS` succeeded runs with stages;
- the runtime model's replay (`models.decide`): the newest `REPLAYED_RUNS` runs it learns from
  that have stages, see `replayed`.

Every other run's observation carries no stage metrics: the model never reads them. Reading them
all was one query per run for stages and one for driver peaks, seconds per plan at a thousand
runs, on the collector's one thread.
"""

from __future__ import annotations

import math
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from models.driver import TROUBLE_WINDOW
from models.driver import WINDOW as DRIVER_WINDOW
from models.observation import Observation
from server.domain import DriverPeaks, Run, Stage
from server.store import Store
from server.store.repos.applications import StageOutline

T = TypeVar("T")

# `models.driver.choose_driver` reads the newest WINDOW runs, and TROUBLE_WINDOW for trouble.
DRIVER_RUNS = max(DRIVER_WINDOW, TROUBLE_WINDOW)
# The storage advice prices the disk use of the newest runs (`server.plan.planner`: ``disk[-10:]``).
DISK_RUNS = 10
# `models.decide._outlook` replays the stage metrics of the newest five learned runs that have stages.
REPLAYED_RUNS = 5
# The most runs a plan reads. Its cost grows with the runs read, so this bounds it: a current segment
# longer than this is read as its first `SEGMENT_HEAD` runs (the configurations it learned from after
# its change point) and its newest runs, the runs between (the job repeating what it settled on, which
# the model has long converged on) left out. An hourly job's six weeks, a nightly job's three years.
PLAN_RUNS = 1000
# Runs read before the current segment's first run: the past the change screen compares that run with
# to find its change point again (see the module docstring), a few hundred runs on the configurations
# the job settled on before it.
RUNS_BEFORE_SEGMENT = 200
# The first runs of a long segment that are read: its learning runs and first explorations, every
# configuration it measured after the change point (`models.decide`: learning budgets are a handful).
SEGMENT_HEAD = 100


@dataclass(frozen=True)
class PlanWindow:
    """The runs a plan reads (oldest first, as `RunRepository.history` gives them), and how many runs with
    a configuration (each an observation) the project has besides them."""

    runs: list[Run]
    configured_left_out: int = 0


def plan_window(store: Store, project_id: int, segment_from: int | None) -> PlanWindow:
    """The runs a plan reads: from `RUNS_BEFORE_SEGMENT` runs before ``segment_from`` (the id of the
    run the current segment starts at, the change point the planner kept; None: none kept, the
    history is one segment) on, `PLAN_RUNS` at most: then the segment's first `SEGMENT_HEAD` runs
    and its newest."""
    total = store.runs.count(project_id)
    since = store.runs.count_from(project_id, segment_from) if segment_from is not None else None
    start = total - since if since is not None else 0  # where the segment starts, in history order
    first = max(start - RUNS_BEFORE_SEGMENT, 0)
    if total - first <= PLAN_RUNS:
        runs = store.runs.history(project_id, offset=first)
    else:
        head = start + SEGMENT_HEAD - first
        runs = store.runs.history(project_id, offset=first, limit=head) + \
            store.runs.history(project_id, offset=total - (PLAN_RUNS - head))
    if len(runs) >= total:
        return PlanWindow(runs)
    # The left-out runs count in the decision's seed (`server.plan.planner.plan_project`).
    read = sum(1 for r in runs if r.config is not None)
    return PlanWindow(runs, configured_left_out=max(store.runs.count_configured(project_id) - read, 0))


class RunStages:
    """The stages of a project's runs (oldest first, as `RunRepository.history` gives them): every
    run's outline at once, and the whole stages of the runs asked for (`full`), each read once."""

    def __init__(self, store: Store, runs: Sequence[Run]) -> None:
        self._store = store
        self._runs = list(runs)
        by_app = store.applications.stage_outlines(a for r in self._runs for a in r.application_ids)
        self.outlines: list[list[StageOutline]] = [_joined(r, by_app) for r in self._runs]
        self._full: dict[int, list[Stage]] = {}

    def full(self, indices: Iterable[int]) -> dict[int, list[Stage]]:
        """The whole stages (metrics, executor peaks) of the runs at ``indices``, and of those read
        before, by index."""
        missing = [i for i in dict.fromkeys(indices) if i not in self._full]
        if missing:
            by_app = self._store.applications.stages_for(a for i in missing for a in self._runs[i].application_ids)
            self._full.update({i: _joined(self._runs[i], by_app) for i in missing})
        return self._full

    def driver_peaks(self, indices: Iterable[int]) -> dict[int, list[DriverPeaks]]:
        """The driver's heartbeat peaks of the runs at ``indices``, by index."""
        wanted = list(dict.fromkeys(indices))
        by_app = self._store.applications.driver_peaks_for(a for i in wanted for a in self._runs[i].application_ids)
        return {i: _joined(self._runs[i], by_app) for i in wanted}


def _joined(run: Run, by_app: dict[str, list[T]]) -> list[T]:
    """The run's applications' items, in its applications' order (the order one query per application gave)."""
    return [x for a in run.application_ids for x in by_app.get(a, ())]


def driver_runs(runs: Sequence[Run]) -> list[int]:
    """Indices of the runs the driver rule reads: the newest `DRIVER_RUNS` with a known configuration
    (`server.plan.driver.driver_run` has nothing to say about the others)."""
    return [i for i, r in enumerate(runs) if r.config is not None][-DRIVER_RUNS:]


def disk_runs(runs: Sequence[Run], outlines: Sequence[Sequence[StageOutline]]) -> list[int]:
    """Indices of the runs the storage advice reads: the newest `DISK_RUNS` succeeded runs with a
    known configuration and stages (`server.plan.storage.disk_use`)."""
    return [i for i, r in enumerate(runs)
            if r.outcome == "succeeded" and r.config is not None and outlines[i]][-DISK_RUNS:]


def replayed(history: Sequence[Observation], at: Sequence[int], outlines: Sequence[Sequence[StageOutline]],
             known: Container[str]) -> list[int]:
    """Indices (into the runs) of the runs whose stage metrics the model may replay.

    ``history`` is the observations in order, ``at`` each one's run index, ``known`` the candidates'
    configuration ids. `models.decide` replays the newest `REPLAYED_RUNS` runs with stages among
    those it learns from (its current segment's, screened). Walking back from the newest run,
    every run with stages is taken until `REPLAYED_RUNS` of them are surely learned (succeeded, no
    anomaly at all, a valid runtime, a candidate's configuration: a stricter test than the
    model's, so no run counted here is one it leaves out). Every learned run with stages older
    than those is behind that many newer ones, so it is never replayed; when the segment starts
    later, its runs are all among those taken."""
    taken: list[int] = []
    sure = 0
    for obs, i in zip(reversed(history), reversed(at), strict=True):
        if not any(not s.failure_reason for s in outlines[i]):
            continue  # no stage the observation would carry: nothing to replay
        taken.append(i)
        if obs.ok and not obs.anomalies and obs.config_id in known and 0.0 < obs.runtime_s < math.inf:
            sure += 1
            if sure >= REPLAYED_RUNS:
                break
    return taken
