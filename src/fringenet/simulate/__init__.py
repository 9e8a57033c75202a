"""Labelled synthetic interferograms and stacks (pure numpy cores; Datasets built in ``scene``).

Terrain, deformation sources with temporal behaviour, turbulent and stratified troposphere,
coherence-driven multilook phase noise, water and layover, small-baseline stacks; see
docs/simulator.md. Every function takes a seed or a ``numpy.random.Generator``.
"""

from fringenet.simulate.config import HARD_NEGATIVES, TARGET_SCENARIOS, SimulationConfig
from fringenet.simulate.scene import objects_geodataframe, simulate_pair, simulate_stack
from fringenet.simulate.targets import SCENARIOS, Target, draw_targets
from fringenet.simulate.temporal import TemporalModel

__all__ = [
    "HARD_NEGATIVES",
    "SCENARIOS",
    "TARGET_SCENARIOS",
    "SimulationConfig",
    "Target",
    "TemporalModel",
    "draw_targets",
    "objects_geodataframe",
    "simulate_pair",
    "simulate_stack",
]
