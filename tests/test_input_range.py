"""Wrapped phase that cannot be radians is refused before any scan (issue 14)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fringenet.errors import InputError
from fringenet.io.schema import make_dataset
from fringenet.pipeline.monitor import open_input


def _pair(values: np.ndarray) -> object:
    return make_dataset({"wrapped_phase": values.astype(np.float32)}, reference_dates="2021-01-01",
                        secondary_dates="2021-01-13")  # fmt: skip


def test_radians_pass_and_other_units_are_named() -> None:
    rng = np.random.default_rng(0)
    radians = rng.uniform(-np.pi, np.pi, (16, 16))
    assert open_input(_pair(radians)) is not None
    with pytest.raises(InputError, match="degrees"):
        open_input(_pair(np.degrees(radians)))
    with pytest.raises(InputError, match="milliradians"):
        open_input(_pair(np.round(radians * 1000)))
    with pytest.raises(InputError, match="0 everywhere"):
        open_input(_pair(np.zeros((16, 16))))
    with pytest.raises(InputError, match="outside ±π"):
        open_input(_pair(radians * 1e4))


def test_unwrapped_phase_may_exceed_pi() -> None:
    unwrapped = np.linspace(-30, 30, 256).reshape(16, 16)
    ds = make_dataset(
        {"unwrapped_phase": unwrapped}, reference_dates="2021-01-01", secondary_dates="2021-01-13"
    )
    assert open_input(ds) is not None


def test_an_unknown_target_type_is_refused_before_the_scan(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fringenet.cli import app
    from fringenet.pipeline.monitor import DetectConfig

    assert DetectConfig(target_type="Rock-Glacier").target_type == "rock_glacier"
    result = CliRunner().invoke(
        app,
        [
            "detect",
            str(tmp_path / "missing.tif"),
            "--out",
            str(tmp_path / "run"),
            "--target-type",
            "landslid",
        ],
    )
    assert result.exit_code == 2
    assert "unknown target type 'landslid'" in result.output and "landslide" in result.output
    assert not (tmp_path / "run").exists()
