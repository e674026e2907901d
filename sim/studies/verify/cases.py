"""The verification cases: one per clinical rule, each a small scenario whose answer is known without simulating.

A pathway of fixed durations (exact times), or an exponential, uniform or truncated special case (a
survival function, a truncated mean, a product of probabilities). The rules are those of the
clinical model (``docs/model.md`` lists them; the case names cite them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.engine.records import merge_blocks
from sim.engine.simulate import simulate
from sim.spec.paths import deep_merge
from sim.spec.scenario import Scenario
from sim.studies.verify.checks import BLOCK, EXACT_PATIENTS, Check

__all__ = ["CASES"]

def _therapy(**changes: Any) -> dict[str, Any]:
    """A therapy that always responds at week 1, in remission at once, continued at 10 mg/day."""
    base: dict[str, Any] = {
        "drug": "drug_a",
        "dose_mg_per_day": 10,
        "response": {"probability": 1.0, "complete_probability": 1.0, "time_to_response": 1,
                     "time_to_complete": 0},
        "after_maintenance": "continue",
    }
    return deep_merge(base, changes)


def _scenario(therapies: dict[str, dict[str, Any]], *, follow_up: float, patients: int, seed: int,
              arms: dict[str, list[str]] | None = None, **cohort: Any) -> Scenario:
    arms = arms if arms is not None else {name: [name] for name in therapies}
    return Scenario.model_validate({
        "name": "verify",
        "seed": seed,
        "follow_up_weeks": follow_up,
        "cohort": {"size": patients, **cohort},
        "reference_arm": next(iter(arms)),
        "arms": arms,
        "therapies": therapies,
    })


@dataclass
class _Run:
    """One arm's patients (columns as arrays) and events (columns as arrays)."""

    patients: dict[str, np.ndarray]
    events: dict[str, np.ndarray]

    def column(self, name: str) -> np.ndarray:
        return self.patients[name]

    def weeks(self, name: str) -> np.ndarray:
        """A column of weeks, missing as NaN."""
        return np.array([math.nan if v is None else float(v) for v in self.patients[name]])

    def patients_with(self, event: str, detail: str | None = None) -> np.ndarray:
        """Per patient, whether it has an event of this kind (and detail)."""
        mask = self.events["event"] == event
        if detail is not None:
            mask &= self.events["detail"] == detail
        has = np.zeros(len(self.patients["patient"]), dtype=bool)
        has[self.events["patient"][mask].astype(int)] = True
        return has

    def event_weeks(self, event: str, detail: str | None = None) -> np.ndarray:
        """Weeks of every event of this kind (and detail)."""
        mask = self.events["event"] == event
        if detail is not None:
            mask &= self.events["detail"] == detail
        return self.events["week"][mask].astype(float)


def _run(scenario: Scenario, arm: str) -> _Run:
    size = scenario.cohort.size
    patients, events = merge_blocks(simulate(scenario, arm, 0, start, min(start + BLOCK, size))
                                    for start in range(0, size, BLOCK))
    event_columns = {c: np.array(values, dtype=object) for c, values in events.items()}
    if events["patient"]:
        event_columns["patient"] = event_columns["patient"].astype(int)
        event_columns["week"] = event_columns["week"].astype(float)
    return _Run({c: np.array(v, dtype=object) for c, v in patients.items()}, event_columns)


def _exact(case: str, quantity: str, expected: float, formula: str, values: Any) -> Check:
    return Check(case, quantity, float(expected), formula, "exact", np.asarray(values, dtype=float))


def _proportion(case: str, quantity: str, expected: float, formula: str, values: Any) -> Check:
    return Check(case, quantity, float(expected), formula, "proportion", np.asarray(values, dtype=float))


def _mean(case: str, quantity: str, expected: float, formula: str, values: Any) -> Check:
    return Check(case, quantity, float(expected), formula, "mean", np.asarray(values, dtype=float))


