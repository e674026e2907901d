"""A sweep's derived tables on hand-made point records: noise, tornado, PSA and Sobol/Morris indices.

Each point record holds the per-replication means a simulation would give; here they are chosen by
hand (or computed from a known function of the design's values), so every number of the tables
has an independent reference: the t quantile in closed form, hand arithmetic, the Saltelli (2010)
and Jansen (1999) estimators written out, the closed-form Sobol indices and Morris effects of a
linear function, and the exact (Clopper-Pearson) interval by bisection on the binomial law.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import ROOT

from sim.spec.load import load_scenario
from sim.spec.sweep import Sweep
from sim.studies.sweep.analyse import analyse
from sim.studies.sweep.design import Design, Parameter, Point, design, parameters_of

T2 = 0.95 / math.sqrt(2 * 0.975 * 0.025)  # t(0.975, 2 df) in closed form: (2p - 1) / sqrt(2 p (1 - p)) = 4.3027
OUTCOMES = ["disease_free_weeks", "dropout"]
A_PATH, B_PATH = "therapies.x.response.probability", "therapies.x.relapse.on_treatment_per_year"


def record(index: int, means: dict[str, dict[str, list[float]]]) -> dict:
    return {"point": index, "values": {}, "replications": 3, "means": means}


def one_way_design() -> Design:
    """Base point 0; parameter A at three levels (points 1, 2, 3); parameter B low (4) and high (5)."""
    params = (Parameter(A_PATH, "A", None, 0.5, False), Parameter(B_PATH, "B", None, None, False))
    matrix = np.array([[0.5, math.nan], [0.4, math.nan], [0.5, math.nan], [0.6, math.nan], [0.5, 0.5],
                       [0.5, 2.0]])
    points = (Point(0, ()), Point(1, ((A_PATH, 0.4),), A_PATH), Point(2, ((A_PATH, 0.5),), A_PATH),
              Point(3, ((A_PATH, 0.6),), A_PATH), Point(4, ((B_PATH, 0.5),), B_PATH),
              Point(5, ((B_PATH, 2.0),), B_PATH))
    return Design("one_way", params, points, matrix)


def one_way_records() -> list[dict]:
    """Reference arm's disease-free weeks 11, 12, 13 at the base point and 10, 12, 14 elsewhere; the
    new arm adds a per-point shift (+2 at base; A: +1, +2.5, +4; B: +6 at low, -3 at high) plus -1, 0,
    +1 by replication. Dropout: reference 0.1 everywhere, new 0.1 + 0.01 * point."""
    shifts = [2.0, 1.0, 2.5, 4.0, 6.0, -3.0]
    records = []
    for i, shift in enumerate(shifts):
        ref = [11.0, 12.0, 13.0] if i == 0 else [10.0, 12.0, 14.0]
        new = [r + shift + e for r, e in zip(ref, (-1.0, 0.0, 1.0), strict=True)]
        records.append(record(i, {"ref": {"disease_free_weeks": ref, "dropout": [0.1] * 3},
                                  "new": {"disease_free_weeks": new, "dropout": [0.1 + 0.01 * i] * 3}}))
    return records


def test_one_way_noise_is_the_t_half_width_at_the_base_point():
    """Reference arm at the base point: 11, 12, 13 (sd 1; sd 2 at every other point): half-width
    t(0.975, 2) * 1 / sqrt(3) = 2.484. New arm 12, 14, 16 (sd 2): 4.968. Difference 1, 2, 3 (sd 1):
    2.484. 1.96 in place of t gives 1.13, and the median point's spread would give twice as much."""
    tables = analyse(one_way_design(), one_way_records(), ["ref", "new"], "ref", OUTCOMES)
    assert list(tables.noise.columns) == ["outcome", "arm", "measure", "half_width", "paired_half_width",
                                          "noise_variance_share"]
    noise = tables.noise.set_index(["outcome", "arm", "measure"])
    half = noise["half_width"]
    assert half[("disease_free_weeks", "ref", "mean")] == pytest.approx(T2 * 1 / math.sqrt(3))
    assert half[("disease_free_weeks", "new", "mean")] == pytest.approx(T2 * 2 / math.sqrt(3))
    assert half[("disease_free_weeks", "new", "difference")] == pytest.approx(T2 * 1 / math.sqrt(3))
    assert half[("dropout", "new", "difference")] == pytest.approx(0.0, abs=1e-12)
    # Paired noise: the change from the base point, replication by replication. Reference 10, 12, 14
    # against 11, 12, 13: -1, 0, +1 (sd 1); new (shift s) 9+s, 12+s, 15+s against 12, 14, 16: s-3, s-2,
    # s-1 (sd 1); the difference's change is s-2 in every replication (sd 0).
    paired = noise["paired_half_width"]
    assert paired[("disease_free_weeks", "ref", "mean")] == pytest.approx(T2 / math.sqrt(3))
    assert paired[("disease_free_weeks", "new", "mean")] == pytest.approx(T2 / math.sqrt(3))
    assert paired[("disease_free_weeks", "new", "difference")] == pytest.approx(0.0, abs=1e-12)
    assert noise["noise_variance_share"].isna().all()  # a one-way design samples nothing
    assert len(noise) == 2 * 3


