"""One run started from the page, in a process of its own: ``python -m sim.app.worker`` reads the job on standard input.

The process imports what jobs need first, so the app can start it before the job is known.

The job is what the command line would be given (the file, its options and ``--set`` edits, the
workers) and is loaded and run with the same functions, so the folder is the one ``run.py``
writes. Progress, the folder and any problems go to standard output as JSON lines marked
``@app``. An interrupt (SIGINT, as Ctrl-C on the command line) cancels the simulation and leaves
nothing written; once a sweep's or a trial's simulations are done, its folder is written whatever
comes.
"""

from __future__ import annotations

import importlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["MARK", "main", "message"]

MARK = "@app "

PRELOAD = ("sim.studies.run", "sim.studies.run.figures", "sim.studies.sweep", "sim.studies.sweep.figures",
           "sim.studies.trial", "sim.studies.trial.figures")
"""What every job needs, imported while the process waits for its job (about two seconds)."""


def message(**fields: Any) -> None:
    """One line for the page."""
    sys.stdout.write(MARK + json.dumps(fields) + "\n")
    sys.stdout.flush()


class Progress:
    """A tqdm-like bar that tells the page how far the work is, at most ten times a second."""

    def __init__(self) -> None:
        self.done = 0
        self.last = 0.0

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= 0.1:
            self.last = now
            message(done=self.done)

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        message(note=text)

    def close(self) -> None:
        message(done=self.done)


def _run(job: dict[str, Any]) -> Path:
    import sim
    from sim.spec.load import load_scenario
    from sim.spec.paths import parse_set_option
    from sim.studies.units import plan_units

    parsed = [parse_set_option(f"{path}={text}") for path, text in job["edits"]]
    scenario = load_scenario(job["file"], [*(tuple(o) for o in job["options"]), *parsed])
    message(total=len(plan_units(scenario)))
    return sim.run_to_folder(scenario, results_root=job["results_root"], workers=job["workers"], progress=Progress(),
                             argv=job["argv"]).path


def _sweep(job: dict[str, Any]) -> Path:
    import sim
    from sim.studies.sweep import prepare

    sizes = {k: job[k] for k in ("replications", "patients", "seed")}
    message(total=len(prepare(job["file"], [], **sizes).design.points))
    result = sim.sweep(job["file"], workers=job["workers"], progress=Progress(), **sizes)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # simulated: the folder is written whole
    message(phase="writing")
    return result.save(results_root=job["results_root"], argv=job["argv"])


def _trial(job: dict[str, Any]) -> Path:
    import sim
    from sim.studies.trial import load_trial

    overrides: list[Any] = [*job["overrides"], *([("seed", job["seed"])] if job["seed"] is not None else [])]
    plan = load_trial(job["file"], overrides)
    message(total=plan.trial.simulations)
    result = sim.trial(plan, workers=job["workers"], progress=Progress())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    message(phase="writing")
    return result.save(results_root=job["results_root"], argv=job["argv"])


def main() -> int:
    """Run the job on standard input; exit status 0 done, 2 bad input, 130 cancelled."""
    from sim.outputs.folders import FolderError
    from sim.spec.base import ScenarioError

    # The app cancels a job with SIGINT: answer it as Ctrl-C even when the app was started with SIGINT ignored
    # (as a background job or under nohup, whose children inherit that).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for module in PRELOAD:  # before the job arrives: a spare process is ready when a run starts
        importlib.import_module(module)
    text = sys.stdin.read()
    if not text.strip():
        return 0  # a spare process the app no longer needs
    job = json.loads(text)
    work = {"run": _run, "sweep": _sweep, "trial": _trial}[job["kind"]]
    try:
        folder = work(job)
    except KeyboardInterrupt:
        message(cancelled=True)
        return 130
    except ScenarioError as err:
        message(problems=err.problems)
        return 2
    except FolderError as err:
        message(problems=[f"error: {err}"])
        return 2
    except OSError as err:
        message(problems=[f"error: {err.filename or job['file']}: cannot write ({err.strerror or err})"])
        return 2
    message(folder=str(folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