def case_deterministic_pathway(seed: int, n: int) -> list[Check]:
    """Rules 1, 3, 4, 5: response at 2, remission at 6, maintenance 10, taper 4, relapse 3 after stop."""
    case = "1 deterministic pathway (rules 1, 3, 4, 5)"
    therapy = _therapy(
        response={"time_to_response": 2, "time_to_complete": 4},
        maintenance_weeks=10, after_maintenance="taper", taper={"dose_mg_per_day": 5, "weeks": 4},
        relapse={"after_stop": {"probability": 1.0, "time": 3}},
    )
    run = _run(_scenario({"a": therapy}, follow_up=52, patients=EXACT_PATIENTS, seed=seed), "a")
    return [
        _exact(case, "week of response", 2, "fixed time_to_response 2", run.weeks("time_to_response_weeks")),
        _exact(case, "week of remission", 6, "2 + time_to_complete 4", run.weeks("time_to_complete_response_weeks")),
        _exact(case, "week of relapse", 23, "6 + maintenance 10 + taper 4 + after_stop 3",
               run.weeks("first_relapse_week")),
        _exact(case, "disease-free weeks", 17, "relapse 23 - remission 6", run.weeks("disease_free_weeks")),
        _exact(case, "weeks on treatment", 20, "full dose 0-16 + taper 16-20", run.weeks("weeks_on_treatment")),
        _exact(case, "cumulative dose, mg", 1260, "10 mg x 7 x 16 + 5 mg x 7 x 4", run.weeks("dose_mg_drug_a")),
    ]


def case_relapse_on_treatment(seed: int, n: int) -> list[Check]:
    """Rule 4, full dose: exponential relapse at rate r per year, clock from the response."""
    case = "2 relapse on full dose (rule 4)"
    rate, t = 2.0, 26.0
    therapy = _therapy(response={"complete_probability": 0.0}, relapse={"on_treatment_per_year": rate})
    run = _run(_scenario({"a": therapy}, follow_up=60, patients=n, seed=seed), "a")
    relapse = run.weeks("first_relapse_week")
    survived = ~(relapse <= 1 + t)  # NaN (no relapse) counts as survived
    return [
        _proportion(case, f"P(no relapse {t:g} wk after response)", math.exp(-rate * t / 52),
                    "exp(-r t / 52), r = 2/yr", survived),
    ]


def case_adverse_event_onset(seed: int, n: int) -> list[Check]:
    """Rule 6: a hazard-form and a probability-form adverse event, never stopping the drug."""
    case = "3 adverse-event onset (rule 6)"
    rate, horizon, p, high = 0.8, 13.0, 0.4, 20.0
    therapy = _therapy(
        response={"probability": 0.0},  # no assessment week: stays on the drug with active disease
        adverse_events={
            "hazard": {"rate_per_year": rate},
            "onset": {"probability": p, "onset": {"distribution": "uniform", "low": 0, "high": high}},
        },
    )
    run = _run(_scenario({"a": therapy}, follow_up=horizon, patients=n, seed=seed), "a")
    return [
        _proportion(case, f"P(hazard AE by week {horizon:g})", -math.expm1(-rate * horizon / 52),
                    "1 - exp(-r T / 52), r = 0.8/yr", run.patients_with("adverse_event", "hazard")),
        _proportion(case, f"P(uniform-onset AE by week {horizon:g})", p * horizon / high,
                    "p * F(T) = 0.4 * 13/20", run.patients_with("adverse_event", "onset")),
    ]


def case_loss_to_follow_up(seed: int, n: int) -> list[Check]:
    """Rule 7: exponential loss to follow-up ends observation."""
    case = "4 loss to follow-up (rule 7)"
    rate, horizon = 0.5, 52.0
    therapy = _therapy(response={"probability": 0.0})
    run = _run(_scenario({"a": therapy}, follow_up=horizon, patients=n, seed=seed,
                         loss_to_follow_up_per_year=rate), "a")
    lost = np.array([r == "lost_to_follow_up" for r in run.column("dropout_reason")])
    return [
        _proportion(case, "P(lost before week 52)", -math.expm1(-rate * horizon / 52),
                    "1 - exp(-r T / 52), r = 0.5/yr", lost),
        _mean(case, "mean observed weeks", (52 / rate) * -math.expm1(-rate * horizon / 52),
              "E min(X, T) = (52/r)(1 - exp(-r T/52))", run.weeks("observed_weeks")),
    ]


