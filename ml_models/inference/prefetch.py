"""Loading the next chunk of work in the background while the current one is processed.

Torch-free, so the worker's pipeline module can use it without importing the models.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Part = TypeVar("Part")
Loaded = TypeVar("Loaded")


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
