"""The runners: every item once, with its own result, in order (map_ordered) or as finished."""

from __future__ import annotations

import time

import pytest

from sim.execute import map_as_completed, map_ordered


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


@pytest.mark.parametrize(("n", "size", "workers", "smallest"), [(0, 5, 2, 1), (1, 5, 2, 1), (120, 25, 2, 1),
                                                                  (420, 25, 2, 5), (37, 100, 4, 3), (10, 1, 2, 1)])
def test_guided_chunks_cover_items_in_order_and_shrink(n, size, workers, smallest):
    """Tasks hold consecutive items, every item once; sizes never grow, stay within [smallest, size]
    (only the last may be short), and end at most ``smallest`` items, so workers finish together."""
    from sim.execute import _chunks

    chunks = _chunks(list(range(n)), size, workers, smallest)
    assert [item for chunk in chunks for item in chunk] == list(range(n))
    sizes = [len(chunk) for chunk in chunks]
    assert all(a >= b for a, b in zip(sizes, sizes[1:], strict=False))
    assert all(min(smallest, size) <= s <= max(size, smallest) for s in sizes[:-1])
    if sizes:
        assert sizes[-1] <= max(smallest, 1)
