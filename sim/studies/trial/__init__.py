"""Trial planning: power against sample size from whole simulated trials, two-arm or single-arm.

:func:`trial` returns a :class:`TrialResult` whose tables are pandas DataFrames and writes nothing;
``TrialResult.save(dir)`` writes the folder the command line writes for the same file and options,
and ``TrialResult.plot()`` draws its figure.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim.spec.base import ScenarioError
from sim.studies.trial.analyse import Summaries, smallest_size, summarise
from sim.studies.trial.design import TrialPlan, load_trial
from sim.studies.trial.evaluate import TrialTables, run_trials
from sim.studies.trial.folder import TrialOutcome, read_folder, redraw_folder, run_trial_planning, write_folder

__all__ = ["TrialOutcome", "TrialPlan", "TrialResult", "load_trial", "read_folder", "redraw_folder",
           "run_trial_planning", "trial"]


class TrialResult:
    """Simulated trials of a plan, in memory.

    ``power`` has one row per size and ``trials`` one per simulated trial and size; a
    group-sequential design adds ``looks`` (per size and look), a single-arm design with ``simon``
    adds ``simon`` (per design) and ``simon_trials`` (per simulated trial and design).
    """

    def __init__(self, plan: TrialPlan, tables: TrialTables, summaries: Summaries, wall_seconds: float,
                 workers: int):
        self.plan = plan
        self.tables = tables
        self.summaries = summaries
        self.power = summaries.power
        self.trials = tables.trials
        self.looks = summaries.looks
        self.simon = summaries.simon
        self.simon_trials = tables.simon
        self.wall_seconds = wall_seconds
        self.workers = workers

    @property
    def smallest_size(self) -> int | None:
        """The smallest size per arm whose whole 95% interval of power lies at or above the target, or None."""
        return smallest_size(self.power, self.plan.trial.target_power)

    def save(self, out: str | Path | None = None, *, results_root: str | Path = "results", plots: bool = True,
             argv: list[str] | None = None) -> Path:
        """Write the results folder (``out`` exactly, or a new ``results_root/<name>/<run id>``); returns it.

        The data files are byte-identical to those of ``run.py`` with the same file and options.
        """
        return write_folder(self.plan, self.tables, self.summaries, out=out, results_root=results_root, plots=plots,
                            argv=argv or ["sim.trial"], wall_seconds=self.wall_seconds, workers=self.workers)

    def plot(self) -> Any:
        """The folder's figure (power curve, or the single-arm figure) as a matplotlib Figure; nothing is saved."""
        from sim.studies.trial.figures import build_figure
        from sim.studies.trial.report import figure_title

        return build_figure(self.plan, self.summaries, figure_title(self.plan))

    def __repr__(self) -> str:
        return f"TrialResult({self.plan.name!r}: {len(self.power)} sizes x {self.plan.trial.simulations} trials)"


def trial(plan_or_path: TrialPlan | str | Path, *, overrides: Sequence[str | tuple[str, Any]] = (),
          seed: int | None = None, workers: int = 1, scheduler: str | None = None, progress: Any = None) -> TrialResult:
    """Simulate the trials of a trial-planning file and return the power table in memory; writes nothing.

    ``overrides`` are ``PATH=VALUE`` strings or pairs, as ``--set`` takes them: ``trial.`` paths
    change the trial section, others the base scenario. Raises ScenarioError with one line per problem.
    """
    if isinstance(plan_or_path, TrialPlan):
        if overrides or seed is not None:
            raise ScenarioError(["error: overrides and seed apply to a trial file, not to a loaded plan"])
        plan = plan_or_path
    else:
        extra: list[str | tuple[str, Any]] = list(overrides)
        if seed is not None:
            extra.append(("seed", seed))
        plan = load_trial(plan_or_path, extra)
    started = time.perf_counter()
    on_done = None if progress is None else lambda unit: progress.update(len(unit))
    tables = run_trials(plan, workers, scheduler, on_done)
    summaries = summarise(plan.trial, plan.simon, tables.trials, tables.simon)
    return TrialResult(plan, tables, summaries, time.perf_counter() - started, workers)
