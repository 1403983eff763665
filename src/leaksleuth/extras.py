"""Optional dependencies: the base install runs the file commands; the service, Kubernetes and PostgreSQL parts
need an extra (``pip install 'leaksleuth[service]'``). One check, used everywhere an extra is needed."""

from __future__ import annotations

import importlib

from leaksleuth.errors import ConfigError


class MissingExtraError(ConfigError):
    """A command needs an optional dependency that is not installed (exit 2, one line saying what to install)."""


def require_extra(extra: str, *modules: str) -> None:
    """Import ``modules`` (top-level names) or raise ``MissingExtraError`` naming ``leaksleuth[extra]``.

    Imported, not only looked up: a module that is present but broken fails here, at the edge, with the same line.
    """
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingExtraError(
                f"this needs leaksleuth[{extra}] (missing module {module}): pip install 'leaksleuth[{extra}]'"
            ) from None
