"""Small inputs that inflate into big models, for the memory bench (generated under bench/out, never committed).

    python bench/bombs.py            # writes bench/out/empty-samples-12m.pb.gz and prints its sizes

``empty_samples`` is the issue-12 case: a valid gzip pprof profile of 12 M samples that have one value (0) and no
stack, 4 bytes each on the wire (48 MB inflated), which gzip squeezes to ~46 KB.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT

EMPTY_SAMPLES = 12_000_000


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (payloads here are shorter than 128 bytes: one-byte lengths)."""
    assert len(payload) < 0x80
    return bytes([number << 3 | 2, len(payload)]) + payload


def empty_samples_profile(count: int = EMPTY_SAMPLES) -> bytes:
    """The raw (uncompressed) protobuf: one sample type ``samples/count``, ``count`` samples of one value 0."""
    strings = [b"", b"samples", b"count"]
    sample_type = _field(1, b"\x08\x01\x10\x02")  # ValueType{type: 1, unit: 2}
    one_sample = _field(2, b"\x10\x00")  # Sample{value: [0]}, unpacked: 4 bytes per sample
    string_table = b"".join(_field(6, s) for s in strings)
    return sample_type + one_sample * count + string_table


def empty_samples(count: int = EMPTY_SAMPLES) -> Path:
    path = OUT / f"empty-samples-{count // 1_000_000}m.pb.gz"
    if not path.exists():
        OUT.mkdir(exist_ok=True)
        path.write_bytes(gzip.compress(empty_samples_profile(count), compresslevel=9, mtime=0))
    return path


if __name__ == "__main__":
    made = empty_samples()
    print(f"{made}: {made.stat().st_size:,} bytes gzip, {len(empty_samples_profile()):,} bytes inflated")
