"""Single-arm phase II designs for a binary response endpoint: exact binomial tests and Simon two-stage designs.

A single-stage design treats n patients and declares the drug active when at least r respond. Simon's
two-stage design (Simon R., "Optimal two-stage designs for phase II clinical trials", Controlled
Clinical Trials 10:1-10, 1989) treats n1 patients, stops for futility when at most r1 respond, and
otherwise treats n - n1 more and declares activity when more than r of all n respond. Designs are
found by exact enumeration over n, n1 < n and r1 as in Simon's paper: for each (n, n1, r1) the
largest r meeting the power constraint P(declare active | p1) >= 1 - beta is taken and kept when
P(declare active | p0) <= alpha. The optimal design minimises the expected sample size under p0
(EN0); the minimax design has the smallest n, and among those the smallest EN0. Every probability
is an exact binomial sum; the search is vectorised over n1, r1 and r for each n with precomputed
binomial probability tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

__all__ = [
    "EmpiricalOperatingCharacteristics",
    "OperatingCharacteristics",
    "SimonDesign",
    "SingleStageDesign",
    "binomial_tail",
    "binomial_test_p_value",
    "critical_count",
    "empirical_operating_characteristics",
    "operating_characteristics",
    "simon_design",
    "simon_designs",
    "single_stage_design",
    "two_stage_design",
]

Criterion = Literal["optimal", "minimax", "given"]


@dataclass(frozen=True)
class SingleStageDesign:
    """Treat n patients; declare the drug active when at least r respond."""

    n: int
    r: int
    p0: float
    p1: float
    alpha: float
    power: float


@dataclass(frozen=True)
class SimonDesign:
    """Stop after n1 patients if at most r1 respond; else treat n in all and declare activity if more than r respond."""

    r1: int
    n1: int
    r: int
    n: int
    p0: float
    p1: float
    alpha: float
    power: float
    pet0: float
    en0: float
    criterion: Criterion


@dataclass(frozen=True)
class OperatingCharacteristics:
    """Exact operating characteristics of a two-stage design at each response probability in p."""

    p: NDArray[np.float64]
    pet: NDArray[np.float64]
    expected_n: NDArray[np.float64]
    p_declare_active: NDArray[np.float64]


@dataclass(frozen=True)
class EmpiricalOperatingCharacteristics:
    """Operating characteristics estimated from simulated trials, each with its standard error."""

    trials: int
    pet: float
    pet_se: float
    expected_n: float
    expected_n_se: float
    p_declare_active: float
    p_declare_active_se: float


def _check_probability(name: str, value: float) -> None:
    """Raise unless value lies strictly between 0 and 1."""
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")


def _check_hypotheses(p0: float, p1: float, alpha: float, beta: float) -> None:
    """Raise unless p0 < p1 and all four are probabilities in (0, 1)."""
    for name, value in (("p0", p0), ("p1", p1), ("alpha", alpha), ("beta", beta)):
        _check_probability(name, value)
    if p1 <= p0:
        raise ValueError(f"p1 must exceed p0 (activity means a higher response rate), got p0={p0!r}, p1={p1!r}")


def _check_count(name: str, value: int, minimum: int) -> None:
    """Raise unless value is an integer at least minimum."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def binomial_tail(r: int, n: int, p: float) -> float:
    """P(X >= r) for X ~ Binomial(n, p)."""
    _check_count("n", n, 0)
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)):
        raise ValueError(f"r must be an integer, got {r!r}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must lie in [0, 1], got {p!r}")
    return float(stats.binom.sf(r - 1, n, p))


def binomial_test_p_value(x: int, n: int, p0: float) -> float:
    """Exact one-sided binomial test p-value P(X >= x | n, p0) against the alternative p > p0."""
    _check_count("n", n, 1)
    _check_count("x", x, 0)
    if x > n:
        raise ValueError(f"x must not exceed n, got x={x!r}, n={n!r}")
    _check_probability("p0", p0)
    return binomial_tail(x, n, p0)


def critical_count(n: int, p0: float, alpha: float) -> int:
    """The smallest r with P(X >= r | n, p0) <= alpha: a single-stage design of n patients declares activity at r.

    The exact one-sided binomial test rejects at level alpha exactly when at least r respond; r is
    n + 1 when even n responses are not rare enough (no outcome can declare activity).
    """
    _check_count("n", n, 1)
    _check_probability("p0", p0)
    _check_probability("alpha", alpha)
    tail = stats.binom.sf(np.arange(n + 2) - 1, n, p0)  # P(X >= k) for k = 0..n+1; exactly 0 at n + 1
    return int(np.argmax(tail <= alpha))


