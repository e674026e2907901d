"""Figures: one style module with the one atomic save, then one module per family of figures.

Each plot function takes its table(s) and ``ax=None``, draws, and returns the axes: no statistics are
computed here and nothing is saved but by :func:`sim.plotting.style.save_figure`. Figures are drawn
off screen (the Agg backend), whatever the environment says.
"""

import matplotlib

matplotlib.use("Agg")
