"""Classical InSAR toolbox: pure functions on numpy arrays (phase in rad, displacement in m).

Used as baselines beside the learned models, and as the measuring stage of the pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

from fringenet.conventions import displacement_to_phase, phase_to_displacement, wrap

if TYPE_CHECKING:
    from fringenet.insar.coherence import coherence_from_phase, estimate_coherence
    from fringenet.insar.filtering import goldstein_filter
    from fringenet.insar.gradients import StackedGradient, phase_gradient_stack, phase_gradients
    from fringenet.insar.masking import otsu_coherence_mask
    from fringenet.insar.multilook import multilook, multilook_interferogram
    from fringenet.insar.network import check_connected, connected_components, design_matrix
    from fringenet.insar.reference import point_area, reference_to_area
    from fringenet.insar.sbas import SBASResult, invert_sbas
    from fringenet.insar.unwrap import UNWRAP_METHODS, UnwrapResult, unwrap

# Submodules load on first use: importing one light submodule (e.g. fringenet.io.atomic) must not
# import the whole package (torch, zarr, h5py, the simulator), which cost a small scene seconds.
__getattr__, _dir, _lazy = lazy_loader.attach(
    __name__,
    submod_attrs={
        "coherence": ["coherence_from_phase", "estimate_coherence"],
        "filtering": ["goldstein_filter"],
        "gradients": ["StackedGradient", "phase_gradient_stack", "phase_gradients"],
        "masking": ["otsu_coherence_mask"],
        "multilook": ["multilook", "multilook_interferogram"],
        "network": ["check_connected", "connected_components", "design_matrix"],
        "reference": ["point_area", "reference_to_area"],
        "sbas": ["SBASResult", "invert_sbas"],
        "unwrap": ["UNWRAP_METHODS", "UnwrapResult", "unwrap"],
    },
)
__all__ = sorted([*_lazy, "displacement_to_phase", "phase_to_displacement", "wrap"])


def __dir__() -> list[str]:
    return list(__all__)
