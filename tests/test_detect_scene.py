"""Whole-scene scanning: windows cover the scene, blending leaves no seams, outputs are atomic."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
import xarray as xr
from affine import Affine
from torch import nn

import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)
from fringenet.detect import DatasetSource, GeoTiffSource, blend_weights, connect, scan_scene, window_origins
from fringenet.detect.scene import BandSettings, band_task, scan_bands
from fringenet.detect.windows import BandBlender, taper
from fringenet.errors import InputError
from fringenet.io.schema import grid_dataset
from fringenet.models.bundle import BundleInfo, save_bundle
from fringenet.models.segmentation import ModelSpec, build_segmentation_model
from rasters import write_plain_tif

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CRS = "EPSG:32633"
TRANSFORM = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 4_000_000.0)
SHAPE = (150, 170)  # not a multiple of the window step: the last windows are moved flush


def bundle_info(channels: list[str], threshold: float = 0.5) -> BundleInfo:
    spec = ModelSpec(architecture="segformer", encoder="mit_b0", in_channels=len(channels))
    stats = {c: {"mean": 0.0, "std": 1.0} for c in channels}  # identity: the model sees raw channels
    return BundleInfo(model=spec, channels=channels, normalisation=stats, threshold=threshold, patch_size=64)


class ConstantLogit(nn.Module):
    def __init__(self, logit: float, fail_after: int | None = None) -> None:
        super().__init__()
        self.logit, self.fail_after, self.calls = logit, fail_after, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("model failed mid-scan")
        return torch.full((x.shape[0], 1, *x.shape[-2:]), self.logit)


class CosLogit(nn.Module):
    """Pixel-wise: logit = 3 cos(phase), so stitched windows must equal the whole-image answer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 3.0 * x[:, :1]


def direct(phase: np.ndarray) -> np.ndarray:
    """The whole-image answer of CosLogit (same float32 path), NaN where the phase is missing."""
    cos = torch.from_numpy(np.cos(phase).astype(np.float32))
    p = torch.sigmoid(3.0 * cos).numpy()
    return np.where(np.isfinite(phase), p, np.nan).astype(np.float32)


