"""Discrete-event simulation of treatment strategies for refractory cutaneous lupus erythematosus."""

import os

# Parallelism here is one process per core. A BLAS thread pool in each process (NumPy's and SciPy's
# OpenBLAS start one thread per core, which spin after any call) would only compete with the other
# workers, so it is limited to one thread unless the user has asked otherwise. This must happen
# before NumPy is first imported.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

from sim.engine.simulate import simulate  # noqa: E402
from sim.runner import run_scenario  # noqa: E402
from sim.spec.base import ScenarioError  # noqa: E402
from sim.spec.load import load_scenario  # noqa: E402
from sim.spec.scenario import Scenario  # noqa: E402

__all__ = ["Scenario", "ScenarioError", "load_scenario", "run_scenario", "simulate"]
