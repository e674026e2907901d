"""Figures of a results folder, drawn from its saved tables."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["disease_free_distribution", "draw_figures"]


def disease_free_distribution(patients: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Axes:
    """Box plot of disease-free weeks per arm, with the mean marked."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    arms = list(dict.fromkeys(patients["arm"]))
    data = [patients.loc[patients["arm"] == arm, "disease_free_weeks"].to_numpy() for arm in arms]
    ax.boxplot(data, tick_labels=arms, showmeans=True, meanprops={"marker": "D", "markerfacecolor": "white"})
    ax.set_title("Disease-free time per patient, by arm")
    ax.set_xlabel("arm")
    ax.set_ylabel("weeks in complete remission")
    ax.plot([], [], "D", markerfacecolor="white", markeredgecolor="green", label="mean")
    ax.plot([], [], "-", color="orange", label="median")
    ax.legend(loc="upper left")
    return ax


def draw_figures(run_dir: Path) -> list[Path]:
    """Draw every figure of a results folder into its ``figures/``; returns the files written."""
    figures = run_dir / "figures"
    figures.mkdir(exist_ok=True)
    patients = pd.read_csv(run_dir / "patients.csv")
    written = []
    ax = disease_free_distribution(patients)
    path = figures / "disease_free_weeks.png"
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=120)
    plt.close(ax.figure)
    written.append(path)
    return written
