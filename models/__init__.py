"""Trimtab's decision core: pure functions over plain data (numpy/scipy only; no I/O, no clock).

The server calls ONE entry point after every collected run::

    from models import Candidate, Observation, StageObs, Settings, decide, learn_prior

    decision = decide(candidates, history, settings, prior, seed=run_count)

- ``candidates``: `Candidate` per allowed configuration (worker type, vCPUs and memory per worker,
  workers, whole-cluster all-in hourly price, spot interruption rate, autoscale bounds, driver type).
  Build them from the project's bounds; the decision only ever returns one of them.
- ``history``: `Observation` per collected run, oldest first (runtime, ok, input size, the agent's
  per-stage summaries `StageObs`, anomalies such as "spot_loss"/"failure", stage signature, whether
  the run used Trimtab's recommendation, the cluster's setup time when the run reports it).
- ``settings``: `Settings` (SLA seconds or None, learning budget, P target 0.9, auto-apply, plus
  the optimizer's risk attitude; see `models.decide.Settings`).
- ``prior``: from `learn_prior([(candidates, history), ...])` over other projects; None uses
  `DEFAULT_PRIOR`.

`Decision` carries the configuration to apply next (``candidate``), the ``phase``
("learning" | "optimizing" | "monitoring"), predicted runtime and cost with 90% intervals, P(meet
SLA), a one-line ``reason``, ``rebased`` (a change point restarted learning; the reason says which,
``change_at`` / ``change_kind`` say it as data), ``explained`` (run "<index>:<config_id>" -> why it
was not learned), and ``best`` / ``p_best`` (what the model would settle on now). `forecast(...)` gives the same predictions for every candidate.

Modules: `space` (candidates, features), `observation`, `replay` (single-run extrapolation from
stage metrics), `runtime` (Bayesian runtime model with prediction intervals), `prior`,
`changes` (anomaly screening, change points), `setup` (the cluster's setup time, learned apart
from the execution), `acquire` (knowledge gradient: which run improves the recommendation most),
`decide` (phases, SLA-constrained optimizer).
"""

from models.decide import Decision, Forecast, Settings, decide, forecast
from models.observation import Observation, StageObs
from models.prior import DEFAULT_PRIOR, Prior, learn_prior
from models.space import Candidate

__all__ = [
    "DEFAULT_PRIOR",
    "Candidate",
    "Decision",
    "Forecast",
    "Observation",
    "Prior",
    "Settings",
    "StageObs",
    "decide",
    "forecast",
    "learn_prior",
]