def test_sweep_table_has_each_point_and_arm_with_paired_differences():
    """Point 3 (A high): reference 10, 12, 14 (mean 12, sd 2); new 13, 16, 19 (mean 16, sd 3);
    difference 3, 4, 5 (mean 4, sd 1); intervals mean -+ t(0.975, 2) sd / sqrt(3)."""
    tables = analyse(one_way_design(), one_way_records(), ["ref", "new"], "ref", OUTCOMES)
    table = tables.sweep
    assert list(table.columns) == ["point", "varied", A_PATH, B_PATH, "arm"] + [
        f"{o}_{k}" for o in OUTCOMES for k in ("mean", "ci_low", "ci_high", "difference", "difference_ci_low",
                                               "difference_ci_high")]
    assert table["point"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5] and table["point"].dtype.kind == "i"
    assert table["arm"].tolist() == ["ref", "new"] * 6
    rows = table.set_index(["point", "arm"])
    ref, new = rows.loc[(3, "ref")], rows.loc[(3, "new")]
    assert ref[[f"disease_free_weeks_{k}" for k in ("mean", "ci_low", "ci_high")]].tolist() == pytest.approx(
        [12.0, 12.0 - T2 * 2 / math.sqrt(3), 12.0 + T2 * 2 / math.sqrt(3)])
    assert new[[f"disease_free_weeks_{k}" for k in ("mean", "ci_low", "ci_high")]].tolist() == pytest.approx(
        [16.0, 16.0 - T2 * 3 / math.sqrt(3), 16.0 + T2 * 3 / math.sqrt(3)])
    assert new[[f"disease_free_weeks_difference{k}" for k in ("", "_ci_low", "_ci_high")]].tolist() == pytest.approx(
        [4.0, 4.0 - T2 / math.sqrt(3), 4.0 + T2 / math.sqrt(3)])
    assert ref[[f"disease_free_weeks_difference{k}" for k in ("", "_ci_low", "_ci_high")]].isna().all()
    assert new["dropout_difference"] == pytest.approx(0.03)
    assert (rows.loc[(4, "new"), "varied"], rows.loc[(4, "new"), B_PATH]) == (B_PATH, 0.5)


