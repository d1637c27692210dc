"""The prior each project's runtime model starts from: what similar jobs did.

Pooled from two sources (`models.prior.combine_fits`):
- the public tuning measurements (`models.public_prior`), each dataset file weighing one in total.
  On the tuning benchmark a prior learned this way from the *other* files beat the built-in default
  on files it had never seen (docs/tuning.md), which is the position of a new project here;
- this server's other projects, each weighing one: they are the jobs most like this one (same
  clouds, prices, data, code style). A project's own runs never enter its own prior: its model
  learns from them directly, and counting them twice would make it overconfident.

A project contributes once its current segment (`models.changes.screen`: since its last input
shift or runtime regression) has runs on at least five configurations, enough to fit its shape
(`models.prior.fit_workload`). Fits come from the stored runs alone (runtime, or execution time
when runs report their cluster setup; configuration, input, anomalies), not their stages: cheap,
the same whichever path loads them, but blind to code changes (a new stage structure), which
only the project's own plan sees. They are cached by each project's run count and newest run, so
a plan refits only the projects that ran since the last one; the first plan after a start fits
every project once: ~50 ms of CPU each (`benchmarks/plan_history.py`, 200 runs a project), most of it
pricing the project's candidates, whose hardware prices are model features; 300 projects take
~15 s of CPU on the collector's thread, once per start.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from models.changes import screen
from models.prior import Prior, WorkloadFit, combine_fits, fit_workload
from models.public_prior import FITS as PUBLIC_FITS
from models.setup import estimate, execution_view
from models.space import FEATURES
from server.costing.catalog import PriceCatalog
from server.domain import Project
from server.errors import TrimtabError
from server.plan.candidates import project_candidates
from server.plan.observe import observation
from server.spec import pools_seen
from server.store import Store

log = logging.getLogger("trimtab.plan.prior")

MIN_RUNS = 5  # fewer runs cannot hold five configurations
RECENT_RUNS = 200  # a project's shape is fitted on its latest runs (its current segment of them)


class ProjectPriors:
    """Per project, the prior pooled from the public fits and every other project's fit (cached)."""

    def __init__(self, store: Store, catalog: PriceCatalog,
                 public: Sequence[tuple[str, float, WorkloadFit]] = PUBLIC_FITS) -> None:
        self._store = store
        self._catalog = catalog
        self._public = list(public)
        self._base = combine_fits([f for _, _, f in self._public], [w for _, w, _ in self._public])
        self._fits: dict[int, tuple[tuple[int, int], WorkloadFit | None]] = {}
        self._lock = threading.Lock()

    @property
    def base(self) -> Prior:
        """The prior from the public fits alone (a server with no other project that qualifies)."""
        return self._base

    def for_project(self, project_id: int) -> Prior:
        with self._lock:
            versions = self._store.runs.versions()
            own: list[WorkloadFit] = []
            for project in self._store.projects.list():
                pid = int(project.id or 0)
                version = versions.get(pid)
                if pid == project_id or project.detached or version is None or version[0] < MIN_RUNS:
                    continue
                cached = self._fits.get(pid)
                if cached is None or cached[0] != version:
                    cached = self._fits[pid] = (version, self._fit(project))
                if cached[1] is not None:
                    own.append(cached[1])
        if not own:
            return self._base
        fits = [f for _, _, f in self._public] + own
        return combine_fits(fits, [w for _, w, _ in self._public] + [1.0] * len(own))

    def _fit(self, project: Project) -> WorkloadFit | None:
        """The project's shape over its current segment; None when it cannot be fitted (yet)."""
        if not project.current_spec:
            return None
        try:
            workspace = self._store.workspaces.get(project.workspace)
            # The latest runs by start, oldest first: a backfill stores months-old runs after the newest
            # (by id, `runs.list`, they would be the latest and the segments read backwards).
            runs = list(reversed(self._store.runs.newest_first(int(project.id or 0), limit=RECENT_RUNS)))
            # A pool-backed spec names pools, not node types: as its latest runs saw them.
            pools = pools_seen(project.current_spec, [r.config for r in runs])
            pairs = project_candidates(project, workspace, self._catalog, runs, pools=pools)
        except TrimtabError as err:  # e.g. a node type the catalog lacks: this project adds nothing
            log.info("project %s is left out of the shared prior: %s", project.name, err)
            return None
        cands = [c for c, _ in pairs]
        history = [o for r in runs if (o := observation(r, [], applied_recommendation=False)) is not None]
        known = {c.config_id: c for c in cands}
        history = [o for o in history if o.config_id in known]
        if not history:
            return None
        # The prior is about how the execution scales, as the project models see it (`models.setup`).
        history = execution_view(history, estimate(history))
        segment = screen(history, known, self._base.sigma_run, self._base.mean[FEATURES.index("log_input")])
        return fit_workload(cands, [history[i] for i in segment.learn])
