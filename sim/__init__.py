"""Discrete-event simulation of treatment strategies for refractory cutaneous lupus erythematosus.

The Python API, for notebooks and scripts (names load on first use, so ``import sim`` is cheap)::

    import sim
    result = sim.run("scenarios/low_dose.yaml", patients=200, replications=10)
    result.summary            # pandas DataFrames: patients, events, summary, comparison, survival
    result.save("results/my_run")
    result.plot()             # the figures, inline in a notebook
    sim.read_run_table("results/low_dose/RUN_ID", "patients")  # a saved folder's table, CSV or Parquet

``sim.sweep(path)`` and ``sim.trial(path)`` do the same for sweep and trial-planning files.
"""

import os
from typing import Any

# Parallelism here is one process per core. A BLAS thread pool in each process (NumPy's and SciPy's
# OpenBLAS start one thread per core, which spin after any call) would only compete with the other
# workers, so it is limited to one thread unless the user has asked otherwise. This must happen
# before NumPy is first imported.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

_API = {
    "Scenario": "sim.spec.scenario",
    "ScenarioError": "sim.spec.base",
    "load_scenario": "sim.spec.load",
    "simulate": "sim.engine.simulate",
    "run": "sim.studies.run",
    "run_to_folder": "sim.studies.run",
    "read_run_table": "sim.outputs.folders",
    "RunResult": "sim.studies.run",
    "sweep": "sim.studies.sweep",
    "SweepResult": "sim.studies.sweep",
    "trial": "sim.studies.trial",
    "TrialResult": "sim.studies.trial",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
