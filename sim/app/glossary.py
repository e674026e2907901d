"""What each key of a scenario or trial file means, with its unit, for the forms (used where the schema says nothing).

The forms take a field's description and unit from the JSON Schema first (``description``, and
``unit`` or ``x-unit``); this table fills in for keys the schema does not describe, and
:func:`unit_from_key` guesses a unit from the key's name (``_weeks``, ``_per_year``, ...) for keys
neither knows, so a new field still shows its unit. Paths are generic: ``*`` stands for a name the
user chooses (a therapy, an arm, an adverse event, a subgroup).
"""

from __future__ import annotations

__all__ = ["GLOSSARY", "describe", "unit_from_key"]

PROBABILITY = "probability, 0 to 1"

GLOSSARY: dict[str, tuple[str, str]] = {
    # scenario: (what it means, unit)
    "name": ("Scenario name; names the results folder", ""),
    "description": ("Free text describing the scenario", ""),
    "seed": ("Root seed of every random stream: the same seed gives the same results", "integer, 0 or more"),
    "replications": ("Independent virtual cohorts, for the 95% intervals", "count"),
    "follow_up_weeks": ("How long each patient is observed from enrolment", "weeks"),
    "cohort.size": ("Patients per arm in each replication", "patients"),
    "cohort.loss_to_follow_up_per_year": ("Constant hazard of loss to follow-up from enrolment", "per year"),
    "cohort.subgroups.*.share": ("Share of the cohort in this subgroup (shares sum to 1)", PROBABILITY),
    "cohort.subgroups.*.overrides": ("Therapy values replaced for this subgroup, as {therapy: {path: value}}", ""),
    "cohort.subgroups.*.overrides.*": ("Values of this therapy replaced for the subgroup, as {dotted path: value}",
                                       ""),
    "reference_arm": ("The arm every other arm is compared with", "an arm's name"),
    "arms.*": ("Lines of therapy in order: the next is started when one fails", "therapy names"),
    "therapies.*.drug": ("Drug name; after a stop for an adverse event, later lines of the same drug are skipped",
                         ""),
    "therapies.*.dose_mg_per_day": ("Full daily dose (gives a cumulative-dose column)", "mg/day"),
    "therapies.*.response.probability": ("Chance of a response in a first course (by the assessment week if set)",
                                         PROBABILITY),
    "therapies.*.response.retreatment_probability": ("Chance of a response in a later course of the same therapy "
                                                     "(empty: as in the first course)", PROBABILITY),
    "therapies.*.response.complete_probability": ("Chance that a responder reaches complete response (remission)",
                                                  PROBABILITY),
    "therapies.*.response.time_to_response": ("Time from the start of a course to response", "weeks"),
    "therapies.*.response.time_to_complete": ("Time from response to complete response", "weeks"),
    "therapies.*.response.assessment_week": ("Week of the response assessment: a non-responder then moves to the "
                                             "next line (empty: never assessed)", "weeks"),
    "therapies.*.maintenance_weeks": ("Full dose kept after the best response", "weeks"),
    "therapies.*.after_maintenance": ("After maintenance: continue the drug, stop it, or taper it", ""),
    "therapies.*.taper.dose_mg_per_day": ("Reduced daily dose during the taper", "mg/day"),
    "therapies.*.taper.weeks": ("How long the reduced dose is held before the drug stops", "weeks"),
    "therapies.*.relapse.on_treatment_per_year": ("Relapse hazard of a responder on full dose", "per year"),
    "therapies.*.relapse.after_taper.probability": ("Chance of relapse once the taper starts", PROBABILITY),
    "therapies.*.relapse.after_taper.time": ("Time from the start of the taper to that relapse", "weeks"),
    "therapies.*.relapse.after_stop.probability": ("Chance of relapse once the drug stops", PROBABILITY),
    "therapies.*.relapse.after_stop.time": ("Time from the stop to that relapse", "weeks"),
    "therapies.*.relapse.on_reduced_per_year": ("Relapse hazard of a responder on the reduced maintenance dose "
                                                "(after_maintenance: reduce)", "per year"),
    "therapies.*.escalation.at_week": ("Week of a course at which a patient without response moves to the higher "
                                       "dose", "weeks"),
    "therapies.*.escalation.dose_mg_per_day": ("The escalated daily dose", "mg/day"),
    "therapies.*.escalation.probability": ("Chance that a patient without response by the escalation week responds "
                                           "at the higher dose (by the assessment week)", PROBABILITY),
    "therapies.*.on_relapse": ("After a relapse during a taper or off drug: a new course of the same therapy "
                               "(retreat) or the next line", ""),
    "therapies.*.max_courses": ("Courses of this therapy allowed over the pathway", "courses"),
    "therapies.*.adverse_events.*.probability": ("Chance of this adverse event in a course", PROBABILITY),
    "therapies.*.adverse_events.*.onset": ("Time from the start of the course to the event", "weeks"),
    "therapies.*.adverse_events.*.rate_per_year": ("Instead of probability and onset: a constant hazard while on "
                                                   "the drug", "per year"),
    "therapies.*.adverse_events.*.recurs": ("every_course, or first_course_of_drug: the event can occur only in the "
                                            "patient's first course of the drug", "every_course or "
                                            "first_course_of_drug"),
    "therapies.*.adverse_events.*.dose_exponent": ("k: the hazard scales as (current dose / full dose) ** k while "
                                                   "on drug (0: not with the dose)", "exponent"),
    "therapies.*.adverse_events.*.cumulative_dose_g": ("Instead of probability and onset: the event occurs when the "
                                                       "cumulative dose of the drug reaches a threshold drawn per "
                                                       "patient from this distribution", "grams"),
    "therapies.*.adverse_events.*.irreversible_probability": ("Chance that the event leaves permanent harm",
                                                              PROBABILITY),
    "therapies.*.adverse_events.*.discontinue_probability": ("Chance that the event stops the drug for good",
                                                             PROBABILITY),
    # health economics (section 8 of the model): amounts in the scenario's currency
    "therapies.*.adverse_events.*.cost": ("One-off cost of treating this adverse event, counted when it occurs",
                                          "currency"),
    "therapies.*.adverse_events.*.disutility": ("Utility lost while this adverse event lasts", "QALYs per year"),
    "therapies.*.adverse_events.*.disutility_weeks": ("How long that utility loss lasts after the event", "weeks"),
    "therapies.*.adverse_events.*.irreversible_disutility": ("Utility lost for good after irreversible harm "
                                                             "(to the end of observation)", "QALYs per year"),
    "therapies.*.costs.per_mg": ("Drug cost per mg taken (follows the dose actually given)", "currency per mg"),
    "therapies.*.costs.per_week_on_drug": ("Cost per week on the drug (a weekly price, monitoring, dispensing)",
                                           "currency per week"),
    "therapies.*.costs.per_course": ("One-off cost of starting a course (screening, counselling)", "currency"),
    "economics.currency": ("Currency of every amount, e.g. GBP, EUR, USD", ""),
    "economics.price_year": ("Year the prices are expressed in", "year"),
    "economics.discount_per_year.costs": ("Annual discount rate of costs", "rate per year, 0 to 0.2"),
    "economics.discount_per_year.effects": ("Annual discount rate of QALYs", "rate per year, 0 to 0.2"),
    "economics.willingness_to_pay": ("Thresholds: what a QALY is worth; the first is primary",
                                     "currency per QALY"),
    "economics.utilities.active": ("Utility of active disease", "QALYs per year (1 = full health)"),
    "economics.utilities.response": ("Utility of a partial response", "QALYs per year (1 = full health)"),
    "economics.utilities.remission": ("Utility of remission (complete response)", "QALYs per year (1 = full health)"),
    "economics.state_costs_per_week.active": ("Cost of care per week of active disease", "currency per week"),
    "economics.state_costs_per_week.response": ("Cost of care per week in partial response", "currency per week"),
    "economics.state_costs_per_week.remission": ("Cost of care per week in remission", "currency per week"),
    "economics.population": ("Patients per year the decision affects (for the population EVPI; empty: none)",
                             "patients per year"),
    "economics.decision_years": ("Years the decision holds (for the population EVPI)", "years"),
    # distributions (any time)
    "distribution": ("The shape of the distribution of this time", ""),
    "value": ("The fixed time", "weeks"),
    "mean": ("Mean", "weeks"),
    "median": ("Median", "weeks"),
    "sigma": ("Spread: standard deviation of the log of the time", "log scale"),
    "sd": ("Standard deviation", "weeks"),
    "low": ("Smallest value", "weeks"),
    "mode": ("Most likely value", "weeks"),
    "high": ("Largest value", "weeks"),
    "shape": ("Weibull shape (above 1: a hazard that rises with time)", "no unit"),
    "scale": ("Weibull scale", "weeks"),
    # trial planning
    "trial.arms": ("The two arms compared, control first", "arm names"),
    "trial.patients_per_arm": ("Trial sizes to simulate (patients in the smallest arm)", "patients per arm"),
    "trial.endpoint.metric": ("What the trial measures", ""),
    "trial.endpoint.at_week": ("Visit week at which the endpoint is read (time-to-event: follow-up per patient)",
                               "weeks"),
    "trial.test": ("The hypothesis test of the endpoint", ""),
    "trial.alternative": ("Two-sided, or one-sided: experimental higher (greater) or lower (less)", ""),
    "trial.alpha": ("Significance level of the test", PROBABILITY),
    "trial.simulations": ("Simulated trials at each size", "trials"),
    "trial.accrual_per_week": ("Patients enrolled per week (Poisson arrivals)", "patients per week"),
    "trial.allocation": ("Randomisation ratio control : experimental, in permuted blocks", "ratio"),
    "trial.duration_weeks": ("Administrative end of the trial from the first enrolment (empty: none)", "weeks"),
    "trial.visit_weeks": ("Visit weeks from each patient's enrolment", "weeks"),
    "trial.target_power": ("Power the smallest sufficient size must reach", PROBABILITY),
}


def unit_from_key(key: str) -> str:
    """A unit guessed from a key's name, or ''."""
    rules = (("mg_per_day", "mg/day"), ("_per_year", "per year"), ("_per_week", "per week"), ("_weeks", "weeks"),
             ("_week", "weeks"), ("probability", PROBABILITY), ("share", PROBABILITY), ("_power", PROBABILITY))
    for suffix, unit in rules:
        if key.endswith(suffix):
            return unit
    return ""


def describe(generic_path: str) -> tuple[str, str]:
    """(description, unit) for a generic path: the longest known suffix of it, else a unit from its last key."""
    keys = generic_path.split(".")
    for start in range(len(keys)):
        found = GLOSSARY.get(".".join(keys[start:]))
        if found is not None:
            return found
    return "", unit_from_key(keys[-1])
