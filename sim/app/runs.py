"""A browser tab's runs: starting one, its progress bar and cancel button, and the results it keeps.

Everything here lives in the tab's own session state, so two tabs never see each other's runs or
results; a run that is cancelled or fails changes nothing but the message shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from sim.app.jobs import RUNNER, Job

__all__ = ["active_job", "latest", "results", "show_notice", "show_status", "start"]

UNITS = {"run": "blocks of patients", "sweep": "points", "trial": "simulated trials"}


def results() -> list[dict[str, Any]]:
    """This tab's finished results, oldest first: ``kind``, ``folder``, ``label``."""
    return st.session_state.setdefault("results", [])  # type: ignore[no-any-return]


def latest(kind: str) -> Path | None:
    """This tab's newest results folder of a kind."""
    found = [r for r in results() if r["kind"] == kind]
    return Path(found[-1]["folder"]) if found else None


def active_job() -> Job | None:
    """This tab's run in progress (queued or running), if any."""
    job: Job | None = st.session_state.get("job")
    return job if job is not None and job.active else None


def start(kind: str, label: str, spec: dict[str, Any]) -> None:
    """Queue a run for this tab (one at a time per tab) and show its progress."""
    if active_job() is not None:
        return
    st.session_state["notice"] = None
    st.session_state["job"] = RUNNER.submit(Job(kind, label, spec))


def _finish(job: Job) -> None:
    """Keep a finished run's folder, or say why there is none; earlier results stay as they are."""
    st.session_state["job"] = None
    if job.state == "done" and job.folder is not None:
        results().append({"kind": job.kind, "folder": str(job.folder), "label": job.label})
        st.session_state["notice"] = ("success", [f"{job.label}: done in {job.seconds:.1f} s; results in "
                                                  f"{job.folder}"])
    elif job.state == "cancelled":
        st.session_state["notice"] = ("warning", [f"{job.label}: cancelled; nothing was written. Earlier results "
                                                  f"are kept."])
    else:
        st.session_state["notice"] = ("error", job.problems or [f"error: {job.label}: failed"])


def show_notice() -> None:
    """The message about this tab's last run: where its results are, or why there are none."""
    job: Job | None = st.session_state.get("job")
    if job is not None and not job.active:
        _finish(job)
    notice = st.session_state.get("notice")
    if not notice:
        return
    level, lines = notice
    if level == "error":
        st.error("The run stopped; earlier results are kept. As the command line says:")
        st.code("\n".join(lines), language=None)
    else:
        getattr(st, level)("\n\n".join(lines))


@st.fragment(run_every=0.5)
def _status() -> None:
    job: Job | None = st.session_state.get("job")
    if job is None:
        return
    if not job.active:
        st.rerun()
    if job.state == "queued":
        ahead = RUNNER.ahead(job)
        st.info(f"{job.label}: waiting for {ahead} run{'s' if ahead != 1 else ''} from other tabs to finish "
                f"(runs take turns, each on the command line's {RUNNER.workers} worker(s))")
    elif job.phase == "writing":
        st.progress(1.0, text=f"{job.label}: writing the results folder")
    else:
        done = f"{job.done:,} of {job.total:,} {UNITS[job.kind]}" if job.total else "starting"
        note = f" · {job.note}" if job.note else ""
        st.progress(job.fraction, text=f"{job.label}: {done}{note}")
    if job.cancel_requested.is_set():
        st.warning("Cancelling: the run stops at its next block of work.")
    elif st.button("Cancel run", key=f"cancel-{job.id}", disabled=job.phase == "writing"):
        job.cancel()
        st.warning("Cancelling: the run stops at its next block of work.")


def show_status() -> None:
    """The progress of this tab's run, refreshed twice a second, with a cancel button; nothing when idle."""
    if active_job() is not None:
        _status()
