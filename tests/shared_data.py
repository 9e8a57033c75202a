"""Where the real data of ../shared lives, and the marker that skips a test cleanly where it is absent."""

from pathlib import Path

import pytest

PYRATE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pyrate_small_test"
"""PyRate's ENVISAT small test stack (see ../shared/data/README.md)."""

needs_pyrate = pytest.mark.skipif(not PYRATE.is_dir(), reason=f"real data not found at {PYRATE}")

COSEISMIC = PYRATE.parent / "coseismic"
"""LiCSAR coseismic pairs, Greece 2021 and Afghanistan 2022 (raw float32 with a .par)."""

needs_coseismic = pytest.mark.skipif(
    not (COSEISMIC / "greece" / "greece.diff").exists(), reason=f"real data not found at {COSEISMIC}"
)
