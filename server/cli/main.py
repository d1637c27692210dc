"""`trimtab`: one entry point, one sub-command group per resource.

Groups are imported lazily (only the one being run), so `trimtab --help` stays
instant and a group's heavy imports (SQLAlchemy, databricks-sdk, PySpark) load
only when needed. Each group lives in its own module and exposes a click
object named ``cli``; adding a group is one line in ``GROUPS``.

Exit codes: 0 success, 1 operational failure, 2 usage mistake. Errors print
one clear line; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

# name -> (module, one-line help). The module defines `cli` (a click.Command).
GROUPS: dict[str, tuple[str, str]] = {
    "demo": ("server.cli.demo", "Run the whole closed loop locally on the embedded sandbox."),
    "server": ("server.cli.server_cmd", "Run the Trimtab server."),
    "db": ("server.cli.db", "Manage the database: schema, stored event copies."),
    "token": ("server.cli.token", "Create and list API tokens."),
    "workspace": ("server.cli.workspace", "Connect Databricks workspaces and import their jobs."),
    "project": ("server.cli.project", "List, inspect and configure projects."),
    "run": ("server.cli.run", "List and inspect collected runs."),
    "app": ("server.cli.app", "Spark applications received from agents."),
    "recommendation": ("server.cli.recommendation", "Review, apply, reject and revert recommendations."),
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
        return module.cli

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text comes from GROUPS so --help imports nothing heavy.
        rows = [(name, GROUPS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _not_available(name: str, help_text: str) -> click.Command:
    @click.command(name=name, help=help_text)
    def missing() -> None:
        raise click.ClickException(f"`trimtab {name}` is not available in this build yet")

    return missing


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--server", "server_addr", envvar="TRIMTAB_SERVER", default="127.0.0.1:50051",
              show_default=True, help="Address of the Trimtab server.")
@click.option("--token", envvar="TRIMTAB_TOKEN", default=None, help="API token (admin scope).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of tables.")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, server_addr: str, token: str | None, as_json: bool, debug: bool) -> None:
    """Trimtab steers Databricks job clusters to their cheapest setting that meets the SLA."""
    from server.cli.context import CliContext

    ctx.obj = CliContext(server=server_addr, token=token, as_json=as_json, debug=debug)


def main(argv: list[str] | None = None) -> int:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="trimtab", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.UsageError as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one clear line unless --debug
        if debug:
            raise
        from server.cli.context import describe_error

        click.echo(f"error: {describe_error(exc)}", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