def test_tornado_rows_pair_low_with_low_and_sort_by_swing():
    """Differences new - ref: base 2; A at 0.4, 0.5, 0.6: 1, 2.5, 4; B low 6, high -3 (each +-1 by
    replication). The low and high points are a parameter's first and last levels.

    A: at low 1, at high 4, change +3 (paired: exactly 3 in every replication, so a zero-width
    interval); B: at low 6, at high -3, change -9, swing 9. B has the larger swing: first.
    """
    tables = analyse(one_way_design(), one_way_records(), ["ref", "new"], "ref", OUTCOMES)
    tornado = tables.tornado
    assert tornado is not None
    panel = tornado[tornado["outcome"] == "disease_free_weeks"]
    assert panel["parameter"].tolist() == [B_PATH, A_PATH]
    b, a = panel.iloc[0], panel.iloc[1]
    assert (a["low_value"], a["high_value"], a["base_value"]) == (0.4, 0.6, 0.5)
    assert (b["low_value"], b["high_value"]) == (0.5, 2.0) and math.isnan(b["base_value"])  # unset in the base
    assert (a["label"], b["label"]) == ("A", "B")
    assert (a["at_low"], a["at_high"]) == pytest.approx((1.0, 4.0))
    assert (b["at_low"], b["at_high"]) == pytest.approx((6.0, -3.0))
    assert (a["change_low_to_high"], a["swing"]) == pytest.approx((3.0, 3.0))
    assert (b["change_low_to_high"], b["swing"]) == pytest.approx((-9.0, 9.0))
    assert (a["change_ci_low"], a["change_ci_high"]) == pytest.approx((3.0, 3.0))
    assert b["at_base"] == pytest.approx(2.0)
    assert b["base_half_width"] == pytest.approx(T2 / math.sqrt(3))
    # each bar's own noise: the change of the difference from the base point is the same in every
    # replication (shift - 2), so its paired half-width is 0
    assert (b["noise_at_low"], b["noise_at_high"]) == pytest.approx((0.0, 0.0), abs=1e-12)
    assert (panel["arm"] == "new").all() and set(tornado["outcome"]) == set(OUTCOMES)
    dropout = tornado[tornado["outcome"] == "dropout"].set_index("parameter")
    # dropout differences 0.01 * point: A 0.01 -> 0.03, B 0.04 -> 0.05
    assert dropout.loc[A_PATH, ["at_low", "at_high"]].tolist() == pytest.approx([0.01, 0.03])
    assert dropout.loc[B_PATH, ["at_low", "at_high"]].tolist() == pytest.approx([0.04, 0.05])


