"""The run's cost-effectiveness table, on hand-made patients tables whose answers are worked by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sim.stats.cost_effectiveness import economics_table

T_975_2 = 4.302652729911275  # Student t, 97.5% quantile, 2 degrees of freedom (any printed t table)


def table(values: dict[str, list[tuple[float, float]]]) -> pd.DataFrame:
    """Patients: for each arm, one (cost, qalys) per replication, each the mean of two patients."""
    rows = []
    for arm, replications in values.items():
        for r, (cost, qalys) in enumerate(replications):
            for p, shift in enumerate((-1.0, 1.0)):  # two patients around the replication mean
                rows.append({"replication": r, "arm": arm, "patient": p, "cost": cost + 10 * shift,
                             "qalys": qalys + 0.01 * shift, "cost_undiscounted": 1.1 * (cost + 10 * shift),
                             "qalys_undiscounted": 1.05 * (qalys + 0.01 * shift)})
    return pd.DataFrame(rows)


def test_means_intervals_and_paired_net_benefit_by_hand() -> None:
    """Replication means A: costs 100, 200, 300 (mean 200, SD 100), QALYs 1.0, 1.1, 1.2 (mean 1.1); B adds
    1,000 and 0.1 QALYs in every replication, so at 20,000 per QALY its paired NMB gain is exactly
    20,000 x 0.1 - 1,000 = 1,000 with no spread. The interval of A's mean cost is 200 +- t(2) x 100 / sqrt(3)."""
    patients = table({"A": [(100, 1.0), (200, 1.1), (300, 1.2)],
                      "B": [(1100, 1.1), (1200, 1.2), (1300, 1.3)]})
    out = economics_table(patients, "A", [20000, 30000]).set_index("arm")
    assert out.loc["A", "cost"] == pytest.approx(200.0)
    half = T_975_2 * 100 / math.sqrt(3)
    assert (out.loc["A", "cost_ci_low"], out.loc["A", "cost_ci_high"]) == pytest.approx((200 - half, 200 + half))
    assert out.loc["A", "cost_undiscounted"] == pytest.approx(220.0)
    assert out.loc["B", "qalys"] == pytest.approx(1.2)
    assert out.loc["B", "nmb_difference_20000"] == pytest.approx(1000.0)
    assert out.loc["B", "nmb_difference_20000_ci_low"] == pytest.approx(1000.0)
    assert out.loc["B", "nmb_difference_30000"] == pytest.approx(2000.0)
    assert out.loc["A", "nmb_20000"] == pytest.approx(20000 * 1.1 - 200)
    assert math.isnan(out.loc["A", "nmb_difference_20000"])
    assert out.loc["B", "icer"] == pytest.approx(1000 / 0.1)
    assert (out.loc["A", "status"], out.loc["B", "status"]) == ("reference", "non-dominated")


def test_dominated_and_extendedly_dominated_arms_by_hand() -> None:
    """Means (cost, QALYs): A (0, 1.0), B (10,000, 1.2), C (30,000, 1.3), D (40,000, 1.6), E (20,000, 1.1).
    E costs more than B for fewer QALYs: dominated by B. ICERs: B vs A 50,000; C vs B 200,000; D vs C
    33,333 < 200,000, so C is extendedly dominated; then D vs B is 75,000 > 50,000: frontier A, B, D."""
    means = {"A": (0, 1.0), "B": (10000, 1.2), "C": (30000, 1.3), "D": (40000, 1.6), "E": (20000, 1.1)}
    patients = table({arm: [(c, q)] * 2 for arm, (c, q) in means.items()})
    out = economics_table(patients, "A", [50000]).set_index("arm")
    assert list(out.index) == ["A", "B", "E", "C", "D"]  # in cost order
    assert out.loc["E", "status"] == "dominated" and out.loc["E", "dominated_by"] == "B"
    assert out.loc["C", "status"] == "extendedly dominated" and out.loc["C", "dominated_by"] == "B and D"
    assert out.loc["B", "icer"] == pytest.approx(50000.0)
    assert out.loc["D", "icer"] == pytest.approx(30000 / 0.4)
    assert math.isnan(out.loc["C", "icer"]) and math.isnan(out.loc["E", "icer"])


def test_one_replication_takes_intervals_from_the_patients() -> None:
    """Two patients at 190 and 210: mean 200, SD sqrt(200), interval 200 +- t(1) x sqrt(200) / sqrt(2)."""
    patients = table({"A": [(200, 1.0)], "B": [(300, 1.2)]})
    out = economics_table(patients, "A", [20000]).set_index("arm")
    half = 12.706204736174705 * math.sqrt(200) / math.sqrt(2)
    assert out.loc["A", "cost_ci_high"] == pytest.approx(200 + half)


def test_bad_reference_or_thresholds_are_refused() -> None:
    patients = table({"A": [(1, 1.0)], "B": [(2, 1.0)]})
    with pytest.raises(ValueError, match="reference arm 'Z'"):
        economics_table(patients, "Z", [1.0])
    with pytest.raises(ValueError, match="at least one threshold"):
        economics_table(patients, "A", [])
