"""Labelled synthetic interferograms and stacks (pure numpy cores; Datasets built in ``scene``).

Terrain, deformation sources with temporal behaviour, turbulent and stratified troposphere,
coherence-driven multilook phase noise, water and layover, small-baseline stacks; see
docs/simulator.md. Every function takes a seed or a ``numpy.random.Generator``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from fringenet.simulate.config import HARD_NEGATIVES, TARGET_SCENARIOS, SimulationConfig
    from fringenet.simulate.scene import objects_geodataframe, simulate_pair, simulate_stack
    from fringenet.simulate.targets import SCENARIOS, Target, draw_targets
    from fringenet.simulate.temporal import TemporalModel

# Submodules load on first use: importing one light submodule (e.g. fringenet.io.atomic) must not
# import the whole package (torch, zarr, h5py, the simulator), which cost a small scene seconds.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "config": ["HARD_NEGATIVES", "TARGET_SCENARIOS", "SimulationConfig"],
        "scene": ["objects_geodataframe", "simulate_pair", "simulate_stack"],
        "targets": ["SCENARIOS", "Target", "draw_targets"],
        "temporal": ["TemporalModel"],
    },
)
