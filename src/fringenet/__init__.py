"""fringenet: deep learning to find and measure ground deformation in InSAR interferograms.

Stages (one package each): ``io`` (products in and out), ``simulate`` (labelled synthetic
interferograms), ``insar`` (classical InSAR toolbox), ``data``, ``models``, ``train``,
``pipeline`` and ``report``. Units and sign conventions are in ``fringenet.conventions``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fringenet")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