def random_phase(seed: int, holes: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    phase = rng.uniform(-np.pi, np.pi, SHAPE).astype(np.float32)
    if holes:
        phase[20:40, 30:90] = np.nan
        phase[:, -3:] = np.nan
    return phase


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        assert src.crs.to_string() == CRS and src.transform == TRANSFORM
        return src.read(1)


def test_window_origins_cover_the_axis_with_the_last_window_flush() -> None:
    assert window_origins(100, 32, 8) == [0, 24, 48, 68]
    assert window_origins(88, 32, 4) == [0, 28, 56]
    assert window_origins(64, 64, 16) == [0]
    for size in (64, 65, 150, 170, 1000):
        origins = window_origins(size, 64, 16)
        covered = np.zeros(size, bool)
        for o in origins:
            covered[o : o + 64] = True
        assert covered.all() and origins[-1] == size - 64


def test_window_origins_refuse_an_axis_shorter_than_a_window() -> None:
    with pytest.raises(InputError, match=r"30 px.*32 px"):
        window_origins(30, 32, 8)
    with pytest.raises(InputError, match="overlap"):
        window_origins(100, 32, 20)


def test_blend_weights_are_positive_symmetric_and_one_inside() -> None:
    w = blend_weights(64, 16)
    assert w.shape == (64, 64) and w.dtype == np.float32
    assert (w > 0).all() and w[0, 0] < 1e-3
    np.testing.assert_array_equal(w, w.T)
    np.testing.assert_array_equal(w, w[::-1, ::-1])
    assert (w[16:-16, 16:-16] == 1).all() and (w[:16, 32] < 1).all()
    ramp = taper(64, 16)  # neighbours one step (48 px) apart sum to exactly 1
    np.testing.assert_allclose(ramp[48:] + ramp[:16], 1.0, atol=1e-12)
    assert (blend_weights(32, 0) == 1).all()


def test_band_blender_hands_out_each_row_once_in_order() -> None:
    rows = [0, 3, 6]  # window_origins(10, 4, 1) if windows could be that small
    blender = BandBlender(rows, 4, 10, 5)
    out = []
    for k, row0 in enumerate(rows):
        weight = np.full((4, 5), 0.5)
        weight[:, 0] = 0.0  # a column nothing valid covers
        out.append(blender.add(row0, (k + 1.0) * weight, weight))
    assert [len(o) for o in out] == [3, 3, 4]
    blended = np.concatenate(out)
    assert np.isnan(blended[:, 0]).all()
    np.testing.assert_allclose(blended[:, 1], [1, 1, 1, 1.5, 2, 2, 2.5, 3, 3, 3])  # rows 3 and 6 shared
    with pytest.raises(ValueError, match="out of order"):
        BandBlender(rows, 4, 10, 5).add(3, weight, weight)


def test_constant_prediction_blends_to_exactly_the_constant(tmp_path: Path) -> None:
    phase = random_phase(1)
    source = GeoTiffSource(write_plain_tif(tmp_path / "a.pha.tif", phase, crs=CRS, transform=TRANSFORM))
    info = bundle_info(["cos_phase", "sin_phase"], threshold=0.5)
    scan = scan_scene(
        (ConstantLogit(0.3), info), source, tmp_path / "run", window=64, overlap=16, device="cpu"
    )
    prob, det = read(scan.probability_path), read(scan.detections_path)
    expected = torch.sigmoid(torch.tensor(0.3)).item()
    valid = np.isfinite(phase)
    assert (prob[valid] == np.float32(expected)).all()  # no seams, not even rounding ones
    assert np.isnan(prob[~valid]).all()
    assert det.dtype == np.uint8 and (det == valid).all()
    assert scan.shape == SHAPE and scan.n_windows == 3 * 4 and scan.n_pairs == 1
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["detections.tif", "probability.tif"]


def test_windows_are_stitched_where_they_belong(tmp_path: Path) -> None:
    phase = random_phase(2)
    source = GeoTiffSource(write_plain_tif(tmp_path / "a.pha.tif", phase, crs=CRS, transform=TRANSFORM))
    info = bundle_info(["cos_phase", "sin_phase"])
    scan = scan_scene(
        (CosLogit(), info), source, tmp_path / "run", window=48, overlap=12, batch_size=3, device="cpu"
    )
    np.testing.assert_allclose(read(scan.probability_path), direct(phase), atol=1e-6)
    assert scan.megapixels_per_s > 0 and scan.seconds > 0


def stack_dataset(phases: list[np.ndarray]) -> xr.Dataset:
    ds = grid_dataset(*SHAPE, TRANSFORM, CRS)
    ds = ds.assign(wrapped_phase=(("pair", "y", "x"), np.stack(phases)))
    return ds.assign_coords(pair=["20200101_20200113", "20200113_20200125"])


def test_stack_probability_is_the_mean_over_the_scanned_pairs(tmp_path: Path) -> None:
    first, second = random_phase(3), random_phase(4, holes=False)
    second[100:120, 10:50] = np.nan  # missing in one pair only: the other pair alone decides there
    info = bundle_info(["cos_phase", "sin_phase"])
    source = DatasetSource(stack_dataset([first, second]), name="stack.nc")
    scan = scan_scene((CosLogit(), info), source, tmp_path / "all", window=64, overlap=16, device="cpu")
    expected = np.nanmean(np.stack([direct(first), direct(second)]), axis=0)
    np.testing.assert_allclose(read(scan.probability_path), expected, atol=1e-6)
    assert scan.n_pairs == 2 and source.pair_labels == ["20200101_20200113", "20200113_20200125"]
    only = DatasetSource(stack_dataset([first, second]), pairs=[1])
    scan = scan_scene((CosLogit(), info), only, tmp_path / "one", window=64, overlap=16, device="cpu")
    np.testing.assert_allclose(read(scan.probability_path), direct(second), atol=1e-6)
    with pytest.raises(InputError, match="pair selection"):
        DatasetSource(stack_dataset([first, second]), pairs=[2])


def test_geotiff_grid_mismatch_names_the_file(tmp_path: Path) -> None:
    phase = random_phase(5)
    pha = write_plain_tif(tmp_path / "a.pha.tif", phase, crs=CRS, transform=TRANSFORM)
    shifted = write_plain_tif(
        tmp_path / "shifted.cc.tif", phase, crs=CRS, transform=TRANSFORM * Affine.translation(1, 0)
    )
    small = write_plain_tif(tmp_path / "small.cc.tif", phase[:100], crs=CRS, transform=TRANSFORM)
    with pytest.raises(InputError, match=r"shifted\.cc\.tif.*transform"):
        GeoTiffSource(pha, coherence=shifted)
    with pytest.raises(InputError, match=r"small\.cc\.tif.*100 x 170"):
        GeoTiffSource([pha], coherence=[small])


def test_geotiff_stacks_from_multiband_files_or_file_lists(tmp_path: Path) -> None:
    a, b = random_phase(12), random_phase(13, holes=False)
    profile = {"driver": "GTiff", "height": SHAPE[0], "width": SHAPE[1], "count": 2, "dtype": "float32"}
    with rasterio.open(tmp_path / "stack.pha.tif", "w", crs=CRS, transform=TRANSFORM, **profile) as dst:
        dst.write(np.stack([a, b]))
    coherence = write_plain_tif(
        tmp_path / "mean.cc.tif", np.full(SHAPE, 200, np.uint8), crs=CRS, transform=TRANSFORM
    )
    multiband = GeoTiffSource(tmp_path / "stack.pha.tif", coherence=coherence, pairs=[1])
    (layers,) = multiband.read(0, 0, 10, 12)
    np.testing.assert_array_equal(layers.wrapped_phase, b[:10, :12])
    assert layers.coherence is not None
    np.testing.assert_allclose(layers.coherence, 200 / 255)  # uint8 coherence scaled, shared by every pair
    assert multiband.n_pairs == 1 and multiband.pair_labels == ["stack.pha:2"]
    files = [
        write_plain_tif(tmp_path / f"{k}.pha.tif", p, crs=CRS, transform=TRANSFORM)
        for k, p in enumerate((a, b))
    ]
    info = bundle_info(["cos_phase", "sin_phase"])
    scan = scan_scene((CosLogit(), info), GeoTiffSource(files), tmp_path / "run", window=64, device="cpu")
    np.testing.assert_allclose(
        read(scan.probability_path), np.nanmean([direct(a), direct(b)], axis=0), atol=1e-6
    )


def test_all_nan_scene_fails_and_writes_nothing(tmp_path: Path) -> None:
    phase = np.full(SHAPE, np.nan, np.float32)
    source = GeoTiffSource(write_plain_tif(tmp_path / "a.pha.tif", phase, crs=CRS, transform=TRANSFORM))
    with pytest.raises(InputError, match=r"a\.pha\.tif.*no valid pixel"):
        scan_scene(
            (ConstantLogit(0.0), bundle_info(["cos_phase", "sin_phase"])),
            source,
            tmp_path / "run",
            device="cpu",
        )
    assert list((tmp_path / "run").iterdir()) == []


def test_an_error_mid_scan_leaves_no_output(tmp_path: Path) -> None:
    source = GeoTiffSource(
        write_plain_tif(tmp_path / "a.pha.tif", random_phase(6), crs=CRS, transform=TRANSFORM)
    )
    info = bundle_info(["cos_phase", "sin_phase"])
    with pytest.raises(RuntimeError, match="mid-scan"):
        scan_scene(
            (ConstantLogit(0.0, fail_after=2), info), source, tmp_path / "run", batch_size=1, device="cpu"
        )
    assert list((tmp_path / "run").iterdir()) == []


class FailingRead(GeoTiffSource):
    """A source whose read of rows below ``fail_row`` fails, as a truncated file does mid-scan."""

    fail_row = 60

    def read(self, row0: int, col0: int, height: int, width: int, pairs: object = None) -> object:  # type: ignore[override]
        if row0 + height > self.fail_row:
            raise InputError(self.name, "read failed")
        return super().read(row0, col0, height, width, pairs=pairs)  # type: ignore[arg-type]


def band_settings(window: int = 48, overlap: int = 12, batch: int = 2) -> BandSettings:
    info = bundle_info(["cos_phase", "sin_phase"])
    cols = tuple(window_origins(SHAPE[1], window, overlap))
    return BandSettings(tuple(info.channels), info.normalisation, window, overlap, cols, batch, "cpu")


def test_prefetched_bands_are_those_of_a_plain_scan_and_errors_surface_in_order(tmp_path: Path) -> None:
    path = write_plain_tif(tmp_path / "a.pha.tif", random_phase(7), crs=CRS, transform=TRANSFORM)
    settings = band_settings()
    rows = window_origins(SHAPE[0], 48, 12)
    plain = list(scan_bands(CosLogit(), GeoTiffSource(path), rows, settings, prefetch=False))
    ahead = list(scan_bands(CosLogit(), GeoTiffSource(path), rows, settings, prefetch=True))
    assert [b.row0 for b in ahead] == [b.row0 for b in plain] == rows
    for a, b in zip(ahead, plain, strict=True):
        assert np.array_equal(a.weighted, b.weighted) and np.array_equal(a.weight, b.weight)
    # the thread's read error reaches the caller after the bands before it, not as a hang or a lost band
    bands = scan_bands(CosLogit(), FailingRead(path), rows, settings, prefetch=True)
    got = []
    with pytest.raises(InputError, match=r"a\.pha\.tif.*read failed"):
        for band in bands:
            got.append(band.row0)
    assert got == [r for r in rows if r + 48 + 8 <= FailingRead.fail_row]
    assert not any(t.name == "fringenet-band-prefetch" for t in threading.enumerate())


def test_closing_a_prefetched_scan_early_stops_its_thread(tmp_path: Path) -> None:
    path = write_plain_tif(tmp_path / "a.pha.tif", random_phase(8), crs=CRS, transform=TRANSFORM)
    bands = scan_bands(
        CosLogit(), GeoTiffSource(path), window_origins(SHAPE[0], 32, 8), band_settings(32, 8, 1)
    )
    next(bands)
    bands.close()  # type: ignore[attr-defined]
    assert not any(t.name == "fringenet-band-prefetch" for t in threading.enumerate())


def test_missing_layers_are_refused_before_the_scan_and_small_scenes_padded(tmp_path: Path) -> None:
    phase = random_phase(7)
    source = GeoTiffSource(write_plain_tif(tmp_path / "a.pha.tif", phase, crs=CRS, transform=TRANSFORM))
    with pytest.raises(InputError, match=r"a\.pha\.tif.*'elevation' needs a DEM"):
        scan_scene((CosLogit(), bundle_info(["cos_phase", "sin_phase", "elevation"])), source, tmp_path / "r")
    # a scene smaller than the window is padded with no-data, not refused; the outputs keep its size
    padded = scan_scene(
        (CosLogit(), bundle_info(["cos_phase", "sin_phase"])),
        source,
        tmp_path / "p",
        window=160,
        device="cpu",
    )
    assert padded.shape == (150, 170) and padded.n_windows == 1 * 2
    assert any("150 x 170 px is smaller than the 160 px window: padded" in n for n in padded.notes)
    with rasterio.open(padded.probability_path) as src:
        assert src.shape == (150, 170)
        np.testing.assert_array_equal(
            np.isfinite(src.read(1)), np.isfinite(phase)
        )  # valid where the input is
    info = bundle_info(["cos_phase", "sin_phase", "coherence"])  # derivable: estimated from the phase
    scan = scan_scene((CosLogit(), info), source, tmp_path / "r", window=64, device="cpu")
    assert any("coherence estimated from the wrapped phase" in n for n in scan.notes)


def test_unwrapped_phase_is_rewrapped(tmp_path: Path) -> None:
    phase = random_phase(8)
    path = write_plain_tif(tmp_path / "x_unw.tif", phase + 4 * np.pi, crs=CRS, transform=TRANSFORM)
    scan = scan_scene(
        (CosLogit(), bundle_info(["cos_phase", "sin_phase"])),
        GeoTiffSource(path),
        tmp_path / "r",
        device="cpu",
    )
    np.testing.assert_allclose(read(scan.probability_path), direct(phase), atol=1e-5)
    assert "wrapped phase made by re-wrapping the unwrapped phase" in scan.notes


def test_dask_cluster_writes_the_same_bytes_as_a_local_scan(tmp_path: Path) -> None:
    from distributed import Client

    torch.manual_seed(0)
    info = bundle_info(["cos_phase", "sin_phase"], threshold=0.5)
    bundle = save_bundle(tmp_path / "bundle", build_segmentation_model(info.model).eval(), info)
    phases = [random_phase(9), random_phase(10, holes=False)]
    source = DatasetSource(stack_dataset(phases))
    local = scan_scene(bundle, source, tmp_path / "local", overlap=16, batch_size=4, device="cpu")
    # A thread worker: worker processes spend ~15 s importing torch; what crosses a process
    # boundary is checked by pickling below and by benchmarks/scaleout.py.
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        remote = scan_scene(
            bundle, source, tmp_path / "dask", overlap=16, batch_size=4, device="cpu", client=client
        )
    for a, b in (
        (local.probability_path, remote.probability_path),
        (local.detections_path, remote.detections_path),
    ):
        assert a.read_bytes() == b.read_bytes()
    assert np.isfinite(read(local.probability_path)).sum() > 0.9 * phases[0].size


def test_sources_and_worker_errors_cross_process_boundaries(tmp_path: Path) -> None:
    phase = random_phase(11)
    tif = GeoTiffSource(write_plain_tif(tmp_path / "a.pha.tif", phase, crs=CRS, transform=TRANSFORM))
    for source in (tif, DatasetSource(stack_dataset([phase, phase]), pairs=[1])):
        copy = pickle.loads(pickle.dumps(source))
        np.testing.assert_array_equal(copy.read(5, 7, 20, 30)[0].wrapped_phase, phase[5:25, 7:37])
    settings = BandSettings(("cos_phase", "sin_phase"), {}, 64, 16, (0,), 1, "cpu")
    band = pickle.loads(pickle.dumps(band_task(str(tmp_path / "nowhere"), tif, 0, settings)))
    assert band.error is not None and "not a model bundle" in band.error[1]


def test_connect_to_a_silent_address_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"no Dask scheduler answers at tcp://127\.0\.0\.1:9.*timeout 1 s"):
        connect("tcp://127.0.0.1:9", timeout_s=1)
