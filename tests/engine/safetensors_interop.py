#!/usr/bin/env python3
"""safetensors interop check for tests/engine/test_safetensors.cpp.

    safetensors_interop.py check PATH   read a file written by anyrl, verify every value
    safetensors_interop.py write PATH   write the same tensors with Python's safetensors

Both sides build the expected tensors from the same arange-based recipe (expected() here,
interop_expected() in the C++ test), so any byte-order, dtype, shape or offset mistake shows
up as a mismatch. Exit status 0 on success, 1 with a message on a mismatch.
"""
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

METADATA = {"format": "anyrl", "note": "interop \u00e9 \"quoted\""}


def expected():
    return {
        "f32": (np.arange(24, dtype=np.float32) * np.float32(0.5) - np.float32(3)).reshape(2, 3, 4),
        "f64": np.arange(5, dtype=np.float64) / 3.0,
        "i32": (np.arange(6, dtype=np.int32) - 2).reshape(3, 2),
        "i64": np.array([-(2**40), 0, 1, 2**62], dtype=np.int64),
        "mask": np.arange(5) % 2 == 0,
        "scalar": np.array(3.25, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "nested.name/with:chars": (np.arange(7, dtype=np.float64) * -1.25 + 0.5).reshape(7, 1, 1),
    }


def check(path):
    got = load_file(path)
    want = expected()
    if set(got) != set(want):
        raise SystemExit(f"interop: names differ: got {sorted(got)}, want {sorted(want)}")
    for name, w in want.items():
        g = got[name]
        if g.dtype != w.dtype or g.shape != w.shape:
            raise SystemExit(f"interop: {name}: got {g.dtype}{g.shape}, want {w.dtype}{w.shape}")
        if not np.array_equal(g, w):
            raise SystemExit(f"interop: {name}: values differ: got {g}, want {w}")
    with safe_open(path, framework="np") as f:
        meta = f.metadata()
    if meta != METADATA:
        raise SystemExit(f"interop: metadata differ: got {meta}, want {METADATA}")
    print(f"interop: {path}: {len(want)} tensors and metadata match")


def write(path):
    tensors = expected()
    # uint8 is read by anyrl as bool (non-zero -> 1).
    tensors["u8"] = np.array([0, 1, 2, 255], dtype=np.uint8)
    save_file(tensors, path, metadata=METADATA)
    print(f"interop: wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("check", "write"):
        raise SystemExit(__doc__)
    (check if sys.argv[1] == "check" else write)(sys.argv[2])
