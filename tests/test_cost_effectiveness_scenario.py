"""The shipped cost-effectiveness scenario: the clinical content of low_dose.yaml, cited economics, and its report.

The expected prices are worked by hand from the published list prices of docs/evidence.md §11a
(NICE TA322: lenalidomide 5 mg x 21 capsules GBP 3,570; NICE TA228 as reported: thalidomide 50 mg x
28 capsules GBP 298.48) and the population from §11e (4.0 per 100,000 a year, 56.3 million, a third
refractory), independently of the scenario file.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from sim.cli import main

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "cost_effectiveness.yaml"
ECONOMIC_KEYS = ("cost", "disutility", "disutility_weeks", "irreversible_disutility")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def test_the_clinical_content_is_low_dose_unchanged() -> None:
    """Everything but the name, the description, loss to follow-up and the economic keys is low_dose.yaml's."""
    low, ce = load(ROOT / "scenarios" / "low_dose.yaml"), load(SCENARIO)
    assert ce["cohort"]["loss_to_follow_up_per_year"] == 0  # a decision model follows everyone to the horizon
    ce.pop("economics")
    for data in (low, ce):
        for key in ("name", "description"):
            data.pop(key)
        data["cohort"].pop("loss_to_follow_up_per_year")
    for therapy in ce["therapies"].values():
        assert therapy.pop("costs")
        for event in therapy["adverse_events"].values():
            assert "cost" in event
            for key in ECONOMIC_KEYS:
                event.pop(key, None)
    assert ce == low


def test_the_reference_case_and_the_prices_follow_the_cited_sources() -> None:
    ce = load(SCENARIO)
    economics = ce["economics"]
    assert economics["currency"] == "GBP"
    assert economics["discount_per_year"] == {"costs": 0.035, "effects": 0.035}
    assert economics["willingness_to_pay"] == [20000, 30000]
    utilities = economics["utilities"]
    assert utilities["active"] < utilities["response"] < utilities["remission"] == 0.82
    assert economics["population"] == round(4.0e-5 * 56.3e6 / 3, -1)  # 751 -> 750
    lenalidomide = ce["therapies"]["lenalidomide_5"]["costs"]
    assert "per_mg" not in lenalidomide  # priced per capsule almost flat across strengths: per week, not per mg
    drug_per_week = 7 * 3570 / 21
    assert drug_per_week == pytest.approx(1190)
    assert 0 < lenalidomide["per_week_on_drug"] - drug_per_week < 10  # monitoring on top of the drug
    thalidomide = ce["therapies"]["thalidomide_100"]["costs"]
    assert thalidomide["per_mg"] == pytest.approx(298.48 / (28 * 50), abs=5e-5)


def test_every_economic_value_cites_section_11_with_a_tag() -> None:
    """Each line (or the line after it) that sets an economic value carries a provenance tag and §11."""
    lines = SCENARIO.read_text(encoding="utf-8").splitlines()
    pattern = re.compile(r"\b(per_mg|per_week_on_drug|per_course|cost|disutility|irreversible_disutility|"
                         r"active|response|remission|population|discount_per_year|willingness_to_pay):\s*[\d{\[]")
    start = next(i for i, line in enumerate(lines) if line.startswith("economics:"))
    checked = 0
    for i, line in enumerate(lines):
        code = line.split("#")[0]
        if not pattern.search(code) or (i < start):
            continue
        if "probability" in code or "time_to" in code:
            continue  # clinical keys named alike (response: ...) are cited to the clinical sections
        context = " ".join(lines[max(i - 2, 0):i + 2])
        assert "§11" in context and re.search(r"\[(V|V-sec|V-proxy|D|A|M|A/D|D/A)\]", context), line
        checked += 1
    assert checked >= 25


def run_small(tmp_path: Path, *options: str) -> Path:
    out = tmp_path / "run"
    with contextlib.redirect_stdout(io.StringIO()):
        status = main([str(SCENARIO), "--replications", "2", "--patients", "60", "--workers", "1", "--no-plots",
                       "--quiet", "--out", str(out), *options])
    assert status == 0
    return out


def section(report: str) -> str:
    start = report.index("## Cost-effectiveness")
    end = report.index("\n## ", start + 1)
    return report[start:end]


def test_the_report_names_what_dominates_and_nothing_else(tmp_path: Path) -> None:
    """Non-dominated arms carry no "(by ...)"; a dominated arm names the arm that dominates it."""
    text = section((run_small(tmp_path) / "report.md").read_text(encoding="utf-8"))
    assert "nan" not in text
    assert "| reference |" in text and "| non-dominated |" in text
    # Standard therapy at GBP 5,000 a week costs more than either drug for fewer QALYs: dominated.
    out = run_small(tmp_path / "dominated", "--set", "therapies.standard.costs.per_week_on_drug=5000",
                    "--set", "reference_arm=thalidomide")
    table = pd.read_csv(out / "economics.csv").set_index("arm")
    assert table.loc["standard", "status"] == "dominated"
    text = section((out / "report.md").read_text(encoding="utf-8"))
    assert f"| dominated (by {table.loc['standard', 'dominated_by']}) |" in text
    assert "nan" not in text
