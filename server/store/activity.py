"""How many transactions an engine has carried to their commit: the readiness probe
(`server.readiness`) asks the database itself only when none did since its last look, so a busy
server pays nothing for it."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine


class _Count:
    n = 0


_COUNTS: weakref.WeakKeyDictionary[Engine, _Count] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def commits(engine: Engine) -> Callable[[], int]:
    """A function returning how many transactions reached their commit on ``engine`` since the first
    call for it. A change is what matters, not the number: an increment lost to a race between two
    threads is harmless (the other one still changed it)."""
    with _GUARD:
        count = _COUNTS.get(engine)
        if count is None:
            count = _COUNTS[engine] = _Count()
            held = count

            # Every statement of the transaction was answered once it commits: the database works.
            @event.listens_for(engine, "commit")
            def _committed(_conn: Connection, *_args: Any) -> None:
                held.n += 1

    return lambda: count.n
