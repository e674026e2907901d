"""The runners: every item once, with its own result, in order (map_ordered) or as finished."""

from __future__ import annotations

import time

import pytest

from sim.experiment import map_as_completed, map_ordered


def _slow_square(delay: float, item: int) -> int:
    time.sleep(delay * (item % 3))  # later items often finish first
    return item * item


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("chunk", [1, 4])
def test_map_ordered_keeps_order(workers, chunk):
    done = []
    results = list(map_ordered(_slow_square, 0.002, list(range(23)), workers, on_done=done.append, chunk_size=chunk))
    assert results == [i * i for i in range(23)]
    assert done == list(range(23))


@pytest.mark.parametrize("workers", [1, 2])
def test_map_as_completed_yields_every_item_once_with_its_result(workers):
    pairs = list(map_as_completed(_slow_square, 0.002, list(range(23)), workers))
    assert sorted(item for item, _ in pairs) == list(range(23))
    assert all(result == item * item for item, result in pairs)
