"""``trimtab-agent``: the agent's entry point (installed on the cluster driver by the init script).

    trimtab-agent run --eventlog-dir DIR --server ADDR --token-env VAR [--state-dir DIR] [--spark-ui URL]
                      [--tls-ca PEM] [--use-proxy]
    trimtab-agent config [same options]      # print the effective configuration, token masked
    trimtab-agent replay-parked --state-dir DIR   # move parked batches back into the spool

SIGTERM or SIGINT stop it: it flushes the spool for at most the shutdown bound and exits 0.
Runs on Python 3.10 or newer (Databricks 13.3/14.3 LTS ship 3.10), unlike the server.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

import orjson

from agent.config import SETTINGS, AgentConfig, ConfigError, load_config, read_tls_ca
from agent.logcap import CappedStreamHandler

DEFAULT_LOG_MAX_BYTES: int = next(s.default for s in SETTINGS if s.name == "log_max_bytes")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="trimtab-agent", description="Trimtab's Spark event-log agent")
    sub = p.add_subparsers(dest="command", required=True)
    helps = {"run": "follow the event logs and send their metrics to the server",
             "config": "print the configuration in effect (token masked) and exit"}
    for name in ("run", "config"):
        # Every setting has an environment variable; only the common ones have flags (the epilog
        # says where the rest are, which --help alone never did).
        s = sub.add_parser(name, help=helps[name], epilog="Every setting also has a TRIMTAB_* environment "
                           "variable and a config-file key: docs/agent.md, 'Every agent setting'.")
        s.add_argument("--eventlog-dir", type=Path, help="directory Spark writes event logs into")
        s.add_argument("--server", help="Trimtab server host:port (env TRIMTAB_SERVER)")
        s.add_argument("--token-env", help="environment variable holding the agent token (default TRIMTAB_TOKEN)")
        s.add_argument("--state-dir", type=Path, help="spool and read positions")
        s.add_argument("--spark-ui", help="Spark UI URL for live executor gauges (optional)")
        s.add_argument("--tls-ca", help="PEM file of root certificates to trust with TLS (env TRIMTAB_TLS_CA)")
        s.add_argument("--use-proxy", action="store_true", default=None,
                       help="reach the server through the proxy in https_proxy/http_proxy (env "
                            "TRIMTAB_AGENT_USE_PROXY; default: connect directly, ignoring them)")
        s.add_argument("--config", type=Path, help="JSON file with settings (below flags and env)")
        s.add_argument("--debug", action="store_true", help="verbose logging")
    r = sub.add_parser("replay-parked", help="move batches parked after a permanent rejection back into the "
                                             "spool (the agent sends them at its next start)")
    r.add_argument("--state-dir", type=Path, required=True, help="the agent's state directory")
    return p


def _config(args: argparse.Namespace) -> AgentConfig:
    flags = {"eventlog_dir": args.eventlog_dir, "server": args.server, "token_env": args.token_env,
             "state_dir": args.state_dir, "spark_ui": args.spark_ui, "tls_ca": args.tls_ca,
             "use_proxy": args.use_proxy}
    return load_config(flags, file=args.config)


def _replay_parked(state_dir: Path) -> int:
    from agent.durable import LockHeld, try_lock
    from agent.spool import replay_parked

    spool_dir = state_dir / "spool"
    if not spool_dir.is_dir():
        print(f"trimtab-agent: no spool in {state_dir}", file=sys.stderr)
        return 1
    lock: int | None
    try:
        lock = try_lock(state_dir / "agent.lock")
    except LockHeld as exc:
        # A running agent numbers new batches from its start-time scan: renaming now could collide.
        print(f"trimtab-agent: an agent ({exc.holder}) is running on {state_dir}; stop it first (it picks "
              "the batches up when it starts again)", file=sys.stderr)
        return 1
    except OSError as exc:
        # This file system cannot lock (ENOLCK, EOPNOTSUPP): nothing can tell whether an agent runs,
        # so say so and go on; the person running this is the one who knows.
        print(f"trimtab-agent: warning: cannot lock {state_dir / 'agent.lock'} ({exc}): locking is not "
              "available here; moving the batches anyway, make sure no agent is running on this state "
              "directory", file=sys.stderr)
        lock = None
    try:
        moved = replay_parked(spool_dir)
    except OSError as exc:
        print(f"trimtab-agent: cannot move parked batches: {exc}", file=sys.stderr)
        return 1
    finally:
        if lock is not None:
            os.close(lock)
    print(f"moved {moved} parked batch(es) back into {spool_dir}; the agent sends them at its next start")
    return 0


def main(argv: list[str] | None = None) -> int:
    # First thing: a SIGTERM that arrives while the agent is still starting (a
    # short run's cluster can terminate within a second of its init script) must
    # not kill it unread; it is remembered and the agent drains and exits.
    early_stop: list[bool] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: early_stop.append(True))
    # Before grpc is imported (agent.runner imports it): gRPC C-core would otherwise write a line per
    # reconnect attempt (TLS handshakes, refused connections) into agent.log for as long as the
    # server is away; the agent's own WARNING says it once. A value the user set is left alone.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    args = _parser().parse_args(argv)
    # stderr is agent.log under the init script, on the driver's disk: capped (agent/logcap.py),
    # at the default size until the configuration is read.
    log_handler = CappedStreamHandler(sys.stderr, DEFAULT_LOG_MAX_BYTES)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "debug", False) else logging.INFO,
                        handlers=[log_handler], format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "replay-parked":
        return _replay_parked(args.state_dir)
    try:
        cfg = _config(args)
    except (OSError, ValueError, orjson.JSONDecodeError) as exc:
        print(f"trimtab-agent: bad configuration: {exc}", file=sys.stderr)
        return 2
    log_handler.max_bytes = cfg.log_max_bytes
    if args.command == "config":
        try:
            print(orjson.dumps(cfg.masked(), option=orjson.OPT_INDENT_2).decode(), flush=True)
        except BrokenPipeError:
            # `trimtab-agent config | head` closed the pipe: what was asked for was read. Point
            # stdout at /dev/null so the interpreter's last flush does not print a traceback.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if not cfg.server:
        print("trimtab-agent: no server (give --server or set TRIMTAB_SERVER)", file=sys.stderr)
        return 2
    if not cfg.token.strip():
        # Every batch would be refused: say so now rather than retry for the whole run.
        print(f"trimtab-agent: no token (set {cfg.token_env or 'TRIMTAB_TOKEN'} to an agent token from "
              "`trimtab token create --scope agent`)", file=sys.stderr)
        return 2
    if cfg.tls:
        try:
            read_tls_ca(cfg)
        except ConfigError as exc:
            print(f"trimtab-agent: bad configuration: {exc}", file=sys.stderr)
            return 2
    elif cfg.tls_ca:
        logging.getLogger("trimtab.agent").warning("TRIMTAB_TLS_CA is set but TRIMTAB_TLS is not: "
                                                   "the connection is plaintext and the CA is unused")
    from agent.durable import LockHeld
    from agent.runner import Agent

    try:
        agent = Agent(cfg)
    except LockHeld as exc:
        # Two agents on one state directory would overwrite each other's batches and delete ones
        # the other still sends: the second one refuses (exit 1, like an unusable state directory).
        print(f"trimtab-agent: another trimtab-agent ({exc.holder}) is running on state directory "
              f"{cfg.state_dir} (it holds {exc.path}); not starting a second one", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"trimtab-agent: cannot use state directory {cfg.state_dir}: {exc}", file=sys.stderr)
        return 1
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: agent.stop())
    if early_stop:
        agent.stop()
    return agent.run()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