def case_dropout_competing(seed: int, n: int) -> list[Check]:
    """Dropout: the first of an AE discontinuation (hazard a) and loss to follow-up (hazard l)."""
    case = "5 dropout, competing risks (rules 6, 7)"
    ae, ltfu, horizon = 0.6, 0.4, 52.0
    therapy = _therapy(response={"probability": 0.0},
                       adverse_events={"toxicity": {"rate_per_year": ae, "discontinue_probability": 1.0}})
    run = _run(_scenario({"a": therapy}, follow_up=horizon, patients=n, seed=seed,
                         loss_to_follow_up_per_year=ltfu), "a")
    p_any = -math.expm1(-(ae + ltfu) * horizon / 52)
    by_ae = np.array([r == "toxicity" for r in run.column("dropout_reason")])
    return [
        _proportion(case, "P(dropout by week 52)", p_any, "1 - exp(-(a + l) T / 52)",
                    run.column("dropout").astype(bool)),
        _proportion(case, "P(dropout for the AE)", ae / (ae + ltfu) * p_any, "a / (a + l) * P(dropout)", by_ae),
    ]


def case_truncated_response(seed: int, n: int) -> list[Check]:
    """Rules 1 and 2: time to response truncated at the assessment week; failures at the assessment."""
    case = "6 truncated time to response (rules 1, 2)"
    p, mu, week, cr = 0.8, 10.0, 12.0, 0.5
    therapy = _therapy(response={"probability": p, "complete_probability": cr,
                                 "time_to_response": {"distribution": "exponential", "mean": mu},
                                 "assessment_week": week})
    run = _run(_scenario({"a": therapy}, follow_up=20, patients=n, seed=seed), "a")
    responded = run.column("responded").astype(bool)
    times = run.weeks("time_to_response_weeks")[responded]
    f_week = -math.expm1(-week / mu)
    truncated_mean = mu - week * math.exp(-week / mu) / f_week
    return [
        _proportion(case, "P(response)", p, "probability = P(response by assessment)", responded),
        _mean(case, "mean time to response | responder (mu 10, a 12)", truncated_mean,
              "mu - a e^(-a/mu) / (1 - e^(-a/mu))", times),
        _proportion(case, "P(time to response <= 6 | responder)", -math.expm1(-6 / mu) / f_week,
                    "F(6) / F(12)", times <= 6),
        _proportion(case, "P(complete response)", p * cr, "probability x complete_probability",
                    run.column("complete_response").astype(bool)),
        _exact(case, "week of failure, non-responders", week, "assessment_week 12",
               run.event_weeks("assessment_failure")),
    ]


def case_taper_competition(seed: int, n: int) -> list[Check]:
    """Rule 4, taper: after-taper relapse competes with the taper's end; a stop voids its draw."""
    case = "7 relapse during a taper (rule 4)"
    p, mu, weeks = 0.6, 4.0, 6.0
    competing = _therapy(maintenance_weeks=2, after_maintenance="taper", taper={"dose_mg_per_day": 5, "weeks": weeks},
                         relapse={"after_taper": {"probability": p,
                                                  "time": {"distribution": "exponential", "mean": mu}}})
    voided = _therapy(maintenance_weeks=2, after_maintenance="taper", taper={"dose_mg_per_day": 5, "weeks": 4},
                      relapse={"after_taper": {"probability": 1.0, "time": 20}})
    scenario = _scenario({"competing": competing, "voided": voided}, follow_up=40, patients=n, seed=seed)
    run = _run(scenario, "competing")
    exact = _run(scenario.model_copy(update={"cohort": scenario.cohort.model_copy(update={"size": EXACT_PATIENTS})}),
                 "voided")
    return [
        _proportion(case, "P(relapse during the taper)", p * -math.expm1(-weeks / mu),
                    "p * F(taper weeks) = 0.6 (1 - e^-1.5)", run.patients_with("relapse", "taper")),
        _exact(case, "relapses when the taper ends first", 0, "delay 20 > taper 4: voided at the stop",
               exact.column("relapses")),
    ]


