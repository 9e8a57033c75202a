"""The data model: variables, dims, dates, CRS and wavelength."""

import numpy as np
import pytest
from affine import Affine

from fringenet.conventions import SENTINEL1_WAVELENGTH_M
from fringenet.errors import InputError
from fringenet.io.schema import is_stack, make_dataset, pair_label, wavelength_of

TRANSFORM = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0)


def test_single_pair_dataset() -> None:
    phase = np.zeros((4, 5), np.float32)
    ds = make_dataset(
        {"wrapped_phase": phase, "dem": np.ones((4, 5))},
        transform=TRANSFORM,
        crs="EPSG:32632",
        reference_dates="2021-06-01",
        secondary_dates="2021-06-13",
        wavelength_m=0.0555,
    )
    assert ds.wrapped_phase.dims == ("y", "x") and ds.wrapped_phase.attrs["units"] == "rad"
    assert ds.rio.crs.to_epsg() == 32632
    assert ds.rio.transform() == TRANSFORM
    assert ds.x.values[0] == pytest.approx(500015.0) and ds.y.values[0] == pytest.approx(4199985.0)
    assert wavelength_of(ds) == 0.0555 and ds.attrs["wavelength_source"] == "metadata"
    assert not is_stack(ds)


def test_stack_dataset_has_pair_coords_and_default_wavelength() -> None:
    ds = make_dataset(
        {"unwrapped_phase": np.zeros((2, 3, 3)), "dem": np.zeros((3, 3))},
        reference_dates=["2020-01-01", "2020-01-07"],
        secondary_dates=["2020-01-13", "2020-01-19"],
    )
    assert is_stack(ds)
    assert list(ds.pair.values) == ["20200101_20200113", "20200107_20200119"]
    assert ds.dem.dims == ("y", "x")
    assert wavelength_of(ds) == SENTINEL1_WAVELENGTH_M
    assert ds.attrs["wavelength_source"].startswith("default")


def test_pair_label() -> None:
    assert pair_label("2006-06-19", "2006-10-02") == "20060619_20061002"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"phase": np.zeros((2, 2))}, "unknown variable"),
        ({"wrapped_phase": np.zeros((2, 2)), "dem": np.zeros((3, 2))}, "different grid shapes"),
        ({"dem": np.zeros((2, 2, 2))}, "static"),
        ({"coherence": np.zeros(4)}, "2-D \\(y, x\\) or 3-D"),
    ],
)
def test_bad_variables_are_rejected(variables: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        make_dataset(variables)


def test_dates_must_match_pairs() -> None:
    with pytest.raises(InputError, match="2 pairs"):
        make_dataset(
            {"wrapped_phase": np.zeros((2, 2, 2))},
            reference_dates=["2020-01-01"],
            secondary_dates=["2020-01-13"],
        )


def test_dates_have_one_resolution() -> None:
    pair = make_dataset(
        {"wrapped_phase": np.zeros((2, 2))}, reference_dates="2020-01-01", secondary_dates="2020-01-13"
    )
    stack = make_dataset(
        {"wrapped_phase": np.zeros((1, 2, 2))}, reference_dates=["2020-01-01"], secondary_dates=["2020-01-13"]
    )
    for da in (pair.reference_date, stack.secondary_date):
        assert da.dtype == np.dtype("datetime64[ns]")
