"""Loading the next chunk of work in the background, in order."""

from __future__ import annotations

import threading

import pytest

from ml_models.inference.prefetch import prefetched


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
