"""Simulating a run: every unit of a scenario, in order, handed to a sink, with the precision rule to stop early."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.engine.records import patient_columns
from sim.outcomes import summary_metrics
from sim.spec.scenario import Scenario
from sim.stats.accumulate import UnitsAccumulator
from sim.stats.summary import Units, mean_interval
from sim.studies.run.tables import RunFold, scenario_data
from sim.studies.units import BlockTables, plan_units, run_units

__all__ = ["MIN_PRECISION_REPLICATIONS", "PRECISION_METRIC", "Simulated", "planned", "simulate_run"]

MIN_PRECISION_REPLICATIONS = 5
"""A precision run never stops before this many replications: with fewer, a by-chance small spread
of replication means could end it early (the t quantile alone already penalises 2 or 3)."""

PRECISION_METRIC = "disease_free_weeks"


@dataclass
class Simulated:
    """What a run simulated: the scenario with the replications done, the units of its summaries (replication
    means of every summarised column), what its derived tables need, how many patients, and, for a
    precision run, how it stopped."""

    scenario: Scenario
    units: Units
    fold: RunFold
    patients: int = 0
    precision: dict[str, Any] | None = field(default=None)


def planned(scenario: Scenario, precision_weeks: float | None, max_replications: int) -> Scenario:
    """The scenario as run: a precision run plans up to ``max_replications``."""
    if precision_weeks is None:
        return scenario
    if max_replications < MIN_PRECISION_REPLICATIONS:
        raise ValueError(f"max_replications must be at least {MIN_PRECISION_REPLICATIONS}, got {max_replications}")
    return scenario.model_copy(update={"replications": max_replications})


def _widths(means: dict[str, list[float]]) -> dict[str, float]:
    """Full width of each arm's 95% interval of the mean, from its replication means."""
    widths = {}
    for arm, values in means.items():
        _, low, high = mean_interval(np.asarray(values, dtype=float))
        widths[arm] = high - low
    return widths


def simulate_run(scenario: Scenario, sink: Callable[[BlockTables], None], *, workers: int = 1,
                 scheduler: str | None = None, log_events: bool = True, event_sample: int | None = None,
                 precision_weeks: float | None = None, max_replications: int = 200,
                 progress: Any = None, file_format: str = "csv") -> Simulated:
    """Simulate every unit of ``scenario`` in order and hand each unit's tables to ``sink``.

    With ``precision_weeks``, replications 0, 1, 2, ... run until the 95% interval of every arm's
    mean disease-free weeks is narrower than it (full width), from ``MIN_PRECISION_REPLICATIONS``
    on and at most ``max_replications``; what was handed to the sink is then exactly a plain run of
    that many replications. Each unit's summary columns and derived-table shares are folded as it
    comes back (``Simulated.units``, ``Simulated.fold``), so nothing grows with the run but the
    compact survival arrays. ``file_format`` is that of the sink's tables. ``progress`` (a tqdm-like
    bar: ``update``, ``set_postfix_str``) counts units, or replications of a precision run.
    """
    plan = planned(scenario, precision_weeks, max_replications)
    units = plan_units(plan)
    columns = patient_columns(scenario)
    keys = ["replication", "arm", "patient", *(["subgroup"] if "subgroup" in columns else [])]
    metrics = summary_metrics(columns)
    summaries = UnitsAccumulator(metrics, "subgroup" in columns)
    fold = RunFold(scenario_data(scenario), sum(unit.stop - unit.start for unit in units))
    per_replication = len(units) // plan.replications
    means: dict[str, list[float]] = {arm: [] for arm in scenario.arms}
    totals: dict[str, list[float]] = {arm: [0.0, 0.0] for arm in scenario.arms}
    widths: dict[str, float] = {}
    done = 0
    count = 0
    with closing(run_units(plan, units, workers, log_events, scheduler=scheduler, event_sample=event_sample,
                           as_tables=True, file_format=file_format, keep=keys + metrics)) as results:
        for index, (unit, result) in enumerate(zip(units, results, strict=False)):
            sink(result)
            summaries.add(result.columns)
            fold.add_block(result)
            size = len(result.columns["patient"])
            count += size
            if precision_weeks is None:
                if progress is not None:
                    progress.update()
                continue
            totals[unit.arm][0] += float(result.columns[PRECISION_METRIC].sum())
            totals[unit.arm][1] += size
            if (index + 1) % per_replication:
                continue
            done = (index + 1) // per_replication
            for arm, (total, patients) in totals.items():
                means[arm].append(total / patients)
                totals[arm] = [0.0, 0.0]
            widths = _widths(means)
            if progress is not None:
                if math.isfinite(max(widths.values())):  # one replication has no interval yet
                    # drawn by update(), which keeps the display delay and lets close() clear what it drew
                    progress.set_postfix_str(f"widest CI {max(widths.values()):.2f} wk, target < {precision_weeks:g}",
                                             refresh=False)
                progress.update()
            if done >= MIN_PRECISION_REPLICATIONS and all(w < precision_weeks for w in widths.values()):
                break
    simulated = Simulated(scenario, summaries.finish(), fold, count)
    if precision_weeks is not None:
        simulated.scenario = scenario.model_copy(update={"replications": done})
        fold.scenario = scenario_data(simulated.scenario)
        widest = max(widths, key=lambda arm: widths[arm]) if widths else None
        simulated.precision = {
            "metric": PRECISION_METRIC,
            "target_ci_width_weeks": precision_weeks,
            "max_replications": max_replications,
            "min_replications": MIN_PRECISION_REPLICATIONS,
            "replications": done,
            "reached": bool(widths) and all(w < precision_weeks for w in widths.values()),
            "ci_width_weeks": {arm: round(w, 6) if math.isfinite(w) else None for arm, w in widths.items()},
            "widest_arm": widest,
        }
    return simulated
