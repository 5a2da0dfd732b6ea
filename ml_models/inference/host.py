"""Process-wide settings that make the models run fast on this host's CPU.

Two things matter, and both belong to the process rather than to a model: how many
threads torch computes with, and whether glibc hands freed memory back to the kernel.

Every batch allocates tens of megabytes of feature maps and frees them again. By
default glibc serves blocks that large with fresh ``mmap``s (or trims them off the top of
its heap) and the kernel must zero every page again on first touch: about 17,000 page
faults per batch of eight 640x480 images, measured on the 2-core machine. Padding the top
of the heap (``mallopt(M_TOP_PAD)``) keeps that memory mapped between batches: 4 page
faults per batch, the full path 12.6 instead of 15.2 ms per image and the bare backbone
7.4 instead of 9.8 ms, with the same peak resident memory (1.17 GB).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

import torch

# glibc's mallopt parameters: bytes of extra heap to request and keep on top of the heap,
# and the size from which a block gets an mmap of its own (32 MiB is glibc's largest)
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
# mallopt takes an int
MAX_HEAP_PAD_BYTES = 2**31 - 1


# How many processes of one worker share this host's cores: the worker records its
# concurrency here before it forks its pool (``record_worker_processes``), and each
# process then computes with its share of the cores (``configure_threads``).
WORKER_PROCESSES_ENV = "INFERENCE_WORKER_PROCESSES"


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def record_worker_processes(processes: int) -> None:
    """Tell the processes a worker is about to start how many of them share the cores."""
    os.environ[WORKER_PROCESSES_ENV] = str(max(1, processes))


def configure_threads(threads: int = 0) -> int:
    """Set torch's intra-op threads; 0 means this process's share of the cores: all of
    them, or, in a worker of several processes (``WORKER_PROCESSES_ENV``), an equal
    share, at least one. Each process taking every core oversubscribes them: OpenMP
    threads wait for each other's descheduled threads.

    Measured on the 2-core machine (bf16, batches of 8, in-process analysis): two
    processes of two threads each, 127 img/s together; two of one thread, 257-266;
    one of two threads, 217-225. The whole pipeline (uploads, worker and storage on the
    same two cores) ran 59-63 img/s with two worker processes against 70-90 with one,
    so one is the default (``manage.py up --worker-processes``)."""
    if threads <= 0:
        try:
            sharing = max(1, int(os.environ.get(WORKER_PROCESSES_ENV, "1")))
        except ValueError:
            sharing = 1
        threads = max(1, available_cores() // sharing)
    torch.set_num_threads(threads)
    return threads


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library where it is glibc, else None (musl's mallopt does nothing; macOS)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version.restype = ctypes.c_char_p  # only glibc has it
    except (OSError, AttributeError):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


def keep_heap_mapped(pad_bytes: int) -> bool:
    """Keep up to ``pad_bytes`` of freed memory mapped at the top of the heap (glibc).

    Returns whether the setting took effect: False for ``pad_bytes <= 0`` (glibc's own
    behaviour is left alone) and where the C library is not glibc.
    """
    if pad_bytes <= 0:
        return False
    libc = _glibc()
    if libc is None:
        return False
    # setting the pad also stops glibc from raising its mmap threshold as it goes, and
    # at its start value (128 KiB) every feature map would get an mmap of its own: so
    # the threshold goes to glibc's largest (32 MiB) and larger blocks fit in the pad
    applied = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        libc.mallopt(M_TOP_PAD, min(pad_bytes, MAX_HEAP_PAD_BYTES))
    )
    if applied:
        # Take the padding now: a block too large for the free space but under the mmap
        # threshold extends the heap by the block and the pad, and freeing it leaves all
        # of that on top, for the first batch's blocks too, even those above the threshold.
        libc.free(libc.malloc(MMAP_THRESHOLD_BYTES // 2))
    return applied


def configure_host(*, threads: int = 0, heap_pad_mb: int = 512) -> int:
    """Prepare this process to run the models: torch threads (0: its share of the
    cores, ``configure_threads``) and heap padding (0: leave glibc alone). Returns the
    thread count."""
    keep_heap_mapped(heap_pad_mb * 1024 * 1024)
    return configure_threads(threads)