def exact_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval by bisection on the binomial law: P(X >= k | low) = P(X <= k | high) = 2.5%."""
    def tail(p: float, upper: bool) -> float:
        terms = (math.comb(n, x) * p**x * (1 - p) ** (n - x) for x in (range(k, n + 1) if upper else range(k + 1)))
        return sum(terms)

    def solve(upper: bool) -> float:
        lo, hi = 0.0, 1.0
        for _ in range(200):
            mid = (lo + hi) / 2
            # the upper tail grows with p and the lower tail shrinks: move towards the 2.5% crossing
            too_small = tail(mid, True) < (1 - level) / 2 if upper else tail(mid, False) > (1 - level) / 2
            lo, hi = (mid, hi) if too_small else (lo, mid)
        return (lo + hi) / 2

    return (0.0 if k == 0 else solve(True)), (1.0 if k == n else solve(False))


def psa_design(draws: int) -> Design:
    params = (Parameter(A_PATH, "A", None, 0.5, False),)
    matrix = np.linspace(0.1, 0.9, draws).reshape(-1, 1)
    return Design("psa", params, tuple(Point(i, ((A_PATH, float(v)),)) for i, v in enumerate(matrix[:, 0])), matrix)


def test_psa_probability_best_follows_each_outcomes_direction():
    """Four draws; replication means are constant so each draw's mean is the value shown.

    Disease-free weeks (higher is better): ref 10, 10, 10, 10; new 12, 9, 13, 8; third 11, 11, 9, 7.
    Best: new, third, new, ref: new 2/4, third 1/4, ref 1/4. Dropout (lower is better): ref 0.2;
    new 0.1, 0.3, 0.1, 0.15; third 0.25, 0.15, 0.3, 0.1: best new, third, new, third (taking the
    highest instead would give third, new, third, ref).
    Differences new - ref in weeks: 2, -1, 3, -2: mean 0.5; quantiles by linear interpolation of the
    sorted -2, -1, 2, 3 at 2.5% (position 0.075): -1.925; median 0.5; 97.5% (2.925): 2.925.
    """
    weeks = {"ref": [10, 10, 10, 10], "new": [12, 9, 13, 8], "third": [11, 11, 9, 7]}
    dropout = {"ref": [0.2] * 4, "new": [0.1, 0.3, 0.1, 0.15], "third": [0.25, 0.15, 0.3, 0.1]}
    records = [record(i, {arm: {"disease_free_weeks": [float(weeks[arm][i])] * 3, "dropout": [dropout[arm][i]] * 3}
                          for arm in weeks}) for i in range(4)]
    tables = analyse(psa_design(4), records, ["ref", "new", "third"], "ref", OUTCOMES)
    assert tables.psa is not None
    psa = tables.psa.set_index(["outcome", "arm"])
    best = psa["probability_best"]
    assert [best[("disease_free_weeks", a)] for a in ("ref", "new", "third")] == [0.25, 0.5, 0.25]
    assert [best[("dropout", a)] for a in ("ref", "new", "third")] == [0.0, 0.5, 0.5]
    for (outcome, arm), share in best.items():
        low, high = exact_interval(round(share * 4), 4)
        assert psa.loc[(outcome, arm), "probability_best_ci_low"] == pytest.approx(low, abs=1e-9)
        assert psa.loc[(outcome, arm), "probability_best_ci_high"] == pytest.approx(high, abs=1e-9)
    new = psa.loc[("disease_free_weeks", "new")]
    assert new["mean_difference"] == pytest.approx(0.5)
    assert (new["difference_p2_5"], new["difference_p50"], new["difference_p97_5"]) == pytest.approx(
        (-1.925, 0.5, 2.925))
    assert new["probability_better"] == 0.5
    assert psa.loc[("dropout", "third"), "probability_better"] == 0.5  # 0.15 and 0.1 are below 0.2
    assert psa.loc[("dropout", "new"), "mean_difference"] == pytest.approx(-0.0375)
    assert psa.loc[("dropout", "new"), "probability_better"] == 0.75
    assert math.isnan(psa.loc[("disease_free_weeks", "ref"), "mean_difference"])
    # each arm's own mean over draws: new's 8, 9, 12, 13 at positions 0.075, 1.5, 2.925
    assert (new["mean_p2_5"], new["mean_p50"], new["mean_p97_5"]) == pytest.approx((8.075, 10.5, 12.925))
    assert list(tables.psa.columns) == [
        "outcome", "arm", "mean_p2_5", "mean_p50", "mean_p97_5", "probability_best", "probability_best_ci_low",
        "probability_best_ci_high",
        "mean_difference", "difference_p2_5", "difference_p50", "difference_p97_5", "probability_better",
        "noise_variance_share"]
    # replication means are constant within a draw: no noise in the differences
    assert psa.loc[("disease_free_weeks", "new"), "noise_variance_share"] == 0.0


def test_psa_counts_a_tie_with_the_reference_as_not_better_and_two_draws_give_a_noise_share():
    """Two draws. Weeks: ref 10, 10; new 10, 12: better in one draw of two (a tie is not better); the
    tie of draw 0 goes to the first arm for 'best'. Dropout of ref: 0.1 and 0.3, each -+0.01 by
    replication: noise share = (0.01^2 / 3) / var(0.1, 0.3) = (1e-4 / 3) / 0.02 = 1/600."""
    records = [record(i, {"ref": {"disease_free_weeks": [10.0] * 3, "dropout": [x - 0.01, x, x + 0.01]},
                          "new": {"disease_free_weeks": [w] * 3, "dropout": [0.2] * 3}})
               for i, (w, x) in enumerate(((10.0, 0.1), (12.0, 0.3)))]
    tables = analyse(psa_design(2), records, ["ref", "new"], "ref", OUTCOMES)
    assert tables.psa is not None
    psa = tables.psa.set_index(["outcome", "arm"])
    assert psa.loc[("disease_free_weeks", "new"), "probability_better"] == 0.5
    assert psa.loc[("disease_free_weeks", "ref"), "probability_best"] == 0.5
    noise = tables.noise.set_index(["outcome", "arm", "measure"])
    assert noise.loc[("dropout", "ref", "mean"), "noise_variance_share"] == pytest.approx(1 / 600)


def test_sampled_noise_is_the_median_standard_error_and_its_variance_share():
    """PSA with 4 draws and 3 replications: the reference arm's replications at draw i are
    m_i - k_i, m_i, m_i + k_i with m = 10, 12, 14, 16 and k = 1, 2, 3, 1 (SE k_i / sqrt(3)).

    Half-width t(0.975, 2) * median SE = t * 1.5 / sqrt(3); noise share = mean SE^2 / variance of the
    draw means = ((1 + 4 + 9 + 1) / 4 / 3) / var(10, 12, 14, 16; ddof 1) = 1.25 / (20/3) = 0.1875.
    """
    centres, spreads = [10.0, 12.0, 14.0, 16.0], [1.0, 2.0, 3.0, 1.0]
    records = [record(i, {"ref": {"disease_free_weeks": [m - k, m, m + k], "dropout": [0.1] * 3},
                          "new": {"disease_free_weeks": [m, m, m], "dropout": [0.1] * 3}})
               for i, (m, k) in enumerate(zip(centres, spreads, strict=True))]
    noise = analyse(psa_design(4), records, ["ref", "new"], "ref", OUTCOMES).noise.set_index(
        ["outcome", "arm", "measure"])
    assert noise.loc[("disease_free_weeks", "ref", "mean"), "half_width"] == pytest.approx(T2 * 1.5 / math.sqrt(3))
    assert noise.loc[("disease_free_weeks", "ref", "mean"), "noise_variance_share"] == pytest.approx(0.1875)
    assert noise.loc[("disease_free_weeks", "new", "mean"), "noise_variance_share"] == pytest.approx(0.0)
    assert math.isnan(noise.loc[("dropout", "ref", "mean"), "noise_variance_share"])  # no spread between draws


# --- Sobol and Morris on a linear function of the design's values ---------------------------------

LOW_DOSE = ROOT / "scenarios" / "low_dose.yaml"
RESPONSE = "therapies.standard.response.probability"
NEUROPATHY = "therapies.thalidomide_100.adverse_events.neuropathy.rate_per_year"
RANGES = {RESPONSE: {"low": 0.3, "high": 0.6}, NEUROPATHY: {"low": 0.1, "high": 0.3}}
SLOPES = {"ref": (10.0, -40.0), "new": (30.0, 5.0)}  # per unit of each parameter


def linear_records(the_design: Design, interaction: float = 0.0) -> list[dict]:
    """Each arm's outcome is a linear function of the point's values (replications add +-0.5 noise
    that averages out exactly), plus ``interaction`` x1 x2 when given; dropout is a constant."""
    records = []
    for i, row in enumerate(the_design.matrix):
        means = {}
        for arm, (a, b) in SLOPES.items():
            y = a * row[0] + b * row[1] + interaction * row[0] * row[1]
            means[arm] = {"disease_free_weeks": [y - 0.5, y, y + 0.5], "dropout": [0.2, 0.2, 0.2]}
        records.append(record(i, means))
    return records


def expand(method: str, samples: int, **extra: int) -> Design:
    sweep = Sweep.model_validate({"method": method, "parameters": RANGES, "samples": samples, **extra})
    return design(sweep, parameters_of(sweep, load_scenario(LOW_DOSE)), 17)


def test_sobol_indices_equal_the_saltelli_and_jansen_estimators_and_the_closed_form():
    """y = a x1 + b x2 with x1, x2 uniform on their ranges (widths w1, w2): S1_i = ST_i = a_i^2 w_i^2 /
    (a^2 w1^2 + b^2 w2^2). The estimators on the sampled blocks (A, AB_1, AB_2, B; outputs centred
    and scaled by their overall mean and sd): S1_j = mean(B (AB_j - A)) / var(A, B) (Saltelli et al.
    2010, table 2 b), ST_j = mean((A - AB_j)^2) / 2 / var(A, B) (Jansen 1999)."""
    d = expand("sobol", 256)
    tables = analyse(d, linear_records(d), ["ref", "new"], "ref", OUTCOMES)
    assert tables.sensitivity is not None
    indices = tables.sensitivity.set_index(["outcome", "arm", "measure", "parameter"])
    widths = (0.3, 0.2)
    for arm, measure, slopes in (("ref", "mean", SLOPES["ref"]), ("new", "mean", SLOPES["new"]),
                                 ("new", "difference", tuple(n - r for n, r in zip(SLOPES["new"], SLOPES["ref"],
                                                                                   strict=True)))):
        y = d.matrix @ np.array(slopes)
        y = (y - y.mean()) / y.std()
        step = 2 + 2
        a_out, b_out = y[0::step], y[step - 1::step]
        variance = np.var(np.concatenate([a_out, b_out]))
        total = sum((s * w) ** 2 for s, w in zip(slopes, widths, strict=True))
        for j, path in enumerate((RESPONSE, NEUROPATHY)):
            ab = y[j + 1::step]
            row = indices.loc[("disease_free_weeks", arm, measure, path)]
            assert row["S1"] == pytest.approx(np.mean(b_out * (ab - a_out)) / variance, rel=1e-9)
            assert row["ST"] == pytest.approx(0.5 * np.mean((a_out - ab) ** 2) / variance, rel=1e-9)
            closed = (slopes[j] * widths[j]) ** 2 / total
            # the quasi-random estimators sit within a few of their own standard errors of the closed form
            se = np.std(b_out * (ab - a_out)) / math.sqrt(len(a_out)) / variance
            assert abs(row["S1"] - closed) < 4 * se + 1e-9
            assert row["S1_conf"] > 0 and row["ST_conf"] >= 0
    assert (indices["noise_variance_share"].loc["disease_free_weeks"] >= 0).all()
    assert tables.sensitivity["label"].tolist()[:2] == ["standard.response.probability",
                                                       "thalidomide_100.adverse_events.neuropathy.rate_per_year"]
    # the bootstrap intervals are seeded from the design: the same tables every time
    again = analyse(d, linear_records(d), ["ref", "new"], "ref", OUTCOMES).sensitivity
    assert again is not None and again["S1_conf"].tolist() == tables.sensitivity["S1_conf"].tolist()


def test_morris_effects_of_a_linear_function_are_its_slopes_times_the_ranges():
    """For y = a x1 + b x2 every elementary effect of x_i (a step of delta = L / (2 (L - 1)) in the
    unit cube for L levels, i.e. delta * w_i in the parameter) is a_i w_i: mu = a_i w_i,
    mu* = |a_i w_i|, sigma = 0. Six levels (delta 0.6), not SALib's default of four (delta 2/3)."""
    d = expand("morris", 6, levels=6)
    tables = analyse(d, linear_records(d), ["ref", "new"], "ref", OUTCOMES)
    assert tables.sensitivity is not None
    indices = tables.sensitivity.set_index(["outcome", "arm", "measure", "parameter"])
    widths = (0.3, 0.2)
    for arm, measure, slopes in (("ref", "mean", SLOPES["ref"]), ("new", "difference", (20.0, 45.0))):
        for j, path in enumerate((RESPONSE, NEUROPATHY)):
            row = indices.loc[("disease_free_weeks", arm, measure, path)]
            assert row["mu"] == pytest.approx(slopes[j] * widths[j], rel=1e-9)
            assert row["mu_star"] == pytest.approx(abs(slopes[j] * widths[j]), rel=1e-9)
            assert row["sigma"] == pytest.approx(0.0, abs=1e-9)
    # with an interaction the effects vary (sigma > 0); the bootstrap intervals are seeded from the design
    first, again = (analyse(d, linear_records(d, 200.0), ["ref", "new"], "ref", OUTCOMES).sensitivity
                    for _ in range(2))
    assert first is not None and again is not None
    varying = (first["outcome"] == "disease_free_weeks") & (first["measure"] == "mean")
    assert (first.loc[varying, "sigma"] > 0).all() and (first.loc[varying, "mu_star_conf"] > 0).all()
    assert again["mu_star_conf"].tolist() == first["mu_star_conf"].tolist()
