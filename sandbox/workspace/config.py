"""The one typed configuration of a `sandbox up` process.

Precedence: command-line flag > environment variable > default. Nothing here is
sensitive (the workspace token is generated and kept in the state file).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    sensitive: bool = False


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _bool(text: str) -> bool:
    # Anything else is refused, not read as "off": TRIMTAB_SANDBOX_SEED=maybe started an empty
    # workspace, and seeding happens only on a state directory's first start, so the typo cost the
    # example jobs for good.
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"expected one of {', '.join(_TRUE)} (on) or {', '.join(_FALSE)} (off), "
                     f"got {text!r}")


# Simulated seconds per wall-clock second: far past any use (a simulated day in a tenth of a second).
# Without a bound, 1e308 overflowed the simulated clock ("cannot convert float infinity to integer")
# once the sandbox was serving, and nan or inf were taken as given.
MAX_SPEED = 1e6


def check_speed(value: float) -> float:
    """`value` if it is a usable speed: a finite number above 0 and at most `MAX_SPEED`."""
    if not (math.isfinite(value) and 0 < value <= MAX_SPEED):
        raise ValueError(f"speed must be > 0 and at most {MAX_SPEED:,.0f} (simulated seconds per "
                         f"wall-clock second), got {value!r}")
    return value


def _speed(text: str) -> float:
    return check_speed(float(text))


def _spot_loss_rate(text: str) -> float:
    from sandbox.sim.spot_market import check_rate

    return check_rate(float(text))


SETTINGS: tuple[Setting, ...] = (
    Setting("state_dir", "TRIMTAB_SANDBOX_STATE_DIR", Path, Path.home() / ".trimtab" / "sandbox",
            "Where jobs, runs, clusters, DBFS and logs are kept."),
    Setting("speed", "TRIMTAB_SANDBOX_SPEED", _speed, 600.0,
            "Simulated seconds per wall-clock second."),
    Setting("port", "TRIMTAB_SANDBOX_PORT", int, 0, "Port on 127.0.0.1 (0: any free port)."),
    Setting("rate_limit", "TRIMTAB_SANDBOX_RATE_LIMIT", int, None,
            "Answer 429 beyond this many requests per second (none: unlimited)."),
    Setting("seed", "TRIMTAB_SANDBOX_SEED", _bool, True,
            "Create the example jobs on the first start."),
    Setting("schedules", "TRIMTAB_SANDBOX_SCHEDULES", _bool, True,
            "Start runs at each job's unpaused schedule or periodic trigger."),
    Setting("spot_loss_rate", "TRIMTAB_SANDBOX_SPOT_LOSS_RATE", _spot_loss_rate, None,
            "Spot instances reclaimed per spot node-hour of a run (none: the simulator's 0.9, some 3 in "
            "100 spot nodes over a typical sandbox run); a spot driver (first_on_demand 0) too."),
)
BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class SandboxConfig:
    state_dir: Path
    speed: float
    port: int
    rate_limit: int | None
    seed: bool
    schedules: bool = True
    spot_loss_rate: float | None = None  # None: the simulator's default (`sandbox.sim.spot_market`)

    def __post_init__(self) -> None:
        # Absolute: simulated clusters run their init scripts and write their logs from their own
        # working directories, where a relative --state-dir names nothing (every run failed, exit 127).
        object.__setattr__(self, "state_dir", Path(self.state_dir).expanduser().absolute())
        check_speed(self.speed)
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be within 0..65535, got {self.port}")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError(f"rate limit must be >= 1, got {self.rate_limit}")
        if self.spot_loss_rate is not None:
            from sandbox.sim.spot_market import check_rate

            check_rate(self.spot_loss_rate)

    def sim_backend(self) -> Any:
        """The simulator these settings run clusters on (`sandbox.workspace.backend.SandboxSimBackend`)."""
        from sandbox.workspace.backend import SandboxSimBackend

        return SandboxSimBackend(spot_loss_rate=self.spot_loss_rate)


def load(flags: Mapping[str, Any] | None = None,
         environ: Mapping[str, str] | None = None) -> SandboxConfig:
    """Flags given (not None) win over the environment, which wins over defaults."""
    flags = flags or {}
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if flags.get(setting.name) is not None:
            values[setting.name] = flags[setting.name]
            if setting.name == "speed":
                # Named as typed (--speed), as a value from the environment is named by its variable.
                try:
                    check_speed(values["speed"])
                except ValueError as exc:
                    raise ValueError(f"--speed: {exc}") from exc
        elif environ.get(setting.env, "") != "":
            try:
                values[setting.name] = setting.parse(environ[setting.env])
            except ValueError as exc:
                raise ValueError(f"{setting.env}: {exc}") from exc
        else:
            values[setting.name] = setting.default
    return SandboxConfig(**values)
