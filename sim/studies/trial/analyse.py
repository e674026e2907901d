"""Power against sample size: the share of simulated trials that reject, with its interval, per size."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["POWER_COLUMNS", "smallest_size", "summarise_power"]

POWER_COLUMNS = ["patients_per_arm", "power", "ci_low", "ci_high", "mean_effect", "mean_duration_weeks"]


def summarise_power(trials: pd.DataFrame, time_to_event: bool = False) -> pd.DataFrame:
    """Per size: power (rejection rate) with its 95% Wilson interval, mean effect and mean duration.

    For time-to-event endpoints the mean effect is the geometric mean of the hazard ratios.
    """
    rows = []
    for n, group in trials.groupby("patients_per_arm", sort=True):
        k, total = int(group["reject"].sum()), len(group)
        interval = stats.binomtest(k, total).proportion_ci(confidence_level=0.95, method="wilson")
        effects = group["effect"].to_numpy(dtype=float)
        effects = effects[np.isfinite(effects)]
        if time_to_event:
            effects = effects[effects > 0]
            mean_effect = float(np.exp(np.log(effects).mean())) if len(effects) else math.nan
        else:
            mean_effect = float(effects.mean()) if len(effects) else math.nan
        rows.append((int(n), k / total, float(interval.low), float(interval.high), mean_effect,
                     float(group["duration_weeks"].mean())))
    return pd.DataFrame(rows, columns=POWER_COLUMNS)


def smallest_size(power: pd.DataFrame, target: float) -> int | None:
    """The smallest size whose estimated power reaches the target, or None."""
    reached = power[power["power"] >= target]
    return int(reached["patients_per_arm"].iloc[0]) if len(reached) else None
