"""Which runs the model may learn from: anomaly screening and change points (rebase).

A project's history is cut at its latest change point; only the segment after it is learned:
- a new stage structure (``stage_signature`` differs from the previous run's): the code changed;
- an input size shift beyond `INPUT_SHIFT` relative to the segment's median input (smaller growth is
  handled by the model's input-size covariate); while the segment's runs so far show a clear trend
  (`models.growth.forecast_input`), such a run is judged against the trend's forecast for it: a
  steady trend is growth, a jump off it (beyond `INPUT_SHIFT` of the forecast) is a change point. A
  run within `INPUT_SHIFT` of the median is never one, trend or not (exactly the rule without a trend);
- a runtime regression: two consecutive clean runs, each on a configuration already measured in
  the segment, both slower than that configuration's earlier runs by more than `REGRESSION_RATIO`
  and three run-noise sds, after correcting for input size. Two in a row, because one slow run is
  what noise sometimes does.

A segment that grew along a trend past `INPUT_SHIFT` keeps only the runs within `INPUT_SHIFT` of its
latest input: older runs enter the fit through the prior's input elasticity (an offset to the planned
input), not a learned one, so far from it they would carry its error. They are explained ("far from the
latest"), the segment is not restarted (its learning budget stays spent).

Runs that failed or lost spot capacity, and runs on configurations outside the decision space, are
explained and not learned as a configuration's normal runtime. A failed run's configuration is
avoided in the segment unless another label explains the failure (a lost spot node, a dead driver,
a cluster the cloud or the service failed: "launch_failed"); "repaired" does not: a repaired run that
is still a failure (its repair failed too, or succeeded only on another configuration) is avoided.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from models.growth import forecast_input
from models.observation import LAUNCH_FAILED, NOT_LEARNED, OUT_OF_MEMORY, REPAIRED, Observation
from models.space import Candidate

INPUT_SHIFT = 1.5
REGRESSION_RATIO = 1.25


@dataclass(frozen=True)
class Screened:
    segment_start: int  # index into the history of the current segment's first run
    change_reason: str | None  # why the segment starts there (None: no change point)
    learn: tuple[int, ...]  # history indices the model learns from
    explained: Mapping[str, str] = field(default_factory=dict)  # "<index>:<config_id>" -> why not learned
    failed_configs: frozenset[str] = frozenset()  # failed in this segment and never succeeded
    # Most memory per core (GiB) among those that failed out of memory (0: none did).
    oom_memory_per_core: float = 0.0


def run_key(index: int, obs: Observation) -> str:
    return f"{index}:{obs.config_id}"


def _why_not_learned(obs: Observation, known: Mapping[str, Candidate]) -> str | None:
    if not obs.ok and OUT_OF_MEMORY in obs.anomalies:
        return ("failed out of memory: not learned; configurations with no more memory per core than "
                "this one are avoided")
    if "driver_lost" in obs.anomalies:
        return "the driver died: not learned; the driver is sized up, the workers are not blamed"
    if LAUNCH_FAILED in obs.anomalies:
        return ("the cloud or the service failed the run's cluster (its reason is in the run's message): "
                "not the configuration's fault; not learned, and the configuration is not avoided")
    spotted = sorted(set(obs.anomalies) & NOT_LEARNED)
    if spotted:
        return f"{', '.join(spotted)}: runtime {obs.runtime_s:.0f}s is not this configuration's normal"
    if not obs.ok:
        return "failed run: its runtime is time-to-failure, not learned; the configuration is avoided"
    if obs.runtime_s <= 0 or not math.isfinite(obs.runtime_s):
        return "no valid runtime recorded"
    if obs.config_id not in known:
        return "ran on a configuration outside the decision space (bounds changed or a manual edit)"
    return None


def screen(
    history: Sequence[Observation],
    known: Mapping[str, Candidate],
    sigma_run: float,
    input_elasticity: float,
    labels: Sequence[str] | None = None,
) -> Screened:
    """Find the current segment and the runs to learn from (see the module docstring).

    ``labels`` name the history's runs in a change point's reason as their owner looks them up
    (the server: "run 42 of 2026-12-01 03:00 UTC"); without them, by position ("run #11 of the
    history", counted from 1)."""
    if labels is not None and len(labels) != len(history):
        raise ValueError(f"screen: {len(labels)} run labels for {len(history)} runs")

    def label(idx: int) -> str:
        return labels[idx] if labels is not None else f"run #{idx + 1} of the history"

    start, reason = 0, None
    n = len(history)
    # Each change point lies strictly after the current start, so this ends within n rounds.
    while (scan := _scan(history, known, start, sigma_run, input_elasticity, _sig_before(history, start),
                         label)).change:
        start, reason = scan.change
    far = _far_from_latest(history, known, start) if scan.grew else {}
    explained: dict[str, str] = {}
    learn: list[int] = []
    ok_cfgs: set[str] = set()
    failed: set[str] = set()
    oom: set[str] = set()
    for idx in range(start, n):
        obs = history[idx]
        why = _why_not_learned(obs, known) or far.get(idx)
        if why is None:
            learn.append(idx)
            ok_cfgs.add(obs.config_id)
        else:
            explained[run_key(idx, obs)] = why
            # A plain failure (not a lost spot node) may be the configuration's fault (e.g. OOM).
            # "repaired" explains a run's time, not its failure (models/observation.py).
            if not obs.ok and not set(obs.anomalies) & (NOT_LEARNED - {"failure", REPAIRED}):
                failed.add(obs.config_id)
                if OUT_OF_MEMORY in obs.anomalies:
                    oom.add(obs.config_id)
    oom_mem = max((known[c].memory_per_core_gib for c in oom - ok_cfgs if c in known), default=0.0)
    return Screened(start, reason, tuple(learn), explained, frozenset(failed - ok_cfgs), oom_mem)


def _sig_before(history: Sequence[Observation], start: int) -> str | None:
    for obs in reversed(history[:start]):
        if obs.stage_signature:
            return obs.stage_signature
    return None


def _far_from_latest(history: Sequence[Observation], known: Mapping[str, Candidate], start: int) -> dict[int, str]:
    """The segment's learnable runs whose input is beyond `INPUT_SHIFT` of its latest learnable run's
    (history index -> why not learned). That latest run is always kept, so the segment keeps
    something to learn from whenever it had anything."""
    usable = [idx for idx in range(start, len(history))
              if history[idx].input_gb and _why_not_learned(history[idx], known) is None]
    if not usable:
        return {}
    latest = float(history[usable[-1]].input_gb or 0.0)
    far: dict[int, str] = {}
    for idx in usable:
        ratio = float(history[idx].input_gb or 0.0) / latest
        if ratio > INPUT_SHIFT or ratio < 1.0 / INPUT_SHIFT:
            far[idx] = (f"input {history[idx].input_gb:.3g} GB, far from the latest {latest:.3g} GB: not "
                        "learned (its runtime would be scaled by the prior's input elasticity, not a learned one)")
    return far


@dataclass(frozen=True)
class _Scan:
    change: tuple[int, str] | None  # the first change point after the start (index, reason)
    # A run beyond `INPUT_SHIFT` of the segment's median input was let through as on its trend.
    grew: bool


def _shift(ratio: float) -> bool:
    return ratio > INPUT_SHIFT or ratio < 1.0 / INPUT_SHIFT


def _scan(
    history: Sequence[Observation],
    known: Mapping[str, Candidate],
    start: int,
    sigma_run: float,
    elasticity: float,
    last_sig: str | None,
    label: Callable[[int], str],
) -> _Scan:
    """The first change point after ``start``, and whether the segment grew along a trend."""
    inputs: list[float] = []
    # Every run of the segment so far in schedule order, None where it is not learnable or has no
    # input size: the trend's runs keep their places on the schedule.
    placed: list[float | None] = []
    grew = False
    per_config: dict[str, list[float]] = {}
    prev_regressed: int | None = None
    prev_clean: int | None = None
    threshold = max(math.log(REGRESSION_RATIO), 3.0 * sigma_run)
    for idx in range(start, len(history)):
        obs = history[idx]
        if obs.stage_signature:
            if last_sig and obs.stage_signature != last_sig and idx > start:
                return _Scan((idx, f"the stage structure changed (a code change) at {label(idx)}: learning again"),
                             grew)
            last_sig = obs.stage_signature
        if _why_not_learned(obs, known) is not None:
            placed.append(None)
            continue
        if obs.input_gb and inputs and idx > start:
            ratio = obs.input_gb / float(np.median(inputs))
            # Only a run the old rule calls a shift is judged against the trend, so a trend seen in
            # flat noise (a few % of short segments, `models.growth._monotone`) cannot add a change point.
            trend = forecast_input(placed) if _shift(ratio) else None
            if trend is not None and trend.rate and trend.forecast_gb:
                # A clear trend: the run is judged against where the trend said it would land.
                off = obs.input_gb / trend.forecast_gb
                if _shift(off):
                    return _Scan((idx, f"input size {obs.input_gb:.3g} GB at {label(idx)} is {off:.2f}x the "
                                       f"{trend.forecast_gb:.3g} GB its trend forecast (~{trend.rate:+.0%} a run): "
                                       "learning again"), grew)
                grew = True
            elif trend is not None:
                return _Scan((idx, f"input size shifted {ratio:.2f}x at {label(idx)}: learning again"), grew)
        placed.append(obs.input_gb)
        ref = inputs[0] if inputs else None
        if obs.input_gb:
            inputs.append(obs.input_gb)
        norm = math.log(obs.runtime_s)
        if obs.input_gb and ref:
            norm -= elasticity * math.log(obs.input_gb / ref)
        earlier = per_config.get(obs.config_id)
        regressed = bool(earlier) and norm - float(np.mean(earlier)) > threshold
        if regressed and prev_regressed is not None and prev_regressed == prev_clean:
            slow = math.exp(norm - float(np.mean(earlier or [norm])))
            return _Scan((prev_regressed, (
                f"runtime regression from {label(prev_regressed)} ({slow:.2f}x slower on a measured "
                "configuration): learning again"
            )), grew)
        prev_regressed = idx if regressed else None
        prev_clean = idx
        per_config.setdefault(obs.config_id, []).append(norm)
    return _Scan(None, grew)
