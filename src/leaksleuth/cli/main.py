"""The ``leaksleuth`` command: one typer app; each command lives in its own module with lazy heavy imports."""

from __future__ import annotations

import gc
import importlib
import sys
from typing import Any

import typer

from leaksleuth import __version__
from leaksleuth.cli import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from leaksleuth.errors import ConfigError, LeaksleuthError

# name -> (module under leaksleuth.cli, attribute): a ``command`` function or a sub-``app`` (typer.Typer), in the
# order ``--help`` lists them. Imported only when needed: ``leaksleuth inspect FILE`` does not pay for ``serve``.
COMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("inspect", "command"),
    "goroutines": ("goroutines", "command"),
    "fleet": ("fleet", "command"),
    "rules": ("rules", "command"),
    "watch": ("watch", "command"),
    "demo": ("demo", "command"),
    "serve": ("serve", "command"),
    "snapshots": ("snapshots", "app"),
    "heap": ("heap", "app"),
    "heal": ("heal", "app"),
    "flame": ("flame", "command"),
    "lint": ("lint", "command"),
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"leaksleuth {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Find goroutine and heap leaks in Go services."""


def build_app(names: list[str] | None = None) -> typer.Typer:
    """The typer app with the commands ``names`` (default: all of them)."""
    built = typer.Typer(
        name="leaksleuth",
        help="Find goroutine and heap leaks in Go services: which line leaks, on which instance, how sure.",
        add_completion=False,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    built.callback()(_root)
    for name in names if names is not None else COMMANDS:
        module, attribute = COMMANDS[name]
        target = getattr(importlib.import_module(f"leaksleuth.cli.{module}"), attribute)
        if attribute == "app":
            built.add_typer(target, name=name)
        else:
            built.command(name)(target)
    return built


def _requested(argv: list[str]) -> list[str] | None:
    """The one command ``argv`` runs, when its first argument names one; None (all commands) otherwise, so that
    ``--help``, ``--version`` and typos see the whole CLI."""
    return [argv[0]] if argv and argv[0] in COMMANDS else None


def __getattr__(name: str) -> Any:  # ``from leaksleuth.cli.main import app``: the whole CLI, built on first use
    if name == "app":
        return build_app()
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this directly, without a subprocess).

    Commands signal findings with ``typer.Exit(1)``; typer reports usage errors itself (exit 2); our own errors
    are caught here and printed as one line plus a hint (exit 2 for configuration, 3 for everything else).
    """
    try:
        arguments = sys.argv[1:] if argv is None else argv
        build_app(_requested(arguments))(args=arguments, prog_name="leaksleuth", standalone_mode=True)
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
    code = main(sys.argv[1:])
    # The process ends here. At exit CPython runs full cyclic collections over every object still alive (typer's,
    # rich's, the modules'), a tenth of a file command's start (~10 ms): frozen, they are left to the OS instead.
    # atexit handlers and the flush of stdout/stderr still run; __del__ at exit was never guaranteed.
    gc.freeze()
    sys.exit(code)
