"""Loading the next chunk of work in the background while the current one is processed,
and decoding a chunk's images on as many threads as the host can spare.

Torch-free, so the worker's pipeline module can use it without importing the models.
"""

from __future__ import annotations

import functools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Part = TypeVar("Part")
Loaded = TypeVar("Loaded")
Item = TypeVar("Item")
Result = TypeVar("Result")


def decode_threads(*, on_gpu: bool, requested: int = 0) -> int:
    """How many threads decode images for the models (``INFERENCE_DECODE_THREADS``).

    ``requested`` when it is set. Otherwise one where the models run on the CPU: its
    cores run the forward pass, and the prefetching thread already overlaps with it. All
    cores but one where a GPU runs them: one thread decodes about 400 JPEGs of 640x480 a
    second and two about 800 (Pillow releases the GIL; measured on the 2-core machine),
    while an H200 analyses about 4,000.
    """
    if requested > 0:
        return requested
    return max(1, (os.cpu_count() or 1) - 1) if on_gpu else 1


class ThreadMap:
    """A pool of threads that maps a function over a list, results in order. The pool is
    created on first use in each process: a forked child (a Celery or DataLoader worker)
    starts its own instead of inheriting threads that do not exist there."""

    def __init__(self, workers: int, name: str) -> None:
        self.workers = workers
        self.name = name
        self._pool: ThreadPoolExecutor | None = None
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._pool = None

    def map(self, function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
        """``function`` over ``items`` on the pool's threads (inline for one item)."""
        if len(items) < 2 or self.workers < 2:
            return [function(item) for item in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=self.name)
        return list(self._pool.map(function, items))


@functools.cache
def _pool_of(threads: int) -> ThreadMap:
    return ThreadMap(threads, "decode")


def mapped(function: Callable[[Item], Result], items: Sequence[Item], threads: int) -> list[Result]:
    """``function`` over ``items`` on ``threads`` threads, results in order (one pool per
    thread count, kept for the process)."""
    return _pool_of(max(1, threads)).map(function, items)


def prefetched(parts: Iterable[Part], load: Callable[[Part], Loaded]) -> Iterator[Loaded]:
    """``load(part)`` for every part, in order, each loading in a background thread while
    the caller works on the one before: reading and decoding images (which release the
    GIL) overlaps with the models' forward pass. An exception in ``load`` is raised where
    its result is yielded."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as pool:
        ahead: deque[Future[Loaded]] = deque()
        for part in parts:
            ahead.append(pool.submit(load, part))  # runs once the part before it is loaded
            if len(ahead) > 1:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()
