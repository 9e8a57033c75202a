"""Package namespaces load their submodules on first use (issue 14: start-up time of small runs)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = ["io", "data", "insar", "simulate", "detect", "evaluate", "measure", "train", "displacement"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package: str) -> None:
    module = importlib.import_module(f"fringenet.{package}")
    assert module.__all__, package
    for name in module.__all__:
        assert getattr(module, name) is not None, f"fringenet.{package}.{name}"
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def test_unknown_name_from_package_fails_like_an_import() -> None:
    with pytest.raises(ImportError):
        exec("from fringenet.io import no_such_reader", {})


def test_light_modules_do_not_import_heavy_stacks() -> None:
    """A light submodule imports neither torch nor the Zarr/HDF5/simulator stacks of its siblings; the
    channels a detector needs do not import skimage.morphology (0.2 s) through the terrain module."""
    code = (
        "import sys\n"
        "import fringenet.io.atomic, fringenet.insar.coherence, fringenet.data.channels\n"
        "heavy = ['torch', 'zarr', 'h5py', 'skimage.morphology', 'fringenet.simulate.scene', 'scipy.sparse.csgraph']\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
