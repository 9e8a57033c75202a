"""The real-format segmentation path on PyRate's ENVISAT stack: GeoTIFF phase, GAMMA coherence, DEM and a
GeoJSON inventory drawn around the subsidence bowl (near row 39, column 31) → dataset → tiny model → evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from shapely.geometry import Point

from fringenet.data.config import DatasetConfig
from fringenet.data.store import open_patch_dataset
from fringenet.io.stack import read_gamma_float
from fringenet.pipeline.dataset import run_build_dataset
from fringenet.pipeline.evaluate import run_evaluate
from fringenet.train.config import TrainConfig
from fringenet.train.trainer import run_train
from rasters import write_plain_tif
from shared_data import PYRATE as DATA
from shared_data import needs_pyrate

ENVISAT_WAVELENGTH_M = 0.0562356424
BOWL_ROW, BOWL_COL, BOWL_RADIUS_PX = 39, 31, 7

pytestmark = [pytest.mark.shared_data, needs_pyrate]


@pytest.fixture(scope="module")
def real_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Coherence GeoTIFFs converted from PyRate's GAMMA files, and an inventory polygon around the bowl."""
    root = tmp_path_factory.mktemp("pyrate")
    with rasterio.open(next((DATA / "tif").glob("geo_*_unw.tif"))) as src:
        transform, crs, shape = src.transform, src.crs.to_string(), src.shape
    for cc in sorted((DATA / "coherence").glob("*_utm.unw.cc")):
        dates = cc.name.split("_")[0]  # 20060619-20061002
        coherence = read_gamma_float(cc, shape).astype(np.float32)
        write_plain_tif(
            root / "coh" / f"{dates}_coh.tif", coherence, crs=crs, transform=transform, nodata=0.0
        )
    x, y = transform * (BOWL_COL + 0.5, BOWL_ROW + 0.5)
    bowl = Point(x, y).buffer(BOWL_RADIUS_PX * abs(transform.a))
    gpd.GeoDataFrame({"name": ["subsidence bowl"]}, geometry=[bowl], crs=crs).to_file(
        root / "inventory.geojson", driver="GeoJSON"
    )
    return {"root": root, "coherence": root / "coh", "inventory": root / "inventory.geojson"}


@pytest.fixture(scope="module")
def dataset(real_inputs: dict[str, Path]) -> Path:
    config = DatasetConfig(
        channels=["cos_phase", "sin_phase", "coherence", "elevation", "slope", "aspect"],
        patch_size=32,
        block_px=32,
        min_valid_fraction=0.3,
        real=[
            {
                "product": DATA / "tif",
                "inventory": real_inputs["inventory"],
                "coherence": real_inputs["coherence"],
                "dem": DATA / "dem" / "roipac_test_trimmed.tif",
                "nodata": 0.0,
                "wavelength_m": ENVISAT_WAVELENGTH_M,
                "region": "pyrate",
            }
        ],
    )
    return run_build_dataset(config, real_inputs["root"] / "dataset").path


def test_real_dataset_holds_every_pair_with_the_bowl_labelled(dataset: Path) -> None:
    ds = open_patch_dataset(dataset)
    assert ds.table["scene"].nunique() == 17  # every interferogram of the stack
    assert set(ds.table["split"]) == {"train", "val", "test"}
    # Patches over the same ground share a group, so no ground appears in two splits.
    assert ds.table.groupby("group")["split"].nunique().max() == 1
    labelled = ds.table[ds.table["labelled_px"] > 0]
    assert labelled["scene"].nunique() == 17
    assert np.pi * BOWL_RADIUS_PX**2 * 0.5 < labelled.groupby("scene")["labelled_px"].sum().median() < 200
    info = json.loads((dataset / "dataset.json").read_text())
    assert "re-wrapping" in " ".join(info["notes"])  # the product holds unwrapped phase only
    image, _, valid = ds.read(0)
    cos, sin = image[0][valid > 0], image[1][valid > 0]
    np.testing.assert_allclose(cos**2 + sin**2, 1.0, atol=1e-5)
    coherence = image[2][valid > 0]
    assert 0.0 <= coherence.min() and coherence.max() <= 1.0 and coherence.std() > 0.01


def test_real_dataset_trains_and_evaluates_end_to_end(dataset: Path, tmp_path: Path) -> None:
    config = TrainConfig(
        dataset=dataset,
        model={"architecture": "segformer", "encoder": "mit_b0"},
        epochs=2,
        batch_size=4,
        sampling={"samples_per_epoch": 8, "crop_px": 16},
        seed=0,
    )
    result = run_train(config, tmp_path / "run", progress=False)
    assert len(result.history) == 2 and all(np.isfinite(r["train_loss"]) for r in result.history)
    # One bowl lies in one spatial block, so only one split holds labels; score test and train.
    for split in ("test", "train"):
        evaluation = run_evaluate(tmp_path / "run", dataset, tmp_path / split, split=split)
        metrics = json.loads((tmp_path / split / "metrics.json").read_text())
        assert set(metrics["results"]) == {
            "model",
            "phase_gradient",
            "coherent_gradient_otsu",
            "low_coherence_otsu",
        }
        assert 0.0 <= evaluation.results["model"]["pixel"]["iou"] <= 1.0
        assert (tmp_path / split / "pr_curve.png").stat().st_size > 0
    labelled = sum(
        json.loads((tmp_path / s / "metrics.json").read_text())["results"]["model"]["n_labelled_pixels"]
        for s in ("test", "train")
    )
    assert labelled > 0
