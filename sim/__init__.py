"""Discrete-event simulation of treatment strategies for refractory cutaneous lupus erythematosus."""

from sim.model import simulate
from sim.runner import run_scenario
from sim.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["Scenario", "ScenarioError", "load_scenario", "run_scenario", "simulate"]
