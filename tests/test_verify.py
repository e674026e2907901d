"""The built-in verification suite: every case passes, its intervals are exactly as wide as they say, and a
parameter planted off by a clinically relevant amount fails its check."""

from __future__ import annotations

import dataclasses
import math
import re
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from sim.cli import main
from sim.studies import verify
from sim.studies.verify import cases as verify_cases


@pytest.fixture(scope="module")
def outcomes() -> list[verify.Outcome]:
    return verify.run_verification()


def test_every_case_passes(outcomes: list[verify.Outcome]) -> None:
    failed = [f"{o.check.case}: {o.check.quantity}: expected {o.check.expected}, simulated {o.simulated} "
              f"[{o.low}, {o.high}]" for o in outcomes if not o.passed]
    assert not failed, "\n".join(failed)


def test_suite_covers_the_rules(outcomes: list[verify.Outcome]) -> None:
    """Every numbered rule of the clinical model is named by at least one case."""
    cases = {o.check.case for o in outcomes}
    named: set[int] = set()
    for case in cases:
        for group in re.findall(r"rules? ([\d, ]+)", case):
            named.update(int(x) for x in re.findall(r"\d+", group))
    assert len(cases) >= 10
    assert named >= {1, 2, 3, 4, 5, 6, 7}
    assert {o.check.kind for o in outcomes} == {"exact", "proportion", "mean"}


def standard_error(check: verify.Check) -> float:
    """The Monte Carlo standard error the suite uses for a check (binomial, or SD / sqrt(n))."""
    values = np.asarray(check.values, dtype=float)
    if check.kind == "proportion":
        return math.sqrt(values.mean() * (1 - values.mean()) / len(values))
    return float(values.std(ddof=1)) / math.sqrt(len(values))


def test_each_stochastic_check_fails_just_beyond_its_interval_and_passes_just_inside(
        outcomes: list[verify.Outcome]) -> None:
    """An expected value z + 0.5 standard errors from the simulated value fails, z - 0.5 passes, on
    either side: the interval is exactly the simultaneous half-width, neither empty nor loose
    (z is about 3 for the suite's checks, so a 0.5-SE change moves a verdict)."""
    stochastic = [o for o in outcomes if o.check.kind != "exact"]
    z = verify.simultaneous_z(len(stochastic))
    assert 2.5 < z < 3.6
    for outcome in stochastic:
        check = outcome.check
        se = standard_error(check)
        assert se > 0, check.quantity
        for sign in (-1, 1):
            outside = dataclasses.replace(check, expected=outcome.simulated + sign * (z + 0.5) * se)
            inside = dataclasses.replace(check, expected=outcome.simulated + sign * (z - 0.5) * se)
            assert not verify.evaluate(outside, z).passed, check.quantity
            assert verify.evaluate(inside, z).passed, check.quantity


def test_each_exact_check_fails_for_a_hundredth_of_a_week(outcomes: list[verify.Outcome]) -> None:
    for outcome in (o for o in outcomes if o.check.kind == "exact"):
        check = outcome.check
        wrong = dataclasses.replace(check, expected=check.expected + 0.01 * max(1.0, abs(check.expected)))
        assert not verify.evaluate(wrong, 3.0).passed, check.quantity


# A realistic error planted in the model's input: one parameter of a case's scenario is off by a
# clinically relevant amount (5 percentage points in a probability, 20% in a rate, a week in a fixed
# time) while the case's expected values stay those of the correct parameter. The case's check must
# then fail at the suite's own size and simultaneous z.
PLANTED = [
    (verify_cases.case_deterministic_pathway, "therapies.a.response.time_to_response", 3, "week of response"),
    (verify_cases.case_relapse_on_treatment, "therapies.a.relapse.on_treatment_per_year", 2.4,
     "P(no relapse 26 wk after response)"),
    (verify_cases.case_adverse_event_onset, "therapies.a.adverse_events.hazard.rate_per_year", 0.96,
     "P(hazard AE by week 13)"),
    (verify_cases.case_adverse_event_onset, "therapies.a.adverse_events.onset.probability", 0.35,
     "P(uniform-onset AE by week 13)"),
    (verify_cases.case_loss_to_follow_up, "cohort.loss_to_follow_up_per_year", 0.6, "P(lost before week 52)"),
    (verify_cases.case_loss_to_follow_up, "cohort.loss_to_follow_up_per_year", 0.6, "mean observed weeks"),
    (verify_cases.case_dropout_competing, "therapies.a.adverse_events.toxicity.rate_per_year", 0.72,
     "P(dropout for the AE)"),
    (verify_cases.case_truncated_response, "therapies.a.response.probability", 0.75, "P(response)"),
    (verify_cases.case_truncated_response, "therapies.a.response.complete_probability", 0.45,
     "P(complete response)"),
    (verify_cases.case_truncated_response, "therapies.a.response.time_to_response.mean", 12.0,
     "mean time to response | responder (mu 10, a 12)"),
    (verify_cases.case_taper_competition, "therapies.competing.relapse.after_taper.probability", 0.55,
     "P(relapse during the taper)"),
    (verify_cases.case_dose_change_voids, "therapies.a.relapse.on_treatment_per_year", 1.2, "P(any relapse)"),
    (verify_cases.case_retreatment, "therapies.second.response.retreatment_probability", 0.25,
     "P(response on course 2)"),
    (verify_cases.case_subgroups, "cohort.subgroups.slow.overrides.a", {"response.probability": 0.3}, "P(response)"),
]


