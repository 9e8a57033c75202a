"""Surface displacement fields from image pairs (issue 12): classical correlators today; learned flow
models and the fusion with InSAR are to come. Offsets in pixels, east/north as in docs/conventions.md."""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from fringenet.displacement.correlate import (
        METHODS,
        estimate_offsets,
        ncc_offsets,
        opencv_flow,
        phase_correlation_offsets,
    )

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "correlate": [
            "METHODS",
            "estimate_offsets",
            "ncc_offsets",
            "opencv_flow",
            "phase_correlation_offsets",
        ],
    },
)