def _tables(p: float, n_max: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """pmf[m, x] = P(Bin(m, p) = x) and tail[m, k] = P(Bin(m, p) >= k) for m, x <= n_max, k <= n_max + 1."""
    m = np.arange(n_max + 1)[:, None]
    k = np.arange(n_max + 2)[None, :]
    pmf = stats.binom.pmf(k[:, : n_max + 1], m, p)
    # sf(k - 1) is P(X >= k); at k = 0 it is exactly 1, beyond m exactly 0.
    tail = stats.binom.sf(k - 1, m, p)
    return pmf, tail


def single_stage_design(p0: float, p1: float, alpha: float = 0.05, beta: float = 0.2,
                        n_max: int = 1000) -> SingleStageDesign:
    """The smallest single-stage design with exact type I error <= alpha at p0 and power >= 1 - beta at p1.

    Parameters
    ----------
    p0, p1:
        Response probability of an inactive drug and the one worth detecting (p0 < p1).
    alpha, beta:
        Bounds on P(declare active | p0) and on P(not declared active | p1).
    n_max:
        Largest sample size searched.

    For each n the critical count r is the smallest with P(X >= r | p0) <= alpha (it maximises the
    power); the first n whose power reaches 1 - beta is returned. Raises ValueError when no n up to
    n_max qualifies.
    """
    _check_hypotheses(p0, p1, alpha, beta)
    _check_count("n_max", n_max, 1)
    # blocks of sample sizes, so that a small design does not pay for tables up to n_max
    for start in range(1, n_max + 1, 64):
        n = np.arange(start, min(start + 64, n_max + 1))[:, None]
        k = np.arange(int(n[-1, 0]) + 2)[None, :]
        tail0 = stats.binom.sf(k - 1, n, p0)  # P(X >= k); 0 beyond n, so every row has a qualifying k
        r = np.argmax(tail0 <= alpha, axis=1)
        power = stats.binom.sf(r - 1, n[:, 0], p1)
        ok = np.flatnonzero(power >= 1.0 - beta)
        if ok.size:
            i = int(ok[0])
            return SingleStageDesign(n=int(n[i, 0]), r=int(r[i]), p0=p0, p1=p1, alpha=float(tail0[i, r[i]]),
                                     power=float(power[i]))
    raise ValueError(f"no single-stage design with n <= {n_max}; increase n_max")


def _reject_probability(r1: int, n1: int, r: int, n: int, p: NDArray[np.float64]) -> NDArray[np.float64]:
    """P(X1 > r1 and X1 + X2 > r) for X1 ~ Bin(n1, p), X2 ~ Bin(n - n1, p), at each p."""
    x1 = np.arange(r1 + 1, n1 + 1)
    if x1.size == 0:
        return np.zeros_like(p)
    pmf = stats.binom.pmf(x1[None, :], n1, p[:, None])
    later = stats.binom.sf(r - x1[None, :], n - n1, p[:, None])
    return np.asarray(np.sum(pmf * later, axis=1), dtype=np.float64)


def _check_rule(r1: int, n1: int, r: int, n: int) -> None:
    """Raise unless 1 <= n1 < n and 0 <= r1 < n1, r1 <= r < n."""
    _check_count("n1", n1, 1)
    _check_count("n", n, 2)
    _check_count("r1", r1, 0)
    _check_count("r", r, 0)
    if not n1 < n:
        raise ValueError(f"n1 must be smaller than n, got n1={n1!r}, n={n!r}")
    if not r1 < n1:
        raise ValueError(f"r1 must be smaller than n1 (else the trial always stops), got r1={r1!r}, n1={n1!r}")
    if not r1 <= r < n:
        raise ValueError(f"r must satisfy r1 <= r < n, got r1={r1!r}, r={r!r}, n={n!r}")


def two_stage_design(r1: int, n1: int, r: int, n: int, p0: float, p1: float) -> SimonDesign:
    """A given two-stage rule (r1/n1, r/n) with its exact alpha, power, PET0 and EN0 at p0 and p1."""
    _check_rule(r1, n1, r, n)
    _check_probability("p0", p0)
    _check_probability("p1", p1)
    reject = _reject_probability(r1, n1, r, n, np.array([p0, p1]))
    pet0 = float(stats.binom.cdf(r1, n1, p0))
    return SimonDesign(r1=r1, n1=n1, r=r, n=n, p0=p0, p1=p1, alpha=float(reject[0]), power=float(reject[1]),
                       pet0=pet0, en0=n1 + (1.0 - pet0) * (n - n1), criterion="given")


def _best_for_each_n(p0: float, p1: float, alpha: float, beta: float,
                     n_max: int) -> list[tuple[float, int, int, int, int]]:
    """For every n with a feasible design, (EN0, n, n1, r1, r) of the feasible design with the smallest EN0."""
    pmf0, tail0 = _tables(p0, n_max)
    pmf1, tail1 = _tables(p1, n_max)
    cdf0 = 1.0 - tail0[:, 1:]  # cdf0[m, x] = P(Bin(m, p0) <= x)
    best: list[tuple[float, int, int, int, int]] = []
    for n in range(2, n_max + 1):
        # power <= P(X1 + X2 > r | p1), so r (and r1 <= r) cannot exceed top
        top = int(np.count_nonzero(tail1[n, 1:] >= 1.0 - beta)) - 1
        if top < 0:
            continue
        n1 = np.arange(1, n)
        n2 = n - n1
        # x1 runs downwards so that the running sum below is a forward cumsum over the first axis
        x1 = np.arange(top, -1, -1)
        # stage 2 needs X2 >= r - x1 + 1; a need <= 0 is certain (tail column 0 is 1)
        need = np.clip(np.arange(top + 1)[None, :] - x1[:, None] + 1, 0, None)
        reject = []
        for pmf, tail in ((pmf0, tail0), (pmf1, tail1)):
            joint = np.empty((top + 2, top + 1, n - 1))  # axes: x1, r, n1
            # every x1 > top exceeds every r searched, so those outcomes reject whatever X2 is
            joint[0] = tail[n1, top + 1][None, :]
            np.multiply(pmf[n1][:, x1].T[:, None, :], tail[n2].T[need], out=joint[1:])
            # above[top + 1 - j] = P(X1 >= j and X1 + X2 > r); rejecting needs X1 >= r1 + 1
            above = np.cumsum(joint, axis=0)
            reject.append(above[top::-1])  # axes: r1 = 0..top, r, n1
        power_ok = reject[1] >= 1.0 - beta
        # rejection falls as r grows, so the power constraint holds for r = 0..count - 1
        count = power_ok.sum(axis=1)
        r = np.maximum(count - 1, 0)
        size = np.take_along_axis(reject[0], r[:, None, :], axis=1)[:, 0, :]
        r1 = np.arange(top + 1)[:, None]
        feasible = (count > 0) & (size <= alpha) & (r1 < n1[None, :])
        if not feasible.any():
            continue
        pet0 = cdf0[n1[None, :], r1]
        en0 = np.where(feasible, n1[None, :] + (1.0 - pet0) * n2[None, :], np.inf)
        i, j = np.unravel_index(int(np.argmin(en0)), en0.shape)
        best.append((float(en0[i, j]), n, int(n1[j]), int(i), int(r[i, j])))
    return best


def simon_designs(p0: float, p1: float, alpha: float = 0.05, beta: float = 0.2,
                  n_max: int = 100) -> tuple[SimonDesign, SimonDesign]:
    """Simon's optimal and minimax two-stage designs from one exact enumeration.

    Parameters
    ----------
    p0, p1:
        Response probability of an inactive drug and the one worth detecting (p0 < p1).
    alpha, beta:
        Constraints P(declare active | p0) <= alpha and P(declare active | p1) >= 1 - beta.
    n_max:
        Largest total sample size searched (about 100 takes well under a second).

    Returns ``(optimal, minimax)``: the optimal design minimises EN0 over all feasible designs (ties
    to the smaller n); the minimax design has the smallest feasible n and, for that n, the smallest
    EN0. Raises ValueError when no design with n <= n_max meets both constraints.
    """
    _check_hypotheses(p0, p1, alpha, beta)
    _check_count("n_max", n_max, 2)
    best = _best_for_each_n(p0, p1, alpha, beta, n_max)
    if not best:
        raise ValueError(f"no two-stage design with n <= {n_max} meets alpha={alpha} and beta={beta}; "
                         "increase n_max")
    optimal = min(best, key=lambda row: (row[0], row[1]))
    minimax = best[0]  # rows are in increasing n, each already the smallest EN0 for its n
    return _chosen(optimal, "optimal", p0, p1), _chosen(minimax, "minimax", p0, p1)


def _chosen(row: tuple[float, int, int, int, int], criterion: Criterion, p0: float, p1: float) -> SimonDesign:
    """The design of a search row, its characteristics recomputed directly."""
    _, n, n1, r1, r = row
    given = two_stage_design(r1, n1, r, n, p0, p1)
    return SimonDesign(r1=r1, n1=n1, r=r, n=n, p0=p0, p1=p1, alpha=given.alpha, power=given.power,
                       pet0=given.pet0, en0=given.en0, criterion=criterion)


def simon_design(p0: float, p1: float, alpha: float = 0.05, beta: float = 0.2,
                 criterion: Literal["optimal", "minimax"] = "optimal", n_max: int = 100) -> SimonDesign:
    """Simon's optimal (smallest EN0) or minimax (smallest n, then smallest EN0) two-stage design.

    Parameters
    ----------
    p0, p1:
        Response probability of an inactive drug and the one worth detecting (p0 < p1).
    alpha, beta:
        Constraints P(declare active | p0) <= alpha and P(declare active | p1) >= 1 - beta.
    criterion:
        ``"optimal"`` or ``"minimax"``.
    n_max:
        Largest total sample size searched.
    """
    if criterion not in ("optimal", "minimax"):
        raise ValueError(f"criterion must be 'optimal' or 'minimax', got {criterion!r}")
    optimal, minimax = simon_designs(p0, p1, alpha, beta, n_max)
    return optimal if criterion == "optimal" else minimax


def operating_characteristics(design: SimonDesign, p: ArrayLike) -> OperatingCharacteristics:
    """Exact PET, expected sample size and P(declare active) of a two-stage design at each p (any shape).

    Parameters
    ----------
    design:
        The rule (only r1, n1, r and n are used), e.g. from :func:`simon_design` or :func:`two_stage_design`.
    p:
        True response probabilities in [0, 1], e.g. the simulated probability of response by the
        assessment visit under each scenario of the pathway model.
    """
    _check_rule(design.r1, design.n1, design.r, design.n)
    values = np.asarray(p, dtype=float)
    if values.size == 0 or not np.all((values >= 0.0) & (values <= 1.0)):
        raise ValueError("p must be a non-empty array of probabilities in [0, 1]")
    flat = values.ravel()
    pet = stats.binom.cdf(design.r1, design.n1, flat)
    active = _reject_probability(design.r1, design.n1, design.r, design.n, flat)
    shape = values.shape
    return OperatingCharacteristics(
        p=values.astype(np.float64),
        pet=np.asarray(pet, dtype=np.float64).reshape(shape),
        expected_n=np.asarray(design.n1 + (1.0 - pet) * (design.n - design.n1), dtype=np.float64).reshape(shape),
        p_declare_active=active.reshape(shape),
    )


def empirical_operating_characteristics(design: SimonDesign, stage1_responses: ArrayLike,
                                        total_responses: ArrayLike) -> EmpiricalOperatingCharacteristics:
    """Operating characteristics of a two-stage design estimated from simulated trials.

    Parameters
    ----------
    design:
        The rule (only r1, n1, r and n are used).
    stage1_responses:
        Per simulated trial, the responses among its first n1 patients.
    total_responses:
        Per simulated trial, the responses among all n patients (counted as if the trial had not
        stopped; the rule ignores them when it stops early).

    Trials are independent, so each proportion has the binomial standard error
    sqrt(p (1 - p) / trials); the sample size is n - (n - n1) * [stopped early], so its standard
    error is (n - n1) times that of PET.
    """
    _check_rule(design.r1, design.n1, design.r, design.n)
    first = np.asarray(stage1_responses)
    total = np.asarray(total_responses)
    if first.ndim != 1 or first.shape != total.shape or first.size == 0:
        raise ValueError("stage1_responses and total_responses must be non-empty 1-d arrays of the same length")
    for name, counts in (("stage1_responses", first), ("total_responses", total)):
        if not (np.issubdtype(counts.dtype, np.integer)
                or (np.issubdtype(counts.dtype, np.floating) and np.all(counts == np.round(counts)))):
            raise ValueError(f"{name} must hold whole numbers of responses")
    stage2 = total - first
    if np.any(first < 0) or np.any(first > design.n1) or np.any(stage2 < 0) or np.any(stage2 > design.n - design.n1):
        raise ValueError(f"counts out of range: need 0 <= stage1 <= {design.n1} and "
                         f"0 <= total - stage1 <= {design.n - design.n1}")
    trials = int(first.size)
    stopped = first <= design.r1
    active = ~stopped & (total > design.r)
    pet = float(stopped.mean())
    p_active = float(active.mean())
    pet_se = float(np.sqrt(pet * (1.0 - pet) / trials))
    return EmpiricalOperatingCharacteristics(
        trials=trials,
        pet=pet,
        pet_se=pet_se,
        expected_n=design.n - (design.n - design.n1) * pet,
        expected_n_se=(design.n - design.n1) * pet_se,
        p_declare_active=p_active,
        p_declare_active_se=float(np.sqrt(p_active * (1.0 - p_active) / trials)),
    )
