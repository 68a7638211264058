"""Freed mail goes back to the operating system, not into the process's heap for good.

glibc hands blocks over 128 KiB out as separate mappings and unmaps them when freed, but
the first time such a block is freed it raises that threshold to the block's size (up to
32 MB), so from then on a mail's bytes, its decoded attachments and the mail composed from
them come from the heap, where freed memory stays with the process. A gateway taking in
four 40 MB mails one after the other grew to 390 MB that way, of which 100 MB were already
free. Setting the threshold explicitly turns the adjustment off (mallopt(3)).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
THRESHOLD = 128 * 1024  # glibc's own default, kept instead of raised


def return_large_blocks() -> bool:
    """Pin glibc's mmap threshold; False where the C library is not glibc (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        log.debug("event=large_blocks_unchanged reason=no-mallopt")
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD))
