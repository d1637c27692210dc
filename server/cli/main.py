"""`trimtab`: one entry point, one sub-command group per resource.

Groups are imported lazily (only the one being run), so `trimtab --help` stays
instant and a group's heavy imports (SQLAlchemy, databricks-sdk, PySpark) load
only when needed. Each group lives in its own module and exposes a click
object named ``cli``; adding a group is one line in ``GROUPS``.

Exit codes: 0 success, 1 operational failure, 2 usage mistake or configuration
error (a bad flag, TRIMTAB_* variable or configuration file), 130 interrupted.
Errors print one clear line; ``--debug`` adds the traceback. docs/operations.md
has the table.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from server.cli.repeats import refuse_repeated_options
from server.cli.undecodable import refuse_undecodable

# name -> (module, one-line help). The module defines `cli` (a click.Command).
GROUPS: dict[str, tuple[str, str]] = {
    "demo": ("server.cli.demo", "Run the whole closed loop locally on the embedded sandbox."),
    "server": ("server.cli.server_cmd", "Run the Trimtab server."),
    "db": ("server.cli.db", "Manage the database: schema, stored event copies, old runs' detail."),
    "token": ("server.cli.token", "Create, list and revoke API tokens."),
    "workspace": ("server.cli.workspace", "Connect Databricks workspaces and import their jobs."),
    "project": ("server.cli.project", "List, inspect, configure and remove projects."),
    "run": ("server.cli.run", "List and inspect collected runs."),
    "app": ("server.cli.app", "Spark applications received from agents."),
    "agent": ("server.cli.agent", "Agents on Spark drivers: version, cluster, and what they could not deliver."),
    "recommendation": ("server.cli.recommendation", "List, review, apply, reject and revert recommendations."),
    "timeline": ("server.cli.timeline", "Runtime and cost of a project's runs over time."),
    "savings": ("server.cli.savings", "Savings to date and projected annual savings."),
    "prices": ("server.cli.prices", "The price catalog."),
    "sandbox": ("server.cli.sandbox", "A local Databricks workspace emulator with simulated clusters."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(GROUPS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = GROUPS.get(cmd_name)
        if entry is None:
            return None
        try:
            module = importlib.import_module(entry[0])
        except ModuleNotFoundError as exc:
            if exc.name and entry[0].startswith(exc.name):
                return _not_available(cmd_name, entry[1])
            raise
        command = module.cli
        if cmd_name in _NO_SERVER_GROUPS and not isinstance(command, click.Group):
            setattr(command, NO_SERVER_ATTR, _NO_SERVER_GROUPS[cmd_name])
        return with_common_options(command)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text comes from GROUPS so --help imports nothing heavy.
        rows = [(name, GROUPS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


# --------------------------------------------- options every command takes, before or after it


def _override(field: str) -> Any:
    """Option callback: a value given after the subcommand replaces the root's (flag, env or default)."""
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        # Only a value typed on the command line counts here: the root option already read the
        # environment, and a flag left off must not turn off `trimtab --json project list`.
        if value is None or value is False:
            return
        from server.cli.context import CliContext

        obj = ctx.find_object(CliContext)
        if obj is not None:
            setattr(obj, field, value)

    return callback


# The root's parameter holding each of the options a command that calls no server refuses.
_ROOT_PARAMS = {"--server": "server_addr", "--token": "token"}


def _typed_before(ctx: click.Context, option: str) -> bool:
    """Whether `option` was typed before the subcommand (`trimtab --server X token create`).

    Only the command line counts: TRIMTAB_SERVER or TRIMTAB_TOKEN left in the environment is no
    choice made for this command (as for TRIMTAB_STATE_DIR beside --db)."""
    root = ctx.find_root()
    return root is not ctx and root.get_parameter_source(_ROOT_PARAMS[option]) == click.core.ParameterSource.COMMANDLINE


