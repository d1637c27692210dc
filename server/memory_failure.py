"""Whether a failed run ran out of memory, and where: on its driver or on its executors (pure).

Databricks says it in a few ways, none of them a termination code of its own (a job run's
``termination_details`` is RUN_EXECUTION_ERROR or DRIVER_ERROR; only a cluster that died of it says
``DRIVER_OUT_OF_MEMORY``):
- the JVM's error in the run's or the failed tasks' message, or in a stage's failure reason the agent
  sent: ``java.lang.OutOfMemoryError: Java heap space`` or ``... GC overhead limit exceeded``;
- an executor the OS or the resource manager killed for its memory: ``Container killed by YARN for
  exceeding memory limits``, ``Command exited with code 137`` (SIGKILL, the OOM killer) or 143;
- an executor lost while no node was: Spark's ``ExecutorLostFailure (executor 7 exited caused by one
  of the running tasks) Reason: Remote RPC client disassociated. Likely due to containers exceeding
  thresholds ...``. The same words follow a reclaimed spot node, so they count only when the
  cluster's events lost no node (``NODES_LOST``): an executor that died on a node that stayed up was
  killed for memory (a pandas UDF's Python worker, outside the JVM heap, is the usual one);
- the driver stopped (``The spark driver has stopped unexpectedly``, ``Driver is up but is not
  responsive, likely due to GC``) with the JVM's error or GC named.

Before, such a run was a plain failure, and one whose executors were killed read as a spot loss:
explained and not learned, so the planner tried the same too-small configuration again. Labelled
``out_of_memory``, the decision core avoids configurations with no more memory per core than this one
(`models.changes`); a driver's is also ``driver_lost``, which sizes the driver up instead
(`server.plan.driver`), the workers not being to blame.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from models.observation import OUT_OF_MEMORY

__all__ = ["OUT_OF_MEMORY", "MemoryFailure", "memory_failure", "memory_message", "says_out_of_memory"]

# The JVM's, YARN's and the OS's words for memory (lower case).
_MEMORY_WORDS = ("outofmemoryerror", "gc overhead limit exceeded", "java heap space", "exceeding memory limits",
                 "driver_out_of_memory")
# An executor's process killed by a signal: 137 is SIGKILL (the kernel's OOM killer, or a container
# over its limit), 143 SIGTERM (YARN's "Container killed on request. Exit code is 143").
_KILLED = re.compile(r"exit(?:ed with)?\s+(?:code|status)\s*(?:is\s*)?:?\s*(?:137|143)\b")
_DRIVER_GC = "likely due to gc"
_EXECUTOR_LOST = "executorlostfailure"
_DRIVER_CODE = "DRIVER_OUT_OF_MEMORY"  # compute.TerminationReasonCode


def says_out_of_memory(text: str) -> bool:
    """Whether ``text`` names memory as what failed (the JVM's error, or a process killed for it)."""
    low = text.lower()
    return any(w in low for w in _MEMORY_WORDS) or bool(_KILLED.search(low))


@dataclass(frozen=True)
class MemoryFailure:
    """``where``: "driver" or "executors". ``evidence``: the words that said so, for the run's message."""

    where: str
    evidence: str


def _evidence(texts: Iterable[str]) -> str:
    for text in texts:
        low = text.lower()
        for word in _MEMORY_WORDS:
            at = low.find(word)
            if at >= 0:
                return _phrase(text, at, len(word))
        found = _KILLED.search(low)
        if found:
            return _phrase(text, found.start(), found.end() - found.start())
    return ""


def _phrase(text: str, at: int, length: int) -> str:
    """The clause of ``text`` holding the match: from the ": ", ". " or line start before it (within 45
    characters) to the end of its sentence (within 60 after it), so the run's message keeps room for
    Databricks' own words."""
    line = text.rfind("\n", 0, at) + 1
    start = max((text.rfind(sep, max(line, at - 45), at) + len(sep) for sep in (": ", ". ")
                 if text.rfind(sep, max(line, at - 45), at) >= 0), default=at if at - line > 45 else line)
    ends = [e for e in (text.find(". ", at + length), text.find("\n", at + length)) if e >= 0]
    end = min([*ends, len(text), at + length + 60])
    return text[start:end].strip().rstrip(".")


def memory_failure(texts: Iterable[str], *, driver_died: bool, nodes_lost: bool,
                   cluster_code: str = "") -> MemoryFailure | None:
    """Whether a failed run ran out of memory; None when nothing says so.

    ``texts``: Databricks' and Spark's words on the failure (the run's state message, each failed
    task's message, the agent's stage failure reasons and executor removal reasons). ``driver_died``:
    the run lost its driver (`server.collect.build.driver_died`). ``nodes_lost``: the cluster lost a
    node (``NODES_LOST``, a spot node reclaimed). ``cluster_code``: the cluster's termination code."""
    texts = [t for t in texts if t]
    evidence = _evidence(texts)
    if driver_died or cluster_code == _DRIVER_CODE:
        if cluster_code == _DRIVER_CODE:
            return MemoryFailure("driver", evidence or _DRIVER_CODE)
        gc = next((t for t in texts if _DRIVER_GC in t.lower()), "")
        if evidence or gc:
            return MemoryFailure("driver", evidence or _phrase(gc, gc.lower().find(_DRIVER_GC), len(_DRIVER_GC)))
        return None
    if evidence:
        return MemoryFailure("executors", evidence)
    lost = next((t for t in texts if _EXECUTOR_LOST in t.lower()), "")
    if lost and not nodes_lost:
        return MemoryFailure("executors", "executors lost (ExecutorLostFailure) while no node was")
    return None


def memory_message(failure: MemoryFailure, said: str) -> str:
    """The run's message: where memory ran out, what Trimtab does about it, what a person can do;
    then Databricks' own words (``said``)."""
    if failure.where == "driver":
        head = (f"Out of memory on the driver ({failure.evidence}): the configuration's fault; the next plan "
                "sizes the driver up, the workers are not blamed. Or bring less to the driver (collect, "
                "toPandas, broadcast joins)")
    else:
        head = (f"Out of memory on the executors ({failure.evidence}): the configuration's fault, not a spot "
                "loss; configurations with no more memory per core are avoided. Or use smaller partitions; "
                "Python UDFs use memory outside the JVM heap")
    return f"{head}. Databricks: {said}" if said else head
