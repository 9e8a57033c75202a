"""Classical InSAR toolbox: pure functions on numpy arrays (phase in rad, displacement in m).

Used as baselines beside the learned models, and as the measuring stage of the pipeline.
"""

from fringenet.conventions import displacement_to_phase, phase_to_displacement, wrap
from fringenet.insar.coherence import coherence_from_phase, estimate_coherence
from fringenet.insar.filtering import goldstein_filter
from fringenet.insar.gradients import StackedGradient, phase_gradient_stack, phase_gradients
from fringenet.insar.masking import otsu_coherence_mask
from fringenet.insar.multilook import multilook, multilook_interferogram
from fringenet.insar.network import check_connected, connected_components, design_matrix
from fringenet.insar.reference import point_area, reference_to_area
from fringenet.insar.sbas import SBASResult, invert_sbas
from fringenet.insar.unwrap import METHODS as UNWRAP_METHODS
from fringenet.insar.unwrap import UnwrapResult, unwrap

__all__ = [
    "UNWRAP_METHODS",
    "SBASResult",
    "StackedGradient",
    "UnwrapResult",
    "check_connected",
    "coherence_from_phase",
    "connected_components",
    "design_matrix",
    "displacement_to_phase",
    "estimate_coherence",
    "goldstein_filter",
    "invert_sbas",
    "multilook",
    "multilook_interferogram",
    "otsu_coherence_mask",
    "phase_gradient_stack",
    "phase_gradients",
    "phase_to_displacement",
    "point_area",
    "reference_to_area",
    "unwrap",
    "wrap",
]
