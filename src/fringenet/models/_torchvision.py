"""Make ``import torchvision`` work where its compiled operators cannot load.

segmentation-models-pytorch and timm import torchvision for its Python model definitions (ResNet
blocks, feature extraction). PyPI's torchvision wheels link against CUDA builds of torch; next to
the CPU-only torch this project installs, torchvision's ``_C`` library fails to load and its
module import then dies registering fake kernels for ``torchvision::nms``/``qnms``, operators that
were never defined. We retry the import once with those two schemas defined. Nothing fringenet uses
needs the operators; calling ``torchvision.ops.nms`` still raises torchvision's own clear error.
On a machine where torchvision loads normally this does nothing.
"""

from __future__ import annotations

import sys

import torch

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_library: torch.library.Library | None = None


def ensure_torchvision() -> None:
    """Import torchvision, defining the missing operator schemas if its extension did not load."""
    global _library
    try:
        import torchvision
    except RuntimeError as err:
        if "torchvision::" not in str(err) or _library is not None:
            raise
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        _library = torch.library.Library("torchvision", "DEF")
        for schema in _SCHEMAS:
            _library.define(schema)
        import torchvision  # noqa: F401
