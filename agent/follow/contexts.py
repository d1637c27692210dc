"""Which Databricks Spark contexts a newer one replaced (their driver ended without an ApplicationEnd).

Kept apart from the agent's loop: it is the agent's memory of each context's segment sizes by
pass, and one question asked of it every pass (`ContextWatch.superseded`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agent.follow.discover import AppSource, context_sizes


@dataclass
class CtxSeen:
    """What the agent saw of a Databricks context: its segment sizes, the pass it first saw it in,
    and the first and the last pass in which it saw them change (None: not since it first saw it)."""

    sizes: tuple[tuple[str, int], ...]
    first: int
    first_grew: int | None = None
    grew: int | None = None


class ContextWatch:
    """What the agent saw of each Databricks context not finished, by pass number."""

    def __init__(self) -> None:
        self._seen: dict[str, CtxSeen] = {}
        self._passes = 0

    def superseded(self, sources: list[AppSource], done: Iterable[str],
                   live: Callable[[str], bool]) -> dict[str, str]:
        """Databricks contexts whose driver a newer context replaced, each with the context that did.

        Databricks never marks a context's log complete; it ends with an ApplicationEnd, which a
        driver that died (an all-purpose cluster restarts it under a new context id) never writes,
        so its last stages and its end waited for good. One driver runs per cluster, so a context
        K is taken as replaced by another, O, when the agent itself saw O grow (its segment sizes
        changed between two of the agent's passes, before this pass) while O has not ended: after K
        last grew, K not growing since O first appeared; or, for a K it never saw grow, after it first
        saw K. File times are not used: a context copied in or written while the
        clock was ahead made a live context look replaced, and it was finished for good. The
        answer is made afresh at every pass, so a context that grows again is no longer replaced
        (until its follower finishes it).

        ``done``: the application keys finished for good; ``live(key)``: whether a context's
        application has not ended (nor been finished) as its follower read it.
        """
        self._passes += 1
        now = self._passes
        finished = set(done)
        dbx = [s for s in sources if s.layout == "databricks" and s.app_key not in finished]
        listed = {s.app_key for s in dbx}
        for key in [k for k in self._seen if k not in listed]:
            del self._seen[key]  # gone or finished: it neither replaces nor is replaced any more
        for src in dbx:
            sizes = context_sizes(src)
            if sizes is None:
                continue
            seen = self._seen.get(src.app_key)
            if seen is None:
                self._seen[src.app_key] = CtxSeen(sizes, now)
            elif sizes != seen.sizes:
                seen.sizes = sizes
                seen.grew = now
                if seen.first_grew is None:
                    seen.first_grew = now
        if len(self._seen) < 2:
            return {}
        # Its growth seen in an earlier pass, so its follower has read those lines and an ended context
        # (an old, complete one caught while being copied in) is known as ended before it counts.
        growing = {key: seen for key, seen in self._seen.items()
                   if seen.first_grew is not None and seen.first_grew < now and live(key)}
        out: dict[str, str] = {}
        for key, seen in self._seen.items():
            if seen.grew is not None:  # grew before the other appeared (so before the other grew)
                by = next((k for k, o in growing.items() if k != key and seen.grew < o.first), None)
            else:  # never seen growing: the other's growth must come after this one appeared
                by = next((k for k, o in growing.items() if k != key and o.grew is not None and o.grew > seen.first),
                          None)
            if by is not None:
                out[key] = by
        return out
