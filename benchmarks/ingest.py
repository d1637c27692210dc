"""Ingest benchmark: concurrent agents over loopback against the real server.

    python -m benchmarks.ingest [--agents 1,10,50] [--events 100000] [--batch 500]
                                [--engines sqlite,postgresql] [--postgres URL] [--repeat 3]

For each engine and each number of agents: a fresh database, the real gRPC
server (in this process), and the agents in a separate process (so they do
not share the server's GIL) sending pre-encoded batches as fast as they are
acknowledged — ack-after-commit, as agents do. Reports events stored per
second and p50/p99 acknowledgement latency, and, as the ceiling, the raw
rate of inserting the same rows (events and materialized tables) with plain
`executemany` on the same engine, and the server's CPU time per event (which,
unlike the rates, does not depend on what else the machine runs). PostgreSQL's URL comes from --postgres or
TRIMTAB_TEST_POSTGRES_URL; a database is created and dropped per run.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from protos.trimtab.v1 import common_pb2, ingest_pb2


def make_batches(agent: int, n_batches: int, batch_size: int) -> list[bytes]:
    """Encoded batches of a realistic mix: stages with metrics, executors, jobs, gauges, SQL."""
    out = []
    app = f"app-{agent}"
    seq = 0
    for b in range(n_batches):
        events = []
        for _ in range(batch_size):
            i = seq
            seq += 1
            kind = i % 10
            ev = ingest_pb2.Event(key=f"e/{i}", application_id=app)
            if kind < 5:
                ev.stage_completed.CopyFrom(ingest_pb2.StageCompleted(
                    stage_id=i, num_tasks=200, name=f"stage {i}", submission_time_ms=1000 + i,
                    completion_time_ms=5000 + i,
                    metrics=common_pb2.TaskMetrics(executor_run_time_ms=i * 10, input_bytes=i * 1000,
                                                   shuffle_bytes_written=i * 7, peak_execution_memory_bytes=1 << 20),
                    task_duration_ms=common_pb2.Distribution(count=200, p50=120.0, p99=900.0, max=1000.0),
                    executor_peaks=[ingest_pb2.ExecutorStagePeak(executor_id="1",
                                                                 metrics={"JVMHeapMemory": 1 << 30})]))
            elif kind < 7:
                ev.executor_gauges.CopyFrom(ingest_pb2.ExecutorGauges(time_ms=i, executor_id=str(i % 8),
                                                                      memory_used_bytes=i, active_tasks=4))
            elif kind == 7:
                ev.job_completed.CopyFrom(ingest_pb2.JobCompleted(job_id=i, stage_ids=[i], succeeded=True))
            elif kind == 8:
                ev.executor_added.CopyFrom(ingest_pb2.ExecutorAdded(executor_id=str(i), host="10.0.0.1",
                                                                    total_cores=8, time_ms=i))
            else:
                ev.sql_execution.CopyFrom(ingest_pb2.SqlExecution(execution_id=i, description="q",
                                                                  start_time_ms=i, end_time_ms=i + 5))
            events.append(ev)
        batch = ingest_pb2.EventBatch(batch_id=f"{agent}-{b}", agent=ingest_pb2.AgentInfo(agent_id=f"agent-{agent}"),
                                      events=events)
        out.append(batch.SerializeToString())
    return out


def _agents_process(address: str, token: str, agents: int, n_batches: int, batch_size: int,
                    ready: mp.Event, go: mp.Event, results: mp.Queue) -> None:
    import grpc

    payloads = [make_batches(a, n_batches, batch_size) for a in range(agents)]
    channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 64 << 20)])
    send = channel.unary_unary("/trimtab.v1.IngestService/SendBatch")  # raw bytes in and out
    metadata = (("authorization", f"Bearer {token}"),)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def agent(mine: list[bytes]) -> None:
        local = []
        for body in mine:
            t0 = time.perf_counter()
            try:
                send(body, metadata=metadata, timeout=120)
            except grpc.RpcError as exc:
                with lock:
                    errors.append(f"{exc.code()}: {exc.details()}")
                return
            local.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=agent, args=(p,)) for p in payloads]
    ready.set()
    go.wait()
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put((time.perf_counter() - start, latencies, errors))
    channel.close()


@contextmanager
def fresh_database(engine: str, postgres_url: str) -> Iterator[str]:
    if engine == "sqlite":
        with tempfile.TemporaryDirectory(prefix="trimtab-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    import sqlalchemy as sa

    name = f"ttbench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(sa.engine.make_url(postgres_url).set(drivername="postgresql+psycopg"),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure_server(url: str, agents: int, total_events: int, batch_size: int) -> dict[str, float]:
    from server.config import ServerConfig
    from server.serve import start_server
    from server.store import open_store

    # At least four batches per agent, so a run measures steady state, not one wave.
    batch_size = max(1, min(batch_size, total_events // (agents * 4)))
    n_batches = max(1, total_events // (agents * batch_size))
    store = open_store(url)
    _, token = store.tokens.create("bench", "agent")
    with tempfile.TemporaryDirectory(prefix="trimtab-bench-state-") as state:
        running = start_server(ServerConfig(listen="127.0.0.1:0", state_dir=Path(state), workers=max(8, agents + 4),
                                               collect=0),
                               store)
        ctx = mp.get_context("spawn")
        ready, go, results = ctx.Event(), ctx.Event(), ctx.Queue()
        proc = ctx.Process(target=_agents_process,
                           args=(running.address, token, agents, n_batches, batch_size, ready, go, results))
        proc.start()
        ready.wait()
        cpu0 = time.process_time()  # this process is the server: its CPU per event does not depend on load
        go.set()
        elapsed, latencies, errors = results.get()
        cpu = time.process_time() - cpu0
        proc.join()
        running.stop(5)
    stored = store.applications.event_count()
    store.close()
    if errors:
        raise SystemExit(f"agents got errors: {errors[:3]}")
    expected = agents * n_batches * batch_size
    if stored != expected:
        raise SystemExit(f"stored {stored} events, expected {expected}")
    latencies.sort()
    return {"events": expected, "batch": batch_size, "rate": expected / elapsed, "cpu_us": cpu / expected * 1e6,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000}


def measure_raw(url: str, total_events: int, batch_size: int) -> float:
    """Plain executemany of the same rows the server writes, one transaction per 10 batches."""
    from server import translate
    from server.domain import IngestBatch
    from server.store import open_store
    from server.store.repos import raw_rows

    store = open_store(url)
    n_batches = max(1, total_events // batch_size)
    encoded = make_batches(0, n_batches, batch_size)
    batches: list[IngestBatch] = [translate.batch_from_proto(ingest_pb2.EventBatch.FromString(b), 1 << 30)
                                  for b in encoded]
    groups = [raw_rows.rows_for(batches[i:i + 10], 0) for i in range(0, len(batches), 10)]
    start = time.perf_counter()
    for group in groups:
        raw_rows.insert_plain(store.engine, group)
    elapsed = time.perf_counter() - start
    store.close()
    return n_batches * batch_size / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="1,10,50")
    parser.add_argument("--events", type=int, default=100_000, help="events per SQLite measurement")
    parser.add_argument("--pg-events", type=int, default=20_000, help="events per PostgreSQL measurement")
    parser.add_argument("--batch", type=int, default=500, help="events per batch")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--postgres", default=os.environ.get("TRIMTAB_TEST_POSTGRES_URL", ""))
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds per engine (ceiling, then each agent count); medians are printed")
    args = parser.parse_args(argv)
    rows = []
    for engine in args.engines.split(","):
        if engine == "postgresql" and not args.postgres:
            print("skipping postgresql: no --postgres URL or TRIMTAB_TEST_POSTGRES_URL", file=sys.stderr)
            continue
        events = args.events if engine == "sqlite" else args.pg_events
        agent_counts = [int(a) for a in args.agents.split(",")]
        ceilings: list[float] = []
        runs: dict[int, list[dict[str, float]]] = {a: [] for a in agent_counts}
        # Rounds interleave the ceiling and the server on the same machine state: on a shared,
        # noisy machine one round's rates can differ by a third from the next one's.
        for _ in range(max(1, args.repeat)):
            with fresh_database(engine, args.postgres) as url:
                ceilings.append(measure_raw(url, events, args.batch))
            for agents in agent_counts:
                with fresh_database(engine, args.postgres) as url:
                    runs[agents].append(measure_server(url, agents, events, args.batch))
                print(f"  {engine} agents={agents}: {runs[agents][-1]['rate']:,.0f} events/s "
                      f"(ceiling {ceilings[-1]:,.0f})", file=sys.stderr, flush=True)
        ceiling = statistics.median(ceilings)
        for agents in agent_counts:
            med = {k: statistics.median(r[k] for r in runs[agents]) for k in runs[agents][0]}
            rows.append((engine, agents, int(med["events"]), int(med["batch"]), med["rate"], med["p50_ms"],
                         med["p99_ms"], med["cpu_us"], ceiling, 100 * med["rate"] / ceiling))
    header = ("engine", "agents", "events", "batch", "events/s", "ack p50 ms", "ack p99 ms", "server CPU us/event",
              "raw executemany/s", "% of raw")
    print(" | ".join(header))
    print(" | ".join("-" * len(h) for h in header))
    for e, a, n, b, rate, p50, p99, cpu, ceil, pct in rows:
        print(f"{e} | {a} | {n} | {b} | {rate:,.0f} | {p50:.1f} | {p99:.1f} | {cpu:.1f} | {ceil:,.0f} | {pct:.0f}%")
    print(f"(medians of {max(1, args.repeat)} rounds; load average at the end: {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
