"""Random streams, the only place they are derived: one root seed, named purposes, patient-indexed vectors.

Each purpose (what is drawn: ``c2.relapse.after_stop``, ``loss_to_follow_up``, ...) has one PCG64
stream per seed, seeded from (seed, a stable hash of the purpose). Replication r, patient n uses
that stream's output number r * 2**48 + n: replications are disjoint windows of 2**48 outputs, far
more than any cohort. So a patient's uniform for a purpose is the same in every arm and every sweep
point (common random numbers), and a block of patients is drawn on its own by jumping ahead.

Seeding a PCG64 costs about 15 microseconds, jumping ahead under one: each process seeds a
purpose's stream once and keeps it, and keeps the uniforms of its most recent blocks, which the
other arms of the same replication draw again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

__all__ = ["MAX_PATIENTS", "Streams", "purpose_key"]

MAX_PATIENTS = 2**48
"""Outputs of a purpose's stream given to each replication: patients are numbered below this."""

_RECENT_BLOCKS = 16
_SHARED_PATIENTS = 5000
"""Blocks whose uniforms are kept in this process (the most recent, of at most this many patients:
a few MB)."""

_recent: OrderedDict[tuple[int, int, int, int], dict[str, np.ndarray]] = OrderedDict()
_seeded: dict[tuple[int, str], Any] = {}
_local = threading.local()


def purpose_key(purpose: str) -> int:
    """A stable 64-bit integer for a purpose name (never Python's salted ``hash``)."""
    return int.from_bytes(hashlib.blake2b(purpose.encode("utf-8"), digest_size=8).digest(), "little")


def _initial_state(seed: int, purpose: str) -> Any:
    """The state of a purpose's stream before its first output."""
    state = _seeded.get((seed, purpose))
    if state is None:
        if len(_seeded) >= 65536:  # a bound, for long-lived processes that see many seeds
            _seeded.clear()
        state = np.random.PCG64(np.random.SeedSequence([seed, purpose_key(purpose)])).state
        _seeded[(seed, purpose)] = state
    return state


def _generator() -> tuple[np.random.PCG64, np.random.Generator]:
    """This thread's scratch bit generator, set to a stream's state before each use."""
    scratch = getattr(_local, "scratch", None)
    if scratch is None:
        bit_generator = np.random.PCG64(0)
        scratch = _local.scratch = (bit_generator, np.random.Generator(bit_generator))
    return scratch


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
        if not 0 <= start <= stop <= MAX_PATIENTS:
            raise ValueError(f"patients {start} to {stop} outside 0 to {MAX_PATIENTS}")
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
            bit_generator, generator = _generator()
            bit_generator.state = _initial_state(self.seed, purpose)
            # One 64-bit output per double: jump to this replication's window, then to patient `start`.
            bit_generator.advance(self.replication * MAX_PATIENTS + self.start)
            cached = generator.random(self.stop - self.start)
            cached.flags.writeable = False
            self._cache[purpose] = cached
        return cached
