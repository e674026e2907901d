"""Two-sample hypothesis tests of a simulated trial: Fisher, chi-square, Welch, Mann-Whitney and log-rank.

Arms are control first, then experimental. ``alternative: greater`` (``less``) is the one-sided
alternative that the experimental arm's proportion, mean or hazard is higher (lower) than the
control's. ``chi2`` is Pearson's chi-square without continuity correction (the pooled
two-proportion z-test); ``mann_whitney`` uses the normal approximation with tie and continuity
corrections, exact for untied arms of at most 8; ``logrank`` uses the hypergeometric variance and
allows tied times.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import special, stats

__all__ = ["compare_arms", "logrank"]

def logrank(time0: np.ndarray, event0: np.ndarray, time1: np.ndarray, event1: np.ndarray,
            alternative: str = "two-sided") -> tuple[float, float]:
    """Log-rank test of group 1 against group 0: (hazard ratio, p-value).

    The statistic is ``U / sqrt(V)`` with ``U = O1 - E1`` summed over distinct event times and the
    hypergeometric variance ``V`` (ties allowed); the hazard ratio is Peto's ``exp(U / V)``.
    'greater' is the alternative that group 1 has the higher hazard. NaN when no event occurs.
    """
    t0, t1 = np.asarray(time0, dtype=float), np.asarray(time1, dtype=float)
    e0, e1 = np.asarray(event0, dtype=bool), np.asarray(event1, dtype=bool)
    times = np.unique(np.concatenate([t0[e0], t1[e1]]))
    if len(times) == 0:
        return math.nan, math.nan
    sorted0, sorted1 = np.sort(t0), np.sort(t1)
    at_risk0 = len(t0) - np.searchsorted(sorted0, times, side="left")
    at_risk1 = len(t1) - np.searchsorted(sorted1, times, side="left")
    events0, events1 = np.sort(t0[e0]), np.sort(t1[e1])
    deaths0 = np.searchsorted(events0, times, side="right") - np.searchsorted(events0, times, side="left")
    deaths1 = np.searchsorted(events1, times, side="right") - np.searchsorted(events1, times, side="left")
    at_risk = (at_risk0 + at_risk1).astype(float)
    deaths = (deaths0 + deaths1).astype(float)
    share1 = at_risk1 / at_risk
    u = float(deaths1.sum() - (deaths * share1).sum())
    v = float((deaths * share1 * (1 - share1) * (at_risk - deaths) / np.maximum(at_risk - 1, 1)).sum())
    if v <= 0:
        return math.nan, math.nan
    z = u / math.sqrt(v)
    return math.exp(u / v), _normal_p(z, alternative)


def _normal_p(z: float, alternative: str) -> float:
    """P-value of a standard normal statistic (two-sided: the chi-square(1) tail of z squared)."""
    if alternative == "greater":
        return 0.5 * math.erfc(z / math.sqrt(2))
    if alternative == "less":
        return 0.5 * math.erfc(-z / math.sqrt(2))
    return math.erfc(abs(z) / math.sqrt(2))


def _welch(control: np.ndarray, experimental: np.ndarray, alternative: str) -> float:
    """Welch's unequal-variance t-test (as ``scipy.stats.ttest_ind(equal_var=False)``, without its overhead)."""
    n0, n1 = len(control), len(experimental)
    v0, v1 = control.var(ddof=1) / n0, experimental.var(ddof=1) / n1
    difference = experimental.mean() - control.mean()
    if v0 + v1 == 0:  # both arms constant: certain when they differ
        if difference == 0:
            return 1.0
        return float(alternative == "less" and difference > 0 or alternative == "greater" and difference < 0)
    t = difference / math.sqrt(v0 + v1)
    df = (v0 + v1) ** 2 / (v0 * v0 / (n0 - 1) + v1 * v1 / (n1 - 1))
    if alternative == "greater":
        return float(special.stdtr(df, -t))
    if alternative == "less":
        return float(special.stdtr(df, t))
    return float(2 * special.stdtr(df, -abs(t)))


def _mann_whitney(control: np.ndarray, experimental: np.ndarray, alternative: str) -> float:
    """Mann-Whitney U test of experimental against control.

    Normal approximation with tie and continuity corrections, as ``scipy.stats.mannwhitneyu``'s
    'asymptotic' method; scipy's exact distribution for arms of at most 8 patients without ties.
    """
    n0, n1 = len(control), len(experimental)
    pooled = np.concatenate([experimental, control])
    ranks = stats.rankdata(pooled)
    _, ties = np.unique(pooled, return_counts=True)
    if max(n0, n1) <= 8 and ties.max() == 1:
        return float(stats.mannwhitneyu(experimental, control, alternative=alternative, method="exact").pvalue)
    n = n0 + n1
    u1 = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2
    mean = n0 * n1 / 2
    spread = math.sqrt(n0 * n1 / 12 * ((n + 1) - float((ties ** 3 - ties).sum()) / (n * (n - 1))))
    if spread == 0:
        return 1.0
    if alternative == "greater":
        u = u1
    elif alternative == "less":
        u = n0 * n1 - u1
    else:
        u = max(u1, n0 * n1 - u1)
    p = 0.5 * math.erfc((u - mean - 0.5) / spread / math.sqrt(2))
    return min(1.0, 2 * p if alternative == "two-sided" else p)


@lru_cache(maxsize=1 << 16)
def _fisher(x1: int, n1: int, x0: int, n0: int, alternative: str) -> float:
    return float(stats.fisher_exact([[x1, n1 - x1], [x0, n0 - x0]], alternative=alternative)[1])


def _chi2(x1: int, n1: int, x0: int, n0: int, alternative: str) -> float:
    """Pearson's chi-square test of a 2x2 table without continuity correction, as the pooled z-test."""
    pooled = (x0 + x1) / (n0 + n1)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1))
    if se == 0:
        return 1.0  # every patient alike: no evidence either way
    return _normal_p((x1 / n1 - x0 / n0) / se, alternative)


def compare_arms(test: str, alternative: str, control: np.ndarray, experimental: np.ndarray,
                 control_event: np.ndarray | None = None,
                 experimental_event: np.ndarray | None = None) -> tuple[float, float]:
    """(effect, p-value) of the experimental arm against the control arm; NaN when not computable.

    The effect is the difference in proportions or means (experimental minus control), or for
    ``logrank`` the hazard ratio (experimental over control). 'greater' is the alternative that
    the effect is above 0 (hazard ratio above 1).
    """
    n0, n1 = len(control), len(experimental)
    if n0 == 0 or n1 == 0:
        return math.nan, math.nan
    if test == "logrank":
        assert control_event is not None and experimental_event is not None
        return logrank(control, control_event, experimental, experimental_event, alternative)
    effect = float(experimental.mean() - control.mean())
    if test in ("fisher", "chi2"):
        x0, x1 = int(control.sum()), int(experimental.sum())
        p = (_fisher if test == "fisher" else _chi2)(x1, n1, x0, n0, alternative)
        return effect, p
    if test == "mann_whitney":
        return effect, _mann_whitney(control, experimental, alternative)
    if n0 < 2 or n1 < 2:
        return effect, math.nan
    return effect, _welch(control, experimental, alternative)
