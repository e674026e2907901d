"""The health-economic arithmetic on tiny exact cases: input types, edges, table columns and error messages.

Complements test_economics_math.py: every expected value is worked by hand in the test's docstring or
comes from scipy's quadrature (which the code does not call), never from the code under test.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from sim.stats.economics import (
    acceptability_curve,
    acceptability_frontier,
    discount_weights,
    discounted_flows,
    incremental_analysis,
    incremental_net_benefit,
    net_monetary_benefit,
)


def exactly(message: str) -> str:
    """A pattern that matches the whole of ``message`` and nothing more."""
    return f"^{re.escape(message)}$"


# --- discounting ----------------------------------------------------------------------------------

def test_discounting_reads_any_numeric_weeks_in_double_precision():
    """Weeks stored as unsigned integers or as float32 give the float64 weights of their values.

    At 3.5% a year: week 0 weighs 1, week 52 1 / 1.035, week 104 1 / 1.035^2 = 1 / 1.071225, week 26
    1 / sqrt(1.035). A flow of one unit a week over [52, 104] is the integral of 1.035^(-t / 52) there
    (scipy's quadrature). Unsigned weeks must not be negated as unsigned integers (which wraps around),
    and float32 weeks must not be discounted in single precision (relative error about 1e-7).
    """
    weights = discount_weights(np.array([0, 52, 104], dtype=np.uint16), 0.035)
    assert weights.dtype == np.float64
    assert weights.tolist() == pytest.approx([1.0, 1 / 1.035, 1 / 1.071225], rel=1e-14)
    single = discount_weights(np.array([26.0], dtype=np.float32), 0.035)
    assert single.dtype == np.float64
    assert single.tolist() == pytest.approx([1 / math.sqrt(1.035)], rel=1e-14)

    reference, _ = integrate.quad(lambda t: 1.035 ** (-t / 52), 52.0, 104.0, epsabs=1e-13)
    flows = discounted_flows(np.array([52], dtype=np.uint16), np.array([104], dtype=np.uint16), 0.035)
    assert flows.dtype == np.float64
    assert flows.tolist() == pytest.approx([reference], rel=1e-12)


def test_discounted_flows_of_zero_length_are_zero():
    """An interval that ends where it starts (a patient who leaves a state the week it enters) adds nothing;
    next to it, [0, 52] at 3.5% is the integral of 1.035^(-t / 52) over a year (scipy's quadrature)."""
    reference, _ = integrate.quad(lambda t: 1.035 ** (-t / 52), 0.0, 52.0, epsabs=1e-13)
    assert discounted_flows([5.0, 0.0], [5.0, 52.0], 0.035).tolist() == pytest.approx([0.0, reference], rel=1e-12)
    assert discounted_flows([5.0, 0.0], [5.0, 52.0], 0.0).tolist() == [0.0, 52.0]
    with pytest.raises(ValueError, match=exactly("every end week must be at or after its start week")):
        discounted_flows([5.0], [4.0], 0.035)


# --- incremental analysis -------------------------------------------------------------------------

def test_three_arms_with_the_middle_one_extendedly_dominated():
    """A 1000 (1.0 QALY), B 6000 (1.2), C 8000 (1.6).

    ICER B vs A = 5000 / 0.2 = 25000 exceeds ICER C vs B = 2000 / 0.4 = 5000, so B is extendedly
    dominated (by a mix of A and C). The frontier is A, C: C vs A = 7000 / 0.6 = 11666.67. The reference
    A is never a candidate for extended dominance, and the last middle arm (here the only one) is.
    """
    table = incremental_analysis(["A", "B", "C"], [1000.0, 6000.0, 8000.0], [1.0, 1.2, 1.6])
    assert table["status"].tolist() == ["reference", "extendedly dominated", "non-dominated"]
    assert table["dominated_by"].tolist() == [None, "A and C", None]
    assert table.loc[2, ["incremental_cost", "incremental_effect", "icer"]].tolist() == pytest.approx(
        [7000.0, 0.6, 7000.0 / 0.6], rel=1e-12)


def test_extended_dominance_names_the_nearest_frontier_arms_by_cost():
    """Five arms given out of cost order: S 40 (4.0 QALYs), X 15 (2.2), R 20 (3.0), Q 10 (2.0), P 0 (0.0).

    In cost order P, Q, X, R, S. ICERs: Q vs P 10 / 2 = 5; X vs Q 5 / 0.2 = 25; R vs X 5 / 0.8 = 6.25, so X
    is extendedly dominated. Then R vs Q 10 / 1 = 10 and S vs R 20 / 1 = 20: increasing, done. X lies between
    Q and R on the final frontier; P (cheaper than Q) and S (dearer than R) are frontier arms too but not
    its neighbours, and they come later (P) and earlier (S) in the input than Q and R.
    """
    table = incremental_analysis(["S", "X", "R", "Q", "P"], [40, 15, 20, 10, 0], [4.0, 2.2, 3.0, 2.0, 0.0])
    assert table["arm"].tolist() == ["P", "Q", "X", "R", "S"]
    assert table["cost"].tolist() == [0.0, 10.0, 15.0, 20.0, 40.0]
    assert table["effect"].tolist() == [0.0, 2.0, 2.2, 3.0, 4.0]
    assert table["status"].tolist() == ["reference", "non-dominated", "extendedly dominated", "non-dominated",
                                        "non-dominated"]
    assert table["dominated_by"].tolist() == [None, None, "Q and R", None, None]
    assert table["incremental_cost"].tolist()[1:2] + table["incremental_cost"].tolist()[3:] == [10.0, 10.0, 20.0]
    assert table["incremental_effect"].tolist()[1:2] + table["incremental_effect"].tolist()[3:] == [2.0, 1.0, 1.0]
    assert table["icer"].tolist()[1:2] + table["icer"].tolist()[3:] == [5.0, 10.0, 20.0]
    for column in ("incremental_cost", "incremental_effect", "icer"):
        assert math.isnan(table.loc[0, column]) and math.isnan(table.loc[2, column])


def test_incremental_analysis_error_messages():
    """Each rejected input says what is wrong in words; a missing value (None) is reported as not finite."""
    with pytest.raises(ValueError, match=exactly("incremental analysis needs at least one arm")):
        incremental_analysis([], [], [])
    with pytest.raises(ValueError, match=exactly("costs and effects must be finite")):
        incremental_analysis(["a", "b"], [1.0, 2.0], [1.0, math.inf])
    with pytest.raises(ValueError, match=exactly("costs and effects must be finite")):
        incremental_analysis(["a", "b"], [1.0, None], [1.0, 2.0])
    with pytest.raises(ValueError, match=exactly("costs and effects must be finite")):
        incremental_analysis(["a", "b"], [1.0, 2.0], [None, 2.0])
    message = "arms 'a' and 'b' have the same cost and effect: merge or drop one"
    with pytest.raises(ValueError, match=exactly(message)):
        incremental_analysis(["a", "b", "c"], [1.0, 1.0, 3.0], [2.0, 2.0, 1.0])


# --- net monetary benefit -------------------------------------------------------------------------

def test_incremental_net_benefit_reference_defaults_to_the_first_arm():
    """Costs (100, 300), effects (1, 2) at 150 a QALY: NMB (50, 0), so INB against arm 0 is (0, -50).

    The reference may also be counted from the end: -2 of two arms is arm 0; -3 is out of range.
    """
    assert incremental_net_benefit([[100.0, 300.0]], [[1.0, 2.0]], 150.0).tolist() == [[0.0, -50.0]]
    assert incremental_net_benefit([[100.0, 300.0]], [[1.0, 2.0]], 150.0, reference=-2).tolist() == [[0.0, -50.0]]
    assert incremental_net_benefit([[100.0, 300.0]], [[1.0, 2.0]], 150.0, reference=-1).tolist() == [[50.0, 0.0]]
    with pytest.raises(ValueError, match=exactly("reference arm index -3 is out of range for 2 arms")):
        incremental_net_benefit([100.0, 300.0], [1.0, 2.0], 150.0, reference=-3)


def test_net_monetary_benefit_error_messages():
    """Costs and effects need an arm axis and finite values, each checked on its own; thresholds a number or a
    1-D array of finite values >= 0. A missing value (None) is reported as not finite."""
    no_arms = exactly("costs and effects need at least one arm on their last axis")
    with pytest.raises(ValueError, match=no_arms):
        net_monetary_benefit(np.zeros((2, 0)), np.zeros((2, 0)), 1.0)
    with pytest.raises(ValueError, match=no_arms):
        net_monetary_benefit(100.0, 1.0, 1.0)
    finite = exactly("costs and effects must be finite")
    for costs, effects in (([100.0, 200.0], [1.0, math.nan]), ([math.nan, 200.0], [1.0, 2.0]),
                           ([None, 200.0], [1.0, 2.0]), ([100.0, 200.0], [1.0, None])):
        with pytest.raises(ValueError, match=finite):
            net_monetary_benefit(costs, effects, 1.0)
    thresholds = exactly("willingness-to-pay thresholds must be finite and >= 0")
    for bad in (-5.0, [0.0, math.inf], [None]):
        with pytest.raises(ValueError, match=thresholds):
            net_monetary_benefit([100.0], [1.0], bad)
    with pytest.raises(ValueError, match=exactly("thresholds must be a number or a 1-D array, got shape (1, 2)")):
        net_monetary_benefit([100.0], [1.0], [[0.0, 1.0]])


# --- acceptability --------------------------------------------------------------------------------

def test_acceptability_of_one_sample_with_default_names():
    """One PSA sample: arm 0 costs 0 and gives 0, arm 1 costs 100 and gives 1 QALY.

    Arm 1's NMB is lambda - 100: -50 at 50 (arm 0 best), +50 at 150 (arm 1 best). With a single sample each
    probability is 0 or 1, and the expected NMB of the best arm is 0 at 50 and 50 at 150. Thresholds given
    as integers come back as floats; arms without names are "arm 0", "arm 1".
    """
    costs, effects = [[0.0, 100.0]], [[0.0, 1.0]]
    curve = acceptability_curve(costs, effects, np.array([50, 150]))
    pd.testing.assert_index_equal(curve.index, pd.Index([50.0, 150.0], name="threshold"))
    assert curve.columns.tolist() == ["arm 0", "arm 1"]
    assert curve.to_numpy().tolist() == [[1.0, 0.0], [0.0, 1.0]]
    frontier = acceptability_frontier(costs, effects, [50, 150])
    assert frontier.columns.tolist() == ["threshold", "arm", "expected_nmb", "probability_cost_effective"]
    assert frontier["threshold"].tolist() == [50.0, 150.0]
    assert frontier["arm"].tolist() == ["arm 0", "arm 1"]
    assert frontier["expected_nmb"].tolist() == [0.0, 50.0]
    assert frontier["probability_cost_effective"].tolist() == [1.0, 1.0]


def test_acceptability_at_a_single_threshold():
    """The same sample at the one threshold 150: arm "B" (arm 1) is best with probability 1, NMB 50."""
    curve = acceptability_curve([[0.0, 100.0]], [[0.0, 1.0]], 150.0, arms=["A", "B"])
    assert curve.index.tolist() == [150.0] and curve.to_numpy().tolist() == [[0.0, 1.0]]
    frontier = acceptability_frontier([[0.0, 100.0]], [[0.0, 1.0]], 150.0, arms=["A", "B"])
    assert frontier.to_dict("records") == [{"threshold": 150.0, "arm": "B", "expected_nmb": 50.0,
                                            "probability_cost_effective": 1.0}]


@pytest.mark.parametrize("function", [acceptability_curve, acceptability_frontier])
def test_acceptability_error_messages(function: Callable[..., pd.DataFrame]) -> None:
    """A PSA needs (samples, arms) arrays with a sample, one unique name per arm and a threshold."""
    costs, effects = [[0.0, 100.0]], [[0.0, 1.0]]
    shape = "PSA costs and effects must be (samples, arms) with at least one sample, got {}"
    with pytest.raises(ValueError, match=exactly(shape.format((0, 2)))):
        function(np.zeros((0, 2)), np.zeros((0, 2)), [1.0])
    with pytest.raises(ValueError, match=exactly(shape.format((2,)))):
        function([0.0, 100.0], [0.0, 1.0], [1.0])
    with pytest.raises(ValueError, match=exactly("need 2 unique arm names, got ['A', 'A']")):
        function(costs, effects, [1.0], arms=["A", "A"])
    with pytest.raises(ValueError, match=exactly("need 2 unique arm names, got ['A']")):
        function(costs, effects, [1.0], arms=["A"])
    with pytest.raises(ValueError, match=exactly("need at least one willingness-to-pay threshold")):
        function(costs, effects, [])
