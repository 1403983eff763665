"""The ``leaksleuth`` command: one typer app; each command lives in its own module with lazy heavy imports."""

from __future__ import annotations

import sys

import typer

from leaksleuth import __version__
from leaksleuth.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from leaksleuth.cli import demo as demo_command
from leaksleuth.cli import flame as flame_command
from leaksleuth.cli import fleet as fleet_command
from leaksleuth.cli import goroutines as goroutines_command
from leaksleuth.cli import heal as heal_command
from leaksleuth.cli import heap as heap_command
from leaksleuth.cli import inspect as inspect_command
from leaksleuth.cli import lint as lint_command
from leaksleuth.cli import rules as rules_command
from leaksleuth.cli import serve as serve_command
from leaksleuth.cli import snapshots as snapshots_command
from leaksleuth.cli import watch as watch_command
from leaksleuth.errors import ConfigError, LeaksleuthError

app = typer.Typer(
    name="leaksleuth",
    help="Find goroutine and heap leaks in Go services: which line leaks, on which instance, how sure.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"leaksleuth {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Find goroutine and heap leaks in Go services."""


app.command("inspect")(inspect_command.command)
app.command("goroutines")(goroutines_command.command)
app.command("fleet")(fleet_command.command)
app.command("rules")(rules_command.command)
app.command("watch")(watch_command.command)
app.command("demo")(demo_command.command)
app.command("serve")(serve_command.command)
app.add_typer(snapshots_command.app, name="snapshots")
app.add_typer(heap_command.app, name="heap")
app.add_typer(heal_command.app, name="heal")
app.command("flame")(flame_command.command)
app.command("lint")(lint_command.command)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this directly, without a subprocess).

    Commands signal findings with ``typer.Exit(1)``; typer reports usage errors itself (exit 2); our own errors
    are caught here and printed as one line plus a hint (exit 2 for configuration, 3 for everything else).
    """
    try:
        app(args=argv, prog_name="leaksleuth", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_FINDINGS)
    except LeaksleuthError as exc:
        from leaksleuth.report.terminal import printable_lines, stderr_console  # rich only when there is an error

        err = stderr_console()
        # soft_wrap: one line whatever the width (rich would break it at 80 columns when stderr is not a terminal);
        # printable_lines: messages quote their input, which must not reach the terminal raw
        err.print(printable_lines(f"leaksleuth: error: {exc}"), markup=False, soft_wrap=True)
        if exc.hint:
            err.print(printable_lines(f"  hint: {exc.hint}"), markup=False, soft_wrap=True)
        return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_ERROR
    except KeyboardInterrupt:
        from leaksleuth.report.terminal import stderr_console

        stderr_console().print("leaksleuth: interrupted", markup=False)
        return 130
    return EXIT_OK


def run() -> None:
    sys.exit(main(sys.argv[1:]))
