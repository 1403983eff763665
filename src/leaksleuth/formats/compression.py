"""Size-capped decompression: a 1 KB gzip bomb must not become 10 GB in memory."""

from __future__ import annotations

import zlib

from leaksleuth.errors import InputTooLargeError, ParseError

GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_MAX_DECOMPRESSED = 1 << 30  # 1 GiB: well above the runtime's 64 MiB debug=2 cap and big heap profiles


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def gunzip(data: bytes, max_size: int = DEFAULT_MAX_DECOMPRESSED) -> bytes:
    """Decompress gzip data (several members allowed), refusing output larger than ``max_size`` bytes."""
    out: list[bytes] = []
    produced = 0
    position = 0
    while position < len(data):
        decompressor = zlib.decompressobj(wbits=31)
        pending = data[position:]
        while True:
            try:
                chunk = decompressor.decompress(pending, max_size - produced + 1)
            except zlib.error as exc:
                raise ParseError(
                    f"corrupt gzip data ({exc})",
                    offset=position,
                    data=data[position : position + 32],
                    format_name="gzip",
                ) from exc
            produced += len(chunk)
            if produced > max_size:
                raise InputTooLargeError(
                    f"decompressed data exceeds the {max_size:,}-byte cap (a gzip bomb or an unexpectedly huge "
                    f"profile); compressed size {len(data):,} bytes",
                    format_name="gzip",
                    hint="raise the cap with --max-size if this input is legitimate",
                )
            out.append(chunk)
            pending = decompressor.unconsumed_tail
            if decompressor.eof or not pending:
                break
        if not decompressor.eof:
            raise ParseError(
                "truncated gzip data (stream ends before the gzip trailer)",
                offset=len(data),
                data=data[-32:],
                format_name="gzip",
            )
        consumed = len(data) - position - len(decompressor.unused_data)
        position += consumed
        rest = decompressor.unused_data
        if not rest.startswith(GZIP_MAGIC):
            if rest.strip(b"\x00"):
                raise ParseError(
                    "unexpected bytes after the gzip stream",
                    offset=position,
                    data=rest[:32],
                    format_name="gzip",
                )
            break
    return b"".join(out)


def maybe_gunzip(data: bytes, max_size: int = DEFAULT_MAX_DECOMPRESSED) -> bytes:
    return gunzip(data, max_size) if is_gzip(data) else data
