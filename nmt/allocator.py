"""Keeping freed memory in the process, for the search's step-by-step tensors.

A search step allocates tensors of megabytes (beam 5 over 64 sentences: 320 rows of 8,000
log-probabilities, 10 MB) and frees them at the next step. With glibc's default settings such
blocks are mapped from the kernel and unmapped again, or returned when the heap's free top
grows past a threshold, so the next step faults fresh, zeroed pages in: translating 2,000
Tatoeba lines (int8, beam 5, one thread) took 363,000 page faults and 1.06 s of kernel time,
and two processes zeroing pages at once slow each other down (``nmt translate --workers``).
:func:`keep_freed_memory` raises both thresholds, so freed blocks go back to the process's own
heap and the next step reuses them: 106,000 faults (80,000 are start-up), 0.25 s, the same
output and about the same peak memory (507 MB against 516 MB). PyTorch's CPU performance guides reach the same
end by preloading jemalloc or tcmalloc; this needs nothing installed.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # blocks up to 32 MiB (glibc's maximum) come from the heap...
TRIM_THRESHOLD = 64 << 20  # ...and up to 64 MiB of free heap stays with the process


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed blocks for reuse; False where the C library is not glibc
    (nothing changes there). Affects the whole process: the commands that translate call it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; musl's stub returns 0 and changes nothing
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and (
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    )
