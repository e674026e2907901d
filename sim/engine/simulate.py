"""The engine's entry point: simulate a block of patients of one arm in one replication.

``simulate(scenario, arm, replication, start, stop)`` is a pure function of its arguments. Each
patient's process keeps its pending events (the course's next step, a relapse, the next adverse
event) and waits for the earliest; ties are broken by a fixed priority so that fixed-duration
pathways are exact and reproducible.
"""

from __future__ import annotations

import gc
import math
from itertools import repeat
from operator import is_not, itemgetter, truediv
from typing import Any

import numpy as np
import simpy

from sim.engine.draws import Draws
from sim.engine.economics import Valuation
from sim.engine.patient import patient_pathway
from sim.engine.plans import assign_subgroups, compiled_lines
from sim.engine.records import ECONOMIC_COLUMNS, PATIENT_FIELDS, BlockResult, patient_columns
from sim.engine.streams import Streams
from sim.spec.scenario import Scenario

__all__ = ["simulate"]


def simulate(scenario: Scenario, arm: str, replication: int, start: int = 0, stop: int | None = None,
             batch_size: int = 16, log_events: bool = True, event_sample: int | None = None) -> BlockResult:
    """Simulate patients ``start`` to ``stop - 1`` of one arm in one replication.

    Parameters
    ----------
    scenario:
        A validated scenario.
    arm:
        The arm's name.
    replication:
        The replication number; with the scenario's seed it names every random stream.
    start, stop:
        The block of patients (default: the whole cohort). Results do not depend on the block.
    batch_size:
        Patients per SimPy environment; small batches keep the event heap short.
    log_events:
        Whether to keep the event log.
    event_sample:
        Log events only for patients numbered below this (the same patients in every arm and
        replication); None logs every patient. Patient records are always complete.
    """
    # The garbage collector is off for the whole block: the block's temporaries (processes, draws,
    # records, logs) are freed by reference counting before it is back on, and the result holds
    # only flat lists of numbers, strings and the plans' shared labels, so nothing is left for it
    # to scan again and again.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _simulate(scenario, arm, replication, start, stop, batch_size, log_events, event_sample)
    finally:
        if collecting:
            gc.enable()



_VALUATIONS: dict[int, tuple[Scenario, Valuation | None]] = {}


def valuation_of(scenario: Scenario) -> Valuation | None:
    """The scenario's economics compiled for the patient process (None without an economics block)."""
    entry = _VALUATIONS.get(id(scenario))
    if entry is None or entry[0] is not scenario:
        if len(_VALUATIONS) >= 32:  # a bound, for sweeps that see many scenarios
            _VALUATIONS.clear()
        entry = _VALUATIONS[id(scenario)] = (scenario, Valuation(scenario.economics) if scenario.economics else None)
    return entry[1]


def _simulate(scenario: Scenario, arm: str, replication: int, start: int, stop: int | None, batch_size: int,
              log_events: bool, event_sample: int | None) -> BlockResult:
    stop = scenario.cohort.size if stop is None else stop
    n = stop - start
    streams = Streams(scenario.seed, replication, start, stop)
    draws = Draws(streams)
    lines_by_group = compiled_lines(scenario, arm)
    subgroups = assign_subgroups(scenario, streams)
    dosed_drugs = scenario.drugs_with_dose
    follow_up = scenario.follow_up_weeks
    ltfu_rate = scenario.cohort.loss_to_follow_up_per_year
    if ltfu_rate > 0:
        end_weeks = np.minimum(follow_up, -(52.0 / ltfu_rate) * np.log1p(-streams.uniforms("loss_to_follow_up")))
        ends = end_weeks.tolist()
    else:
        ends = [follow_up] * n

    logged = max(0, min(stop, event_sample if event_sample is not None else stop) - start) if log_events else 0
    logs: list[list[Any] | None] = [[] for _ in range(logged)] + [None] * (n - logged)
    rows: list[Any] = [None] * n
    dosed = len(dosed_drugs)
    valuation = valuation_of(scenario)
    for first in range(0, n, batch_size):
        env = simpy.Environment()
        timeout, process = env.timeout, env.process
        for j in range(first, min(first + batch_size, n)):
            process(patient_pathway(timeout, j, lines_by_group[subgroups[j]], ends[j], follow_up, draws, logs[j],
                                    rows, dosed, valuation))
        env.run()
    draws.close()

    fields = dict(zip(PATIENT_FIELDS, zip(*rows, strict=True) if rows else ((),) * len(PATIENT_FIELDS), strict=True))
    first_response, first_remission = fields["first_response"], fields["first_remission"]
    disease_free, dropout_reason, doses = fields["disease_free"], fields["dropout_reason"], fields["doses"]
    if n and min(ends) > 0:
        fraction = list(map(truediv, disease_free, ends))
    else:  # a patient observed for no time has no fraction
        fraction = [free / end if end > 0 else math.nan for free, end in zip(disease_free, ends, strict=True)]
    table: dict[str, list[Any]] = {
        "replication": [replication] * n,
        "arm": [arm] * n,
        "patient": list(range(start, stop)),
        "subgroup": subgroups,
        "responded": list(map(is_not, first_response, repeat(None))),
        "time_to_response_weeks": list(first_response),
        "complete_response": list(map(is_not, first_remission, repeat(None))),
        "time_to_complete_response_weeks": list(first_remission),
        "disease_free_weeks": list(disease_free),
        "disease_free_fraction": fraction,
        "relapses": list(fields["relapses"]),
        "first_relapse_week": list(fields["first_relapse"]),
        "relapse_after_remission_week": list(fields["relapse_after_remission"]),
        "dropout": list(map(is_not, dropout_reason, repeat(None))),
        "dropout_reason": list(dropout_reason),
        "dropout_week": list(fields["dropout_week"]),
        "adverse_events": list(fields["adverse_events"]),
        "discontinuations": list(fields["discontinuations"]),

        "courses": list(fields["courses"]),
        "weeks_on_treatment": list(fields["on_treatment"]),
        "observed_weeks": ends,
        "final_state": list(fields["final_state"]),
    }
    if scenario.records_irreversible_harm:
        table["irreversible_harm"] = list(map(is_not, fields["irreversible_week"], repeat(None)))
        table["irreversible_harm_week"] = list(fields["irreversible_week"])
    for index, drug in enumerate(dosed_drugs):
        table[f"dose_mg_{drug}"] = list(map(itemgetter(index), doses))
    if valuation is not None:
        for index, column in enumerate(ECONOMIC_COLUMNS):
            table[column] = list(map(itemgetter(index), fields["economics"]))
    # Each log is in time order and the logs are in patient order: no sort needed.
    return BlockResult({c: table[c] for c in patient_columns(scenario)}, replication, arm, start, logs[:logged])  # type: ignore[arg-type]
