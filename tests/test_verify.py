"""The built-in verification suite: every case passes, and a wrong expected value is caught."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

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


@pytest.mark.parametrize("kind", ["exact", "proportion", "mean"])
def test_a_wrong_expected_value_fails(outcomes: list[verify.Outcome], kind: str) -> None:
    """Shift each expected value by a clearly wrong amount: the same simulated values must fail."""
    checks = [o.check for o in outcomes if o.check.kind == kind]
    z = verify.simultaneous_z(sum(1 for o in outcomes if o.check.kind != "exact"))
    for check in checks:
        values = np.asarray(check.values, dtype=float)
        spread = max(1.0, abs(check.expected)) if kind == "exact" else 10 * max(values.std(ddof=1), 0.05)
        wrong = dataclasses.replace(check, expected=check.expected + spread)
        assert not verify.evaluate(wrong, z).passed, check.quantity


def test_a_plausible_but_wrong_formula_fails(outcomes: list[verify.Outcome]) -> None:
    """Not voiding the full-dose relapse draw at the taper would give 1 - exp(-(26 + 10)/52)."""
    check = next(o.check for o in outcomes if o.check.case.startswith("8 "))
    wrong = dataclasses.replace(check, expected=-np.expm1(-36 / 52))
    assert verify.evaluate(check, 3.0).passed
    assert not verify.evaluate(wrong, 3.0).passed


def test_suite_covers_the_exposure_rules(outcomes: list[verify.Outcome]) -> None:
    """Every rule of DESIGN section 2b (2b.1 to 2b.6) is named by a case with an exact check."""
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
