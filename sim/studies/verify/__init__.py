"""Verification: the model against closed forms and exact pathways, one case per clinical rule."""

from __future__ import annotations

from collections.abc import Callable

from sim.studies.verify.cases import CASES as MODEL_CASES
from sim.studies.verify.cases_economics import ECONOMIC_CASES
from sim.studies.verify.cases_exposure import EXPOSURE_CASES
from sim.studies.verify.checks import (
    DEFAULT_SEED,
    STOCHASTIC_PATIENTS,
    Check,
    Outcome,
    evaluate,
    evaluate_all,
    format_table,
    simultaneous_z,
)

CASES = MODEL_CASES + EXPOSURE_CASES + ECONOMIC_CASES
"""Every case: the rules of the clinical model (docs/model.md 2), then those that follow exposure and practice (2b)."""

__all__ = ["CASES", "DEFAULT_SEED", "STOCHASTIC_PATIENTS", "Check", "Outcome", "evaluate", "evaluate_all",
           "format_table", "run_verification", "simultaneous_z"]


def run_verification(seed: int = DEFAULT_SEED, patients: int = STOCHASTIC_PATIENTS,
                     cases: list[Callable[[int, int], list[Check]]] | None = None) -> list[Outcome]:
    """Run the cases and compare each check with its expected value.

    Parameters
    ----------
    seed:
        Root seed of every case's scenario.
    patients:
        Patients per stochastic case.
    cases:
        The case functions (default: all of ``CASES``).
    """
    checks = [check for case in (CASES if cases is None else cases) for check in case(seed, patients)]
    return evaluate_all(checks)