def case_dose_change_voids(seed: int, n: int) -> list[Check]:
    """Rule 4: the full-dose relapse draw is voided when the taper starts."""
    case = "8 dose change voids the full-dose draw (rule 4)"
    rate, maintenance = 1.0, 26.0
    therapy = _therapy(maintenance_weeks=maintenance, after_maintenance="taper",
                       taper={"dose_mg_per_day": 5, "weeks": 10}, relapse={"on_treatment_per_year": rate})
    run = _run(_scenario({"a": therapy}, follow_up=60, patients=n, seed=seed), "a")
    return [
        _proportion(case, "P(any relapse)", -math.expm1(-rate * maintenance / 52),
                    "1 - exp(-r M / 52), M = 26 (not M + taper)", run.column("relapses").astype(int) > 0),
    ]


def case_retreatment(seed: int, n: int) -> list[Check]:
    """Rule 5: retreatment at relapse off drug, limited by max_courses; retreatment_probability."""
    case = "9 retreatment and max_courses (rule 5)"
    cycle = dict(maintenance_weeks=2, after_maintenance="stop", on_relapse="retreat",
                 relapse={"after_stop": {"probability": 1.0, "time": 1}})
    three = _therapy(max_courses=3, **cycle)
    second = _therapy(max_courses=2, response={"retreatment_probability": 0.3}, **cycle)
    scenario = _scenario({"three": three, "second": second}, follow_up=30, patients=n, seed=seed)
    small = scenario.model_copy(update={"cohort": scenario.cohort.model_copy(update={"size": EXACT_PATIENTS})})
    run = _run(small, "three")
    retreated = _run(scenario, "second")
    return [
        _exact(case, "courses", 3, "max_courses 3", run.column("courses")),
        _exact(case, "relapses", 3, "one per course (each 4 weeks)", run.column("relapses")),
        _exact(case, "disease-free weeks", 9, "3 courses x (remission 1 -> relapse 4)",
               run.weeks("disease_free_weeks")),
        _proportion(case, "P(response on course 2)", 0.3, "retreatment_probability",
                    retreated.column("relapses").astype(int) == 2),
    ]


def case_sequence(seed: int, n: int) -> list[Check]:
    """Rule 2: a non-responder fails at the assessment week and starts the next line at once."""
    case = "10 next line at the assessment week (rule 2)"
    first = _therapy(drug="drug_a", response={"probability": 0.0, "assessment_week": 12})
    second = _therapy(drug="drug_b", response={"time_to_response": 3, "time_to_complete": 2})
    scenario = _scenario({"first": first, "second": second}, arms={"sequence": ["first", "second"]},
                         follow_up=40, patients=EXACT_PATIENTS, seed=seed)
    run = _run(scenario, "sequence")
    return [
        _exact(case, "courses", 2, "two lines", run.column("courses")),
        _exact(case, "week of response", 15, "assessment 12 + response 3", run.weeks("time_to_response_weeks")),
        _exact(case, "disease-free weeks", 23, "follow-up 40 - remission 17", run.weeks("disease_free_weeks")),
    ]