def planted(monkeypatch: pytest.MonkeyPatch, path: str, value: object) -> None:
    """Make every scenario a case simulates carry ``path = value``."""
    from pathlib import Path

    from sim.spec.load import apply_overrides
    from sim.spec.scenario import Scenario

    honest = verify_cases._run

    def run_with_error(scenario: Scenario, arm: str) -> object:
        data = apply_overrides(Path("<planted>"), scenario.model_dump(mode="json", exclude_none=True),
                               [(path, value)])
        return honest(Scenario.model_validate(data), arm)

    monkeypatch.setattr(verify_cases, "_run", run_with_error)


@pytest.mark.parametrize(("case", "path", "value", "quantity"), PLANTED,
                         ids=[f"{c.__name__.removeprefix('case_')}-{p.split('.')[-1]}" for c, p, _, _ in PLANTED])
def test_a_parameter_off_by_a_clinically_relevant_amount_fails_its_check(
        outcomes: list[verify.Outcome], monkeypatch: pytest.MonkeyPatch, case: Any, path: str, value: object,
        quantity: str) -> None:
    z = verify.simultaneous_z(sum(1 for o in outcomes if o.check.kind != "exact"))
    honest = {c.quantity: verify.evaluate(c, z).passed for c in case(verify.DEFAULT_SEED, verify.STOCHASTIC_PATIENTS)}
    assert honest[quantity]
    planted(monkeypatch, path, value)
    wrong = {c.quantity: verify.evaluate(c, z) for c in case(verify.DEFAULT_SEED, verify.STOCHASTIC_PATIENTS)}
    assert not wrong[quantity].passed, (quantity, wrong[quantity].simulated, wrong[quantity].check.expected)


def test_a_plausible_but_wrong_formula_fails(outcomes: list[verify.Outcome]) -> None:
    """Not voiding the full-dose relapse draw at the taper would give 1 - exp(-(26 + 10)/52)."""
    check = next(o.check for o in outcomes if o.check.case.startswith("8 "))
    wrong = dataclasses.replace(check, expected=-np.expm1(-36 / 52))
    assert verify.evaluate(check, 3.0).passed
    assert not verify.evaluate(wrong, 3.0).passed


def test_suite_covers_the_exposure_rules(outcomes: list[verify.Outcome]) -> None:
    """Every rule of docs/model.md section 2b (2b.1 to 2b.6) is named by a case with an exact check."""
    named = {rule for o in outcomes for rule in re.findall(r"2b\.(\d)", o.check.case)}
    assert named == {"1", "2", "3", "4", "5", "6"}
    for rule in named:
        assert any(o.check.kind == "exact" for o in outcomes if f"2b.{rule}" in o.check.case), rule


def test_not_redrawing_at_a_dose_change_would_fail(outcomes: list[verify.Outcome]) -> None:
    """Keeping the full-dose time after the taper (no redraw) would give 1 - exp(-52/52) by week 52."""
    check = next(o.check for o in outcomes if o.check.case.startswith("18 ") and "by week 52" in o.check.quantity)
    wrong = dataclasses.replace(check, expected=-np.expm1(-1.0))
    assert verify.evaluate(check, 3.0).passed
    assert not verify.evaluate(wrong, 3.0).passed


def test_a_threshold_drawn_per_course_would_fail(outcomes: list[verify.Outcome]) -> None:
    """A cumulative-dose event counted per course (not once per patient and drug) would occur three times."""
    check = next(o.check for o in outcomes if o.check.case.startswith("19 ") and "3 courses" in o.check.quantity)
    assert verify.evaluate(check, 3.0).passed
    assert not verify.evaluate(dataclasses.replace(check, expected=3.0), 3.0).passed


def test_exact_check_fails_on_one_patient() -> None:
    check = verify.Check("case", "weeks", 2.0, "fixed", "exact", np.array([2.0, 2.0, 2.0 + 1e-6]))
    assert not verify.evaluate(check, 3.0).passed


def test_command_exit_status(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--patients", "2000"]) == 0
    printed = capsys.readouterr().out
    assert "0 failed" in printed and "FAIL" not in printed

    def broken(seed: int, n: int) -> list[verify.Check]:
        return [dataclasses.replace(c, expected=c.expected + 1) for c in verify_cases.case_sequence(seed, n)]

    monkeypatch.setattr(verify, "CASES", [verify_cases.case_deterministic_pathway, broken])
    assert main(["verify"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_verify_does_not_import_matplotlib() -> None:
    code = "import sys, sim.studies.verify; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
