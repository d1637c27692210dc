"""How a project's kept problem (`server.domain.PlanProblem`) words its failure: one line."""

from __future__ import annotations

from server.render.fmt import cut

# A kept problem message is one line of at most this many characters: enough for a database's
# or the Jobs API's own sentence, short enough for a terminal line and the project row.
PROBLEM_MESSAGE_CHARS = 300


def problem_message(err: BaseException) -> str:
    """One line for a kept problem: the error's type and message, whitespace folded, truncated."""
    text = str(err)
    return cut(f"{type(err).__name__}: {text}" if text.strip() else type(err).__name__, PROBLEM_MESSAGE_CHARS)