def case_discontinuation_active(seed: int, n: int) -> list[Check]:
    """Rule 6: an AE stops a drug for good; active disease moves on at once; the drug is skipped later."""
    case = "11 AE stop, active disease (rule 6)"
    first = _therapy(drug="drug_a", response={"probability": 0.0},
                     adverse_events={"toxicity": {"probability": 1.0, "onset": 2, "discontinue_probability": 1.0}})
    second = _therapy(drug="drug_b", response={"probability": 0.0, "assessment_week": 4})
    again = _therapy(drug="drug_a")  # would respond at once, but drug_a was stopped for an AE
    scenario = _scenario({"first": first, "second": second, "again": again},
                         arms={"sequence": ["first", "second", "again"]}, follow_up=30,
                         patients=EXACT_PATIENTS, seed=seed)
    run = _run(scenario, "sequence")
    return [
        _exact(case, "week of dropout", 2, "fixed onset 2, discontinue 1", run.weeks("dropout_week")),
        _exact(case, "courses", 2, "drug_a never restarted", run.column("courses")),
        _exact(case, "weeks on treatment", 6, "drug_a 0-2 + drug_b 2-6", run.weeks("weeks_on_treatment")),
    ]


def case_discontinuation_responder(seed: int, n: int) -> list[Check]:
    """Rule 6: a responder stopped for an AE stays off drug (remission cancelled) until relapse."""
    case = "12 AE stop, responder (rule 6)"
    first = _therapy(drug="drug_a", response={"time_to_complete": 3},
                     relapse={"after_stop": {"probability": 1.0, "time": 5}},
                     adverse_events={"toxicity": {"probability": 1.0, "onset": 2, "discontinue_probability": 1.0}})
    second = _therapy(drug="drug_b")
    scenario = _scenario({"first": first, "second": second}, arms={"sequence": ["first", "second"]},
                         follow_up=20, patients=EXACT_PATIENTS, seed=seed)
    run = _run(scenario, "sequence")
    return [
        _exact(case, "week of remission", 8, "AE 2 + after_stop 5, next line responds at +1",
               run.weeks("time_to_complete_response_weeks")),
        _exact(case, "weeks on treatment", 15, "drug_a 0-2 + drug_b 7-20", run.weeks("weeks_on_treatment")),
        _exact(case, "disease-free weeks", 12, "follow-up 20 - 8", run.weeks("disease_free_weeks")),
    ]


def case_ties_and_horizon(seed: int, n: int) -> list[Check]:
    """Ties: AE before response, relapse before the taper's end; nothing at the horizon is observed."""
    case = "13 ties and the end of observation"
    taper_tie = _therapy(maintenance_weeks=2, after_maintenance="taper", taper={"dose_mg_per_day": 5, "weeks": 4},
                         relapse={"after_taper": {"probability": 1.0, "time": 4},
                                  "after_stop": {"probability": 1.0, "time": 1}})
    ae_tie = _therapy(response={"time_to_response": 2},
                      adverse_events={"toxicity": {"probability": 1.0, "onset": 2, "discontinue_probability": 1.0}})
    horizon = _therapy(response={"time_to_response": 10})
    scenario = _scenario({"taper_tie": taper_tie, "ae_tie": ae_tie, "horizon": horizon}, follow_up=10,
                         patients=EXACT_PATIENTS, seed=seed)
    longer = scenario.model_copy(update={"follow_up_weeks": 20.0})
    taper = _run(longer, "taper_tie")
    return [
        _exact(case, "relapse due at the taper's end: during taper", 1, "priority relapse < end of taper",
               taper.patients_with("relapse", "taper")),
        _exact(case, "week of that relapse", 7, "taper 3-7, delay 4", taper.weeks("first_relapse_week")),
        _exact(case, "responded, AE at the response week", 0, "priority AE < response",
               _run(scenario, "ae_tie").column("responded").astype(bool)),
        _exact(case, "responded, response at the horizon", 0, "events at follow_up are not observed",
               _run(scenario, "horizon").column("responded").astype(bool)),
    ]