def _not_for_store_commands(option: str) -> Any:
    """Option callback of a command that calls no server: `option` given, after the command or before
    it, is refused, saying what the command works on."""
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        # Before the subcommand it went to the root, which only a command that dials a server reads:
        # `trimtab --server prod:50051 token create --scope admin` made the admin token in the local
        # database and exited 0. Checked at the command run, not at its group, so the refusal names
        # the same command in either position.
        if value is None and not (not isinstance(ctx.command, click.Group) and _typed_before(ctx, option)):
            return
        local = getattr(ctx.command, NO_SERVER_ATTR, None)
        works_on = (f"; {local}" if local
                    else " but opens the database itself: give it the server's --state-dir or --db")
        raise click.UsageError(f"{option} does not apply to `{ctx.command_path}`: it calls no Trimtab server"
                               f"{works_on}", ctx=ctx)

    return callback


# The attribute marking a command that calls no Trimtab server though it opens no database
# (`prices`, `sandbox up`, `demo`): its value says what the command works on instead, for the
# refusal of a --server/--token typed after it. Without it such a command got the visible
# options and ignored them: `prices update --server prod:50051` looked like it refreshed
# production's catalog but wrote only the local <state-dir>/prices.
NO_SERVER_ATTR = "trimtab_no_server"

# `trimtab demo` is marked here by name (its module is not to depend on this one's internals).
_NO_SERVER_GROUPS: dict[str, str] = {
    "demo": "it starts its own server, database and sandbox under --state-dir",
}


def calls_no_server(works_on: str) -> Any:
    """Decorator (over the click decorator) marking a command that calls no Trimtab server; `works_on`
    follows "it calls no Trimtab server; " in the refusal of --server/--token."""
    def mark(command: click.Command) -> click.Command:
        setattr(command, NO_SERVER_ATTR, works_on)
        return command

    return mark


def common_options(opens_store: bool = False) -> list[click.Option]:
    """`--server`, `--token`, `--json` and `--debug` for a subcommand, meaning what they mean on `trimtab`.

    A command that calls no server (`opens_store`: token, db, backfill open the database
    themselves; prices, sandbox up and demo are marked by `calls_no_server`): its --server/--token
    stay out of its --help and are refused if typed, so nobody believes `token create --server X`
    made a token on server X.
    """
    if opens_store:
        return [
            # Eager: refused before the command's own checks (a missing --name), in either position.
            click.Option(["--server", "server_override"], default=None, expose_value=False, hidden=True,
                         is_eager=True, callback=_not_for_store_commands("--server")),
            click.Option(["--token", "token_override"], default=None, expose_value=False, hidden=True,
                         is_eager=True, callback=_not_for_store_commands("--token")),
            *common_options()[2:],
        ]
    return [
        click.Option(["--server", "server_override"], default=None, expose_value=False, metavar="ADDR",
                     callback=_override("server"), help="Address of the Trimtab server (env TRIMTAB_SERVER)."),
        click.Option(["--token", "token_override"], default=None, expose_value=False,
                     callback=_override("token"), help="API token, admin scope (env TRIMTAB_TOKEN)."),
        click.Option(["--json", "json_override"], is_flag=True, default=False, expose_value=False,
                     callback=_override("as_json"), help="Print JSON for scripts instead of tables."),
        click.Option(["--debug", "debug_override"], is_flag=True, default=False, expose_value=False,
                     callback=_override("debug"), help="Show tracebacks on errors."),
    ]


def _opens_store(command: click.Command) -> bool:
    """A command that calls no server: one with `store_options` (--db/--state-dir) or marked by
    `calls_no_server`, or a group of only such commands (token, db, prices, sandbox)."""
    if isinstance(command, click.Group):
        return bool(command.commands) and all(_opens_store(sub) for sub in command.commands.values())
    return getattr(command, NO_SERVER_ATTR, None) is not None or any(p.name == "db_url" for p in command.params)


def with_common_options(command: click.Command) -> click.Command:
    """Add the common options to `command` and every command under it (once; never over its own)."""
    taken = {opt for p in command.params for opt in getattr(p, "opts", [])}
    refuse_repeated_options(command)  # every command the CLI runs passes here: the one place for it
    refuse_undecodable(command)
    if not getattr(command, "_trimtab_common", False):
        command.params.extend(o for o in common_options(_opens_store(command)) if not taken.intersection(o.opts))
        command._trimtab_common = True  # type: ignore[attr-defined]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            with_common_options(sub)
    return command


