"""The figure gallery: one example of every figure the project draws, with its caption, in docs/gallery.md.

Runs the shipped scenarios, sweeps and trial files at small sizes (and a one-parameter grid, a Latin
hypercube, a Morris screening and a one-arm PSA over ``low_dose.yaml`` from sweep files written for the
purpose), keeps the first figure of each kind in ``docs/gallery/`` and writes the page. Every kind of
figure must have a caption here: a figure the project starts to draw without one stops the script.

    python benchmarks/gallery.py [--out docs]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.cli import main  # noqa: E402
from sim.studies.run.report import FIGURE_CAPTIONS  # noqa: E402

SMALL_RUN = ["--replications", "3", "--patients", "60", "--workers", "1", "--quiet"]
SMALL_SWEEP = ["--replications", "2", "--patients", "10", "--workers", "1", "--quiet"]
SMALL_TRIAL = ["--set", "trial.simulations=100", "--workers", "1", "--quiet"]
ONE_ARM = ["--set", "arms={lenalidomide: [lenalidomide_5]}", "--set", "reference_arm=lenalidomide"]

EXTRA_SWEEPS = {  # method: the sweep section over low_dose.yaml
    "grid_one": """method: grid
  parameters:
    therapies.lenalidomide_5.taper.weeks: {values: [4, 8, 12, 16, 24], label: lenalidomide taper length}
  outcomes: [disease_free_weeks]""",
    "lhs": """method: lhs
  samples: 40
  parameters:
    therapies.lenalidomide_5.relapse.after_stop.probability: {low: 0.25, high: 0.75, label: relapse after stop}
    therapies.lenalidomide_5.taper.weeks: {low: 4, high: 24, label: taper length}
  outcomes: [disease_free_weeks]""",
    "morris": """method: morris
  samples: 6
  levels: 4
  parameters:
    therapies.lenalidomide_5.relapse.after_stop.probability: {low: 0.25, high: 0.75, label: relapse after stop}
    therapies.lenalidomide_5.relapse.after_taper.probability: {low: 0.25, high: 0.75, label: relapse in taper}
    therapies.standard.response.probability: {low: 0.3, high: 0.6, label: standard response}
  outcomes: [disease_free_weeks]""",
}

CAPTIONS = {  # kind of figure (its file name, the outcome replaced by OUTCOME): caption
    "tornado_OUTCOME": "Tornado diagram of a one-way sweep: each parameter moved from its low to its high value, "
                       "the others at base, with each bar's replication noise as a grey band.",
    "one_way_OUTCOME": "One-way curves: the outcome (or each arm's difference from the reference) at each value "
                       "of each parameter, with 95% intervals; the base value marked.",
    "grid_OUTCOME": "A grid over one parameter: the outcome at each of its values, with 95% intervals.",
    "heatmap_OUTCOME": "A grid over two parameters: the difference from the reference at every combination, cells "
                       "at the parameters' values (unequal steps are unequal cells), the base scenario circled; a "
                       "panel that does not vary is greyed and says so.",
    "lhs_OUTCOME": "Latin hypercube: the outcome at each sampled point against each parameter (all parameters "
                   "vary together).",
    "sobol_OUTCOME": "Sobol indices: first-order (S1) and total (ST) share of the variance of the outcome across "
                     "the design, with 95% bootstrap half-widths, every panel on one scale.",
    "morris_OUTCOME": "Morris screening: mean absolute elementary effect (mu*) with its interval, and sigma "
                      "(interactions or non-linearity).",
    "psa_differences_OUTCOME": "Probabilistic sensitivity analysis: the distribution over parameter draws of each "
                               "arm's difference from the reference (outlines on shared bins; the line at 0 is no "
                               "difference).",
    "psa_means_OUTCOME": "Probabilistic sensitivity analysis of one arm: the distribution of its mean over the "
                         "parameter draws.",
    "psa_best": "Probability that each arm is best on each outcome over the parameter draws, with exact 95% "
                "intervals.",
    "psa_scatter": "Each parameter draw's difference from the reference on two outcomes at once.",
    "psa_cost_effectiveness_plane": "Cost-effectiveness plane over the parameter draws: incremental QALYs and "
                                    "costs against the reference, with the willingness-to-pay lines.",
    "acceptability": "Cost-effectiveness acceptability curves: the probability that each arm has the highest net "
                     "benefit at each threshold, and the frontier.",
    "evpi": "Expected value of perfect information per patient at each threshold, with its Monte Carlo noise.",
    "cost_effectiveness": "Cost-effectiveness plane of a run: each arm's mean discounted cost and QALYs per "
                          "patient with the willingness-to-pay lines.",
    "power_curve": "Trial planning: simulated power at each size with its 95% interval, the target, the smallest "
                   "size whose whole interval reaches it, and infeasible sizes marked.",
    "single_arm": "Single-arm phase II planning: the probability of declaring activity at each size, the exact "
                  "binomial design and Simon's two-stage designs.",
    "validation": "Validation: each published outcome with its band against the model's simulated cohorts of "
                  "the same size.",
}


def kind_of(name: str, outcomes: list[str]) -> str:
    stem = name.removesuffix(".png")
    for outcome in sorted(outcomes, key=len, reverse=True):
        if stem.endswith("_" + outcome):
            return stem[: -len(outcome)] + "OUTCOME"
    return stem


def caption_of(kind: str) -> str:
    if f"{kind}.png" in FIGURE_CAPTIONS:
        return FIGURE_CAPTIONS[f"{kind}.png"].format(n=10, reference="the reference arm",
                                                     pairing="paired by replication")
    if kind not in CAPTIONS:
        raise SystemExit(f"error: benchmarks/gallery.py: no caption for the figure kind {kind!r}")
    return CAPTIONS[kind]


def run(arguments: list[str]) -> Path:
    out = Path(arguments[arguments.index("--out") + 1])
    if main(arguments) != 0:
        raise SystemExit(f"error: benchmarks/gallery.py: failed: run.py {' '.join(arguments)}")
    return out


def main_gallery() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where gallery.md and gallery/ go")
    args = parser.parse_args()
    from sim.outcomes import OUTCOMES

    outcomes = list(OUTCOMES)
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        sweeps = ROOT / "scenarios" / "sweeps"
        trials = ROOT / "scenarios" / "trials"
        folders: list[tuple[str, Path]] = [
            ("Runs", run([str(ROOT / "scenarios" / "low_dose.yaml"), *SMALL_RUN, "--out", str(work / "run")])),
            ("Runs", run([str(ROOT / "scenarios" / "cost_effectiveness.yaml"), *SMALL_RUN,
                          "--out", str(work / "ce")])),
            ("Sweeps", run([str(sweeps / "one_way_weakest.yaml"), *SMALL_SWEEP, "--out", str(work / "one_way")])),
            ("Sweeps", run([str(sweeps / "lenalidomide_taper_grid.yaml"), *SMALL_SWEEP, "--out", str(work / "grid")])),
            ("Sweeps", run([str(sweeps / "sobol_weakest.yaml"), *SMALL_SWEEP, "--out", str(work / "sobol")])),
            ("Sweeps", run([str(sweeps / "psa_three_arms.yaml"), *SMALL_SWEEP, "--out", str(work / "psa")])),
            ("Sweeps", run([str(sweeps / "psa_three_arms.yaml"), *SMALL_SWEEP, *ONE_ARM,
                            "--out", str(work / "psa_one")])),
            ("Sweeps", run([str(sweeps / "psa_cost_effectiveness.yaml"), *SMALL_SWEEP, "--out", str(work / "psa_ce")])),
        ]
        for name, section in EXTRA_SWEEPS.items():
            path = work / f"{name}.yaml"
            path.write_text(f"name: gallery_{name}\nbase: {ROOT / 'scenarios' / 'low_dose.yaml'}\nsweep:\n  "
                            f"{section}\n  replications: 2\n", encoding="utf-8")
            folders.append(("Sweeps", run([str(path), *SMALL_SWEEP, "--out", str(work / name)])))
        folders += [
            ("Trial planning", run([str(trials / "time_to_relapse.yaml"), *SMALL_TRIAL, "--out", str(work / "trial")])),
            ("Trial planning", run([str(trials / "lenalidomide_single_arm.yaml"), *SMALL_TRIAL,
                                    "--out", str(work / "single")])),
            ("Validation", run(["validate", "--trials", "20", "--pooled-replications", "20", "--workers", "1",
                                "--out", str(work / "validation")])),
        ]
        images = args.out / "gallery"
        if images.exists():
            shutil.rmtree(images)
        images.mkdir(parents=True)
        seen: dict[str, tuple[str, str]] = {}
        for section, folder in folders:
            for figure in sorted((folder / "figures").glob("*.png")) + sorted(folder.glob("*.png")):
                kind = kind_of(figure.name, outcomes)
                if kind in seen:
                    continue
                shutil.copyfile(figure, images / figure.name)
                seen[kind] = (section, figure.name)
    lines = ["# Figure gallery", "",
             "One example of every figure the project draws, with its caption. The examples come from the shipped "
             "scenarios, sweeps and trial files run at small sizes (few patients and replications), so their "
             "intervals are wide: they show what each figure looks like, not results. Regenerated by "
             "`python benchmarks/gallery.py`.", ""]
    for section in dict.fromkeys(s for s, _ in seen.values()):
        lines += [f"## {section}", ""]
        for kind, (where, name) in seen.items():
            if where == section:
                title = re.sub(r"_OUTCOME$", "", kind).replace("_", " ")
                lines += [f"### {title}", "", f"![{title}](gallery/{name})", "", f"*{caption_of(kind)}*", ""]
    (args.out / "gallery.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"{len(seen)} kinds of figure: {args.out / 'gallery.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main_gallery())
