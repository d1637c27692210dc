"""What every repository shares: the engine, the clock and the transaction helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager

from sqlalchemy.engine import Connection, Engine

from server.clock import Clock
from server.store import engine as db


class Repository:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def _write(self) -> AbstractContextManager[Connection]:
        return db.write(self._engine)

    def _read(self) -> AbstractContextManager[Connection]:
        return db.read(self._engine)



def chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