def _not_available(name: str, help_text: str) -> click.Command:
    @click.command(name=name, help=help_text)
    def missing() -> None:
        raise click.ClickException(f"`trimtab {name}` is not available in this build yet")

    return missing


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--server", "server_addr", envvar="TRIMTAB_SERVER", default="127.0.0.1:50051",
              show_default=True, help="Address of the Trimtab server (env TRIMTAB_SERVER).")
@click.option("--token", envvar="TRIMTAB_TOKEN", default=None, help="API token, admin scope (env TRIMTAB_TOKEN).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of tables.")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, server_addr: str, token: str | None, as_json: bool, debug: bool) -> None:
    """Trimtab steers Databricks job clusters to their cheapest setting that meets the SLA."""
    from server.cli.context import CliContext

    ctx.obj = CliContext(server=server_addr, token=token, as_json=as_json, debug=debug)


refuse_repeated_options(cli)  # `trimtab --server A --server B ...` too
refuse_undecodable(cli)  # `trimtab --token $'x\xff' ...` too


def _subcommand(args: list[str]) -> str | None:
    """The group `args` run (e.g. ``server``), skipping the root options and their values."""
    rest = iter(args)
    for arg in rest:
        if arg in ("--server", "--token"):
            next(rest, None)
        elif not arg.startswith("-"):
            return arg
    return None


def _invalid_argument(exc: BaseException) -> bool:
    """The server refused a value given (INVALID_ARGUMENT): bad input, so the usage exit status 2,
    the same as the CLI's own checks of that value (`project set --min-workers 9 --max-workers 2`
    exited 1 when only the server could see the pair was wrong)."""
    import grpc

    return isinstance(exc, grpc.RpcError) and hasattr(exc, "code") and exc.code() == grpc.StatusCode.INVALID_ARGUMENT


def _config_error(exc: BaseException) -> bool:
    """A setting refused (a flag, a TRIMTAB_* variable, the configuration file): the usage exit
    status 2, which scripts read as "fix the settings", not 1 as for a failure while running."""
    from server.config import ConfigError

    return isinstance(exc, ConfigError)


# The one line of a command stopped by Ctrl-C (exit status 130).
INTERRUPTED_LINE = "interrupted: stopped before it finished"


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    debug = "--debug" in args
    if _subcommand(args) not in ("server", "demo") and not debug:
        # Before grpc is imported: the CLI says what went wrong in one line, so gRPC C-core's
        # own log lines (resolver and channel errors) would only be noise. A server (also the
        # demo's) keeps them, and a value the user set is left alone.
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    from server.cli.output import visible_output

    # Every command's output and its "error:" line: names from agents and workspaces are printed
    # with their control characters shown, whichever command prints them (server.cli.output).
    with visible_output():
        return _run(argv, debug)


def _run(argv: list[str] | None, debug: bool) -> int:
    try:
        cli.main(args=argv, prog_name="trimtab", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            # click turns Ctrl-C into an Abort (after a blank line on stderr): without this the
            # documented 130 was an exit 1 a script could not tell from a failure.
            click.echo(INTERRUPTED_LINE, err=True)
            return 130
        click.echo("Aborted.", err=True)  # input ended (EOF) where click read some
        return 1
    except click.UsageError as exc:
        # click writes some on several lines ("Missing option '--cloud'. Choose from:" then a line
        # per choice): a usage mistake is one line, which a script or a log keeps whole.
        message = " ".join(line.strip() for line in exc.format_message().splitlines() if line.strip())
        click.echo(f"error: {message}", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return 1
    except KeyboardInterrupt:  # raised where click's own handler does not reach
        click.echo(INTERRUPTED_LINE, err=True)
        return 130
    except Exception as exc:  # one clear line unless --debug
        status = 2 if _invalid_argument(exc) or _config_error(exc) else 1
        if debug:
            # Written here, not raised past `main`: raised, Python printed it after the escaping stream
            # was taken off, and its message (a server's, naming a job) reached the terminal raw.
            import traceback

            traceback.print_exc(file=sys.stderr)
            return status
        from server.cli.context import describe_error

        click.echo(f"error: {describe_error(exc)}", err=True)
        return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
