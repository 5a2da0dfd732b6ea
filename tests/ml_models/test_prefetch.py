"""Loading the next chunk of work in the background, in order, and decoding on threads."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest

from ml_models.inference.prefetch import decode_threads, mapped, prefetched


def test_results_come_in_order() -> None:
    assert list(prefetched(range(5), lambda n: n * n)) == [0, 1, 4, 9, 16]
    assert not list(prefetched([], lambda n: n))


def test_the_next_part_loads_while_the_caller_works_on_this_one() -> None:
    second_loaded = threading.Event()

    def load(part: int) -> int:
        if part == 2:
            second_loaded.set()
        return part

    results = prefetched([1, 2], load)
    assert next(results) == 1
    # the caller holds part 1; part 2 is loaded meanwhile, without another next()
    assert second_loaded.wait(timeout=10)
    assert next(results) == 2


def test_a_failed_load_raises_where_its_result_is_due() -> None:
    def load(part: int) -> int:
        if part == 2:
            raise ValueError("part 2 is broken")
        return part

    results = prefetched([1, 2, 3], load)
    assert next(results) == 1
    with pytest.raises(ValueError, match="part 2 is broken"):
        next(results)


def test_decode_threads_follow_where_the_models_run(monkeypatch: Any) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert decode_threads(on_gpu=False) == 1  # the cores run the forward pass
    assert decode_threads(on_gpu=True) == 15
    assert decode_threads(on_gpu=True, requested=4) == 4
    assert decode_threads(on_gpu=False, requested=3) == 3
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert decode_threads(on_gpu=True) == 1


def test_mapped_keeps_the_order_on_many_threads() -> None:
    started = []

    def slow_square(n: int) -> int:
        started.append(threading.current_thread().name)
        time.sleep(0.01 * (5 - n))  # the first items finish last
        return n * n

    assert mapped(slow_square, [0, 1, 2, 3, 4], 3) == [0, 1, 4, 9, 16]
    assert len(set(started)) > 1
    assert mapped(slow_square, [2], 8) == [4]
    assert not mapped(slow_square, [], 8)
