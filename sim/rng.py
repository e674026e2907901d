"""The only place random streams are derived: one root seed, named purposes, patient-indexed vectors.

A stream is identified by (seed, replication, purpose). Its n-th uniform belongs to patient n, in
every arm and every sweep point, so arms share their random numbers (common random numbers) and a
block of patients can be drawn on its own by jumping the generator ahead.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["Streams", "purpose_key"]


def purpose_key(purpose: str) -> int:
    """A stable 64-bit integer for a purpose name (never Python's salted ``hash``)."""
    return int.from_bytes(hashlib.blake2b(purpose.encode("utf-8"), digest_size=8).digest(), "little")


class Streams:
    """Uniforms in [0, 1) for patients ``start`` to ``stop - 1`` of one replication, by purpose."""

    def __init__(self, seed: int, replication: int, start: int, stop: int):
        self.seed = seed
        self.replication = replication
        self.start = start
        self.stop = stop
        self._cache: dict[str, np.ndarray] = {}

    def uniforms(self, purpose: str) -> np.ndarray:
        """The block's uniforms for ``purpose``, indexed by patient minus ``start``."""
        cached = self._cache.get(purpose)
        if cached is None:
            sequence = np.random.SeedSequence([self.seed, self.replication, purpose_key(purpose)])
            bit_generator = np.random.PCG64(sequence)
            # One 64-bit output per double: jumping ahead by `start` lands on patient `start`.
            bit_generator.advance(self.start)
            cached = np.random.Generator(bit_generator).random(self.stop - self.start)
            self._cache[purpose] = cached
        return cached
