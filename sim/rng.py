"""The only place random streams are derived: one root seed, named purposes, patient-indexed vectors.

A stream is identified by (seed, replication, purpose). Its n-th uniform belongs to patient n, in
every arm and every sweep point, so arms share their random numbers (common random numbers) and a
block of patients can be drawn on its own by jumping the generator ahead.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

__all__ = ["Streams", "purpose_key"]

_RECENT_BLOCKS = 16
_SHARED_PATIENTS = 5000
"""Blocks whose uniforms are kept in this process (the most recent, of at most this many patients:
a few MB): the arms of a replication draw the same uniforms for the same patients, and are
usually simulated one after another."""

_recent: OrderedDict[tuple[int, int, int, int], dict[str, np.ndarray]] = OrderedDict()


def purpose_key(purpose: str) -> int:
    """A stable 64-bit integer for a purpose name (never Python's salted ``hash``)."""
    return int.from_bytes(hashlib.blake2b(purpose.encode("utf-8"), digest_size=8).digest(), "little")


def _shared_cache(key: tuple[int, int, int, int]) -> dict[str, np.ndarray]:
    """The uniforms already drawn for a block (seed, replication, start, stop), by purpose."""
    cache = _recent.get(key)
    if cache is None:
        cache = _recent[key] = {}
        if len(_recent) > _RECENT_BLOCKS:
            _recent.popitem(last=False)
    else:
        _recent.move_to_end(key)
    return cache


class Streams:
    """Uniforms in [0, 1) for patients ``start`` to ``stop - 1`` of one replication, by purpose.

    The vectors returned are read-only: they are shared by every arm simulated in this process.
    """

    def __init__(self, seed: int, replication: int, start: int, stop: int):
        self.seed = seed
        self.replication = replication
        self.start = start
        self.stop = stop
        shared = stop - start <= _SHARED_PATIENTS
        self._cache = _shared_cache((seed, replication, start, stop)) if shared else {}

    def uniforms(self, purpose: str) -> np.ndarray:
        """The block's uniforms for ``purpose``, indexed by patient minus ``start``."""
        cached = self._cache.get(purpose)
        if cached is None:
            sequence = np.random.SeedSequence([self.seed, self.replication, purpose_key(purpose)])
            bit_generator = np.random.PCG64(sequence)
            # One 64-bit output per double: jumping ahead by `start` lands on patient `start`.
            bit_generator.advance(self.start)
            cached = np.random.Generator(bit_generator).random(self.stop - self.start)
            cached.flags.writeable = False
            self._cache[purpose] = cached
        return cached
