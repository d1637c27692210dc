"""Options that narrow what a command acts on (a filter such as ``--workspace W``, a pin such as
``--id REC_ID``): a value, or the option left out; never an empty value taken for "left out".

Such options used ``default=""``, so ``--id "$REC_ID"`` with the variable unset was the same as no
--id: `recommendation apply` applied whatever was pending (exit 0), the one thing the pin is there
to prevent, and ``project list --workspace "$WS"`` listed every workspace's projects. With `Given`
the option's default is None and a value given empty, or only blank, is a usage error (exit 2)
naming the option, as for --state-dir and --sla.
"""

from __future__ import annotations

from typing import Any

import click


class Given(click.ParamType):
    """A text option or argument that, when given, is not blank.

    `what` follows "give" in the refusal (``a workspace name``); `left_out` says what leaving the
    option out means (``for every workspace``), so the user sees both ways out.
    """

    name = "text"

    def __init__(self, what: str, left_out: str = "") -> None:
        self.what = what
        self.left_out = left_out

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            instead = f", or leave it out {self.left_out}" if self.left_out else ""
            self.fail(f"{value!r}: an empty value is most often an unset shell variable; give {self.what}{instead}",
                      param, ctx)
        return value