def case_extremes(seed: int, n: int) -> list[Check]:
    """Zero rates and probability one: nothing random may leak through."""
    case = "14 zero rates, probability one"
    therapy = _therapy(response={"time_to_response": {"distribution": "lognormal", "median": 3, "sigma": 1.0},
                                 "assessment_week": 6,
                                 "time_to_complete": {"distribution": "uniform", "low": 0, "high": 5}},
                       relapse={"on_treatment_per_year": 0.0},
                       adverse_events={"never": {"rate_per_year": 0.0, "discontinue_probability": 1.0}})
    run = _run(_scenario({"a": therapy}, follow_up=30, patients=n, seed=seed, loss_to_follow_up_per_year=0.0),
               "a")
    return [
        _exact(case, "complete response (probabilities 1)", 1, "1 x 1, CR by week 11 < 30",
               run.column("complete_response").astype(bool)),
        _exact(case, "relapses + adverse events (rates 0)", 0, "rate 0", run.column("relapses").astype(int)
               + run.column("adverse_events").astype(int)),
        _exact(case, "observed weeks (no loss to follow-up)", 30, "follow_up_weeks", run.weeks("observed_weeks")),
    ]


def case_subgroups(seed: int, n: int) -> list[Check]:
    """Heterogeneous cohorts: subgroup shares and overrides mix as a weighted average."""
    case = "15 subgroups"
    therapy = _therapy(response={"probability": 0.9})
    scenario = _scenario({"a": therapy}, follow_up=10, patients=n, seed=seed,
                         subgroups={"usual": {"share": 0.7},
                                    "slow": {"share": 0.3, "overrides": {"a": {"response.probability": 0.2}}}})
    run = _run(scenario, "a")
    return [
        _proportion(case, "share in subgroup 'slow'", 0.3, "share", run.column("subgroup") == "slow"),
        _proportion(case, "P(response)", 0.7 * 0.9 + 0.3 * 0.2, "sum share x probability = 0.69",
                    run.column("responded").astype(bool)),
    ]


def case_common_random_numbers(seed: int, n: int) -> list[Check]:
    """Randomness: arms share draws (an AE change moves no response time); blocks do not matter."""
    case = "16 common random numbers"
    base = _therapy(response={"probability": 0.7,
                              "time_to_response": {"distribution": "gamma", "mean": 4, "sd": 2},
                              "complete_probability": 0.5},
                    adverse_events={"rash": {"probability": 0.1, "onset": {"distribution": "exponential", "mean": 5}}})
    other = deep_merge(base, {"adverse_events": {"rash": {"probability": 0.5}}})
    scenario = _scenario({"low_ae": base, "high_ae": other}, follow_up=30, patients=2000, seed=seed)
    low, high = _run(scenario, "low_ae"), _run(scenario, "high_ae")
    whole = simulate(scenario, "low_ae", 0, 0, 600)
    parts = [simulate(scenario, "low_ae", 0, a, b) for a, b in ((0, 250), (250, 600))]
    joined = {c: parts[0].patients[c] + parts[1].patients[c] for c in whole.patients}
    differ = [
        any(whole.patients[c][i] != joined[c][i] and not (_isnan(whole.patients[c][i]) and _isnan(joined[c][i]))
            for c in whole.patients)
        for i in range(600)
    ]
    t_low, t_high = low.weeks("time_to_response_weeks"), high.weeks("time_to_response_weeks")
    same = np.where(np.isnan(t_low), np.isnan(t_high), t_low == t_high)
    return [
        _exact(case, "response time unchanged by an AE probability", 1, "same uniforms in every arm", same),
        _exact(case, "patients changed by splitting into blocks", 0, "patient-indexed streams",
               np.array(differ, dtype=float)),
    ]


def _isnan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


CASES: list[Callable[[int, int], list[Check]]] = [
    case_deterministic_pathway,
    case_relapse_on_treatment,
    case_adverse_event_onset,
    case_loss_to_follow_up,
    case_dropout_competing,
    case_truncated_response,
    case_taper_competition,
    case_dose_change_voids,
    case_retreatment,
    case_sequence,
    case_discontinuation_active,
    case_discontinuation_responder,
    case_ties_and_horizon,
    case_extremes,
    case_subgroups,
    case_common_random_numbers,
]
