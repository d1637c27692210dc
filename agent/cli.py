"""``trimtab-agent``: the agent's entry point (installed on the cluster driver by the init script).

    trimtab-agent run --eventlog-dir DIR --server ADDR --token-env VAR [--state-dir DIR] [--spark-ui URL]
    trimtab-agent config [same options]      # print the effective configuration, token masked

SIGTERM or SIGINT stop it: it flushes the spool for at most the shutdown bound and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

import orjson

from agent.config import AgentConfig, load_config


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="trimtab-agent", description="Trimtab's Spark event-log agent")
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("run", "config"):
        s = sub.add_parser(name)
        s.add_argument("--eventlog-dir", type=Path, help="directory Spark writes event logs into")
        s.add_argument("--server", help="Trimtab server host:port (env TRIMTAB_SERVER)")
        s.add_argument("--token-env", help="environment variable holding the agent token (default TRIMTAB_TOKEN)")
        s.add_argument("--state-dir", type=Path, help="spool and read positions")
        s.add_argument("--spark-ui", help="Spark UI URL for live executor gauges (optional)")
        s.add_argument("--config", type=Path, help="JSON file with settings (below flags and env)")
        s.add_argument("--debug", action="store_true", help="verbose logging")
    return p


def _config(args: argparse.Namespace) -> AgentConfig:
    flags = {"eventlog_dir": args.eventlog_dir, "server": args.server, "token_env": args.token_env,
             "state_dir": args.state_dir, "spark_ui": args.spark_ui}
    return load_config(flags, file=args.config)


def main(argv: list[str] | None = None) -> int:
    # First thing: a SIGTERM that arrives while the agent is still starting (a
    # short run's cluster can terminate within a second of its init script) must
    # not kill it unread; it is remembered and the agent drains and exits.
    early_stop: list[bool] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: early_stop.append(True))
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = _config(args)
    except (OSError, ValueError, orjson.JSONDecodeError) as exc:
        print(f"trimtab-agent: bad configuration: {exc}", file=sys.stderr)
        return 2
    if args.command == "config":
        print(orjson.dumps(cfg.masked(), option=orjson.OPT_INDENT_2).decode())
        return 0
    if not cfg.server:
        print("trimtab-agent: no server (give --server or set TRIMTAB_SERVER)", file=sys.stderr)
        return 2
    from agent.runner import Agent

    try:
        agent = Agent(cfg)
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
