"""Size-capped decompression: a 1 KB gzip bomb must not become 10 GB in memory.

Output is produced in bounded pieces (``_OUTPUT_CHUNK``) from bounded pieces of input (``_INPUT_CHUNK``), so a bomb
is refused as soon as it passes the cap, holding at most about the cap (plus one piece), never the whole bomb.

The default cap is 256 MiB of decompressed data: the runtime caps a debug=2 dump at 64 MiB and real heap profiles
decompress to tens of MB (a 200k-sample heap profile is 11 MB), so four times the largest dump the runtime writes
leaves room without letting one input take gigabytes. ``LEAKSLEUTH_MAX_DECOMPRESSED`` (bytes, or with a K/M/G
suffix: ``1G``) changes the default for inputs that really are bigger.
"""

from __future__ import annotations

import os
import re
import zlib

from leaksleuth.errors import ConfigError, InputTooLargeError, ParseError

GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_MAX_DECOMPRESSED = 256 << 20
MAX_DECOMPRESSED_ENV = "LEAKSLEUTH_MAX_DECOMPRESSED"
_INPUT_CHUNK = 64 << 10
_OUTPUT_CHUNK = 256 << 10
_SIZE = re.compile(r"(\d+)\s*([KMG]?)(?:i?B)?", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def configured_max_decompressed() -> int:
    """The default cap: ``LEAKSLEUTH_MAX_DECOMPRESSED`` when set, else ``DEFAULT_MAX_DECOMPRESSED``."""
    text = os.environ.get(MAX_DECOMPRESSED_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_DECOMPRESSED
    match = _SIZE.fullmatch(text)
    if match is None or int(match.group(1)) == 0:
        raise ConfigError(
            f"{MAX_DECOMPRESSED_ENV} must be a positive size in bytes (536870912) or with a K/M/G suffix (512M), "
            f"got {text!r}"
        )
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def resolve_max_size(max_size: int | None) -> tuple[int, bool]:
    """(cap, whether it is the default). None means the default, which the environment variable overrides; any
    other value is the caller's own cap."""
    if max_size is None:
        return configured_max_decompressed(), True
    return max_size, False


def gunzip(data: bytes, max_size: int | None = None) -> bytes:
    """Decompress gzip data (several members allowed), refusing output larger than ``max_size`` bytes."""
    cap, is_default = resolve_max_size(max_size)
    out: list[bytes] = []
    produced = 0
    view = memoryview(data)
    position = 0  # where the current gzip member starts
    while position < len(data):
        decompressor = zlib.decompressobj(wbits=31)
        fed = position  # input handed to the decompressor so far
        pending: bytes | memoryview = b""
        draining = False  # the last output piece was full: zlib may hold more output without more input
        while not decompressor.eof:
            if not pending and not draining:
                if fed >= len(data):
                    raise ParseError(
                        "truncated gzip data (stream ends before the gzip trailer)",
                        offset=len(data),
                        data=data[-32:],
                        format_name="gzip",
                    )
                pending = view[fed : fed + _INPUT_CHUNK]
                fed += len(pending)
            try:
                chunk = decompressor.decompress(pending, _OUTPUT_CHUNK)
            except zlib.error as exc:
                at = fed - len(pending)
                raise ParseError(
                    f"corrupt gzip data ({exc})", offset=at, data=data[at : at + 32], format_name="gzip"
                ) from exc
            produced += len(chunk)
            if produced > cap:
                raise _too_large(cap, is_default, len(data))
            out.append(chunk)
            pending = decompressor.unconsumed_tail
            draining = len(chunk) == _OUTPUT_CHUNK
        position = fed - len(decompressor.unused_data)
        if data[position : position + 2] != GZIP_MAGIC:
            if data[position:].strip(b"\x00"):
                raise ParseError(
                    "unexpected bytes after the gzip stream",
                    offset=position,
                    data=data[position : position + 32],
                    format_name="gzip",
                )
            break
    return b"".join(out)


def _too_large(cap: int, is_default: bool, compressed: int) -> InputTooLargeError:
    return InputTooLargeError(
        f"decompressed data exceeds the {cap:,}-byte cap (a gzip bomb or an unexpectedly huge profile); "
        f"compressed size {compressed:,} bytes",
        format_name="gzip",
        hint=(
            f"if this input is legitimate, raise the cap with the environment variable {MAX_DECOMPRESSED_ENV}"
            f"=<bytes> (e.g. {MAX_DECOMPRESSED_ENV}=1G)"
            if is_default
            else None
        ),
    )


def maybe_gunzip(data: bytes, max_size: int | None = None) -> bytes:
    return gunzip(data, max_size) if is_gzip(data) else data
