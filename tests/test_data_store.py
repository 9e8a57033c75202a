"""Building, writing and reopening a patch dataset folder (simulated and real sources)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from fringenet.data.config import DatasetConfig
from fringenet.data.normalise import channel_statistics
from fringenet.data.store import PatchDataset, open_patch_dataset
from fringenet.errors import InputError
from fringenet.pipeline.dataset import DatasetSummary, run_build_dataset
from rasters import write_plain_tif

CONFIG = DatasetConfig(patch_size=32, simulate={"n_scenes": 4, "height": 64, "width": 64}, block_px=64)  # type: ignore[arg-type]
UTM = "EPSG:32633"
TRANSFORM = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 4_200_000.0)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[DatasetSummary, float]:
    """The tiny simulated dataset and how long it took to build (s)."""
    tic = time.perf_counter()
    summary = run_build_dataset(CONFIG, tmp_path_factory.mktemp("store") / "ds")
    return summary, time.perf_counter() - tic


@pytest.fixture(scope="module")
def dataset(built: tuple[DatasetSummary, float]) -> PatchDataset:
    return open_patch_dataset(built[0].path)


def test_build_is_fast_and_writes_the_layout(built: tuple[DatasetSummary, float]) -> None:
    summary, seconds = built
    assert seconds < 10.0  # about 0.5 s on one core; generous for busy CI machines
    for name in ("patches.zarr", "patches.csv", "dataset.json", "splits.md"):
        assert (summary.path / name).exists()
    assert summary.n_patches == 16  # 4 scenes x 2 x 2 patches
    assert sorted(p.name for p in summary.path.parent.iterdir()) == [
        "ds"
    ]  # atomic write left no temporary folder


def test_split_table_sums_to_the_patch_table(
    built: tuple[DatasetSummary, float], dataset: PatchDataset
) -> None:
    summary = built[0]
    splits = dataset.info["splits"]
    assert splits == summary.splits
    assert [row["split"] for row in splits] == ["train", "val", "test"]
    assert sum(row["patches"] for row in splits) == len(dataset.table) == summary.n_patches
    assert sum(row["labelled_pixels"] for row in splits) == dataset.table["labelled_px"].sum()
    for row in splits:
        rows = dataset.table[dataset.table["split"] == row["split"]]
        assert row["patches"] == len(rows) == dataset.indices(row["split"]).size
        assert row["groups"] == rows["group"].nunique()
        assert row["patches_with_labels"] == int((rows["labelled_px"] > 0).sum())
    # a 64 px block holds a whole 64 px scene: each scene is one group in one split
    assert dataset.table.groupby("scene")["split"].nunique().max() == 1


def test_table_matches_the_stored_arrays(dataset: PatchDataset) -> None:
    image, label, valid = dataset.read_many(np.arange(len(dataset.table)))
    assert image.shape == (16, 7, 32, 32) and image.dtype == np.float32
    assert label.shape == valid.shape == (16, 32, 32)
    np.testing.assert_array_equal(label.sum(axis=(1, 2)), dataset.table["labelled_px"])
    np.testing.assert_array_equal(valid.sum(axis=(1, 2)), dataset.table["valid_px"])
    assert np.all(label[valid == 0] == 0)
    assert (valid == 0).any()  # padded or masked pixels exist ...
    assert np.all(np.where(valid[:, None] == 0, image, 0.0) == 0)  # ... and hold zeros in every channel
    single = dataset.read(5)
    np.testing.assert_array_equal(single[0], image[5])
    # each patch carries its own transform: the origin moves by col/row pixels from the scene's
    row = dataset.table.iloc[int(np.flatnonzero(dataset.table["col"] == 32)[0])]
    a, _, c, _, _, _ = json.loads(row["transform"])
    scene_c = json.loads(dataset.table[dataset.table["scene"] == row["scene"]].iloc[0]["transform"])[2]
    assert c == pytest.approx(scene_c + 32 * a)
    assert dataset.channels == tuple(CONFIG.channels) and dataset.patch_size == 32


def test_statistics_come_from_the_training_split_only(dataset: PatchDataset) -> None:
    train = dataset.indices("train")
    image, _, valid = dataset.read_many(train)
    expected = channel_statistics(zip(image, valid, strict=True), dataset.channels)
    assert dataset.info["normalisation_split"] == "train"
    for name in dataset.channels:
        assert dataset.statistics[name]["mean"] == pytest.approx(expected[name]["mean"], rel=1e-6, abs=1e-9)
        assert dataset.statistics[name]["std"] == pytest.approx(expected[name]["std"], rel=1e-6)
    everything = channel_statistics(
        zip(*dataset.read_many(np.arange(16))[::2], strict=True), dataset.channels
    )
    assert any(
        everything[c]["mean"] != pytest.approx(expected[c]["mean"], rel=1e-6) for c in dataset.channels
    )


def test_same_seed_gives_identical_files(
    built: tuple[DatasetSummary, float], dataset: PatchDataset, tmp_path: Path
) -> None:
    again = open_patch_dataset(run_build_dataset(CONFIG, tmp_path / "again").path)
    for name in ("patches.csv", "dataset.json"):
        assert (again.path / name).read_bytes() == (dataset.path / name).read_bytes()
    everything = np.arange(len(dataset.table))
    for ours, theirs in zip(dataset.read_many(everything), again.read_many(everything), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_existing_folder_needs_overwrite(built: tuple[DatasetSummary, float], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="exists already"):
        run_build_dataset(CONFIG, built[0].path)
    out = tmp_path / "ds"
    out.mkdir()
    (out / "old.txt").write_text("old")
    small = CONFIG.model_copy(update={"simulate": CONFIG.simulate.model_copy(update={"n_scenes": 1})})  # type: ignore[union-attr]
    run_build_dataset(small, out, overwrite=True)
    assert not (out / "old.txt").exists()
    assert len(open_patch_dataset(out).table) == 4


def test_open_rejects_folders_that_are_not_datasets(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such dataset folder"):
        open_patch_dataset(tmp_path / "missing")
    (tmp_path / "patches.csv").write_text("index\n")
    with pytest.raises(
        InputError, match=r"not a fringenet patch dataset \(missing patches.zarr, dataset.json\)"
    ):
        open_patch_dataset(tmp_path)


def test_unknown_split_is_named(dataset: PatchDataset) -> None:
    with pytest.raises(InputError, match="split 'nope' has no patches") as err:
        dataset.indices("nope")
    assert err.value.source == str(dataset.path)


# --- real products ------------------------------------------------------------------------------


def write_real_product(folder: Path, label_transform: Affine) -> tuple[Path, Path]:
    """An unwrapped-phase GeoTIFF (64 x 64, fringe ramp) and a label GeoTIFF on ``label_transform``."""
    ramp = (0.2 * np.add.outer(np.arange(64.0), np.arange(64.0))).astype(np.float32)
    product = write_plain_tif(folder / "geo_20200101-20200113_unw.tif", ramp, crs=UTM, transform=TRANSFORM)
    label = np.zeros((64, 64), dtype=np.uint8)
    label[20:30, 20:30] = 1
    inventory = write_plain_tif(folder / "label.tif", label, crs=UTM, transform=label_transform)
    return product, inventory


def real_config(product: Path, inventory: Path) -> DatasetConfig:
    return DatasetConfig(
        channels=["cos_phase", "sin_phase", "coherence", "unwrapped_phase"],
        patch_size=32,
        real=[{"product": product, "inventory": inventory, "wavelength_m": 0.0555}],  # type: ignore[list-item]
    )


def test_real_product_with_label_raster_on_the_same_grid(tmp_path: Path) -> None:
    product, inventory = write_real_product(tmp_path, TRANSFORM)
    summary = run_build_dataset(real_config(product, inventory), tmp_path / "ds")
    opened = open_patch_dataset(summary.path)
    assert summary.n_patches == 4 and opened.table["labelled_px"].sum() == 100
    assert any("re-wrapping the unwrapped phase" in n for n in summary.notes)
    assert any("coherence estimated from the wrapped phase" in n for n in summary.notes)


def test_label_raster_on_another_grid_is_rejected(tmp_path: Path) -> None:
    product, inventory = write_real_product(tmp_path, TRANSFORM * Affine.translation(5, 0))
    with pytest.raises(InputError, match="another grid") as err:
        run_build_dataset(real_config(product, inventory), tmp_path / "ds")
    assert err.value.source == str(inventory)
    assert not (tmp_path / "ds").exists()
