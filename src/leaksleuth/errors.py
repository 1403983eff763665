"""The error hierarchy. Layers raise these; only the CLI / web edge catches them and prints one clear line."""

from __future__ import annotations


class LeaksleuthError(Exception):
    """Base of every error leaksleuth raises on purpose. ``hint`` tells the user what to try next."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def with_context(self, context: str) -> LeaksleuthError:
        """Prefix the message with where it happened ("parsing heap profile from http://…: …")."""
        self.args = (f"{context}: {self.args[0]}", *self.args[1:])
        return self


class LeaksleuthWarning(UserWarning):
    """Warnings about suspicious but usable input (tests turn these into errors)."""


def quote_bytes(data: bytes | str, limit: int = 60) -> str:
    """A short, printable quote of bad input for error messages."""
    if isinstance(data, str):
        data = data.encode("utf-8", "backslashreplace")
    text = repr(data[:limit])
    return text + ("…" if len(data) > limit else "")


class ParseError(LeaksleuthError):
    """Input bytes are not what the parser expected. Names where (byte offset and/or line) and quotes the input."""

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        line: int | None = None,
        data: bytes | str | None = None,
        format_name: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = []
        if line is not None:
            where.append(f"line {line}")
        if offset is not None:
            where.append(f"offset {offset}")
        text = message
        if format_name:
            text = f"{format_name}: {text}"
        if where:
            text = f"{text} (at {', '.join(where)})"
        if data is not None:
            text = f"{text}: {quote_bytes(data)}"
        super().__init__(text, hint=hint)
        self.offset = offset
        self.line = line
        self.format_name = format_name


class InputTooLargeError(ParseError):
    """Decompressed or downloaded data exceeds the configured cap (a gzip bomb, an endless body)."""


class FetchError(LeaksleuthError):
    """A URL could not be fetched (refused, timed out, HTTP error, not a profile). ``status``: the HTTP status."""

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class ConfigError(LeaksleuthError):
    """Bad command-line arguments or configuration (exit code 2 at the CLI)."""
