"""Scenario files: the DSL, loading with located errors, expansion into cases."""

from .load import load_scenario
from .model import Case, PolicySource, Scenario, Step

__all__ = ["Case", "PolicySource", "Scenario", "Step", "load_scenario"]
