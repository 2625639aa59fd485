"""Freed memory goes back to the operating system, so a long step's peak RSS is what it holds at once.

glibc's malloc raises its mmap threshold each time a large block is freed (up to 32 MiB). After that, the
many 1-32 MiB tensors of a scoring or evaluation loop come from the heap, and freed ones stay mapped between
live neighbours: on a 10M-edge graph a train step's RSS climbed from 6 GB to 14 GB while it held far less.
A fixed threshold keeps every block of at least ``threshold`` bytes in its own mapping, unmapped on free.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers (malloc.h)
MMAP_THRESHOLD = 1 << 20


@functools.cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "mallopt") else None


@functools.cache
def return_large_frees(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix malloc's mmap and trim thresholds for this process (once); False where the C library is not glibc,
    which leaves its allocator as it is."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, threshold)) and bool(libc.mallopt(M_TRIM_THRESHOLD, threshold))

