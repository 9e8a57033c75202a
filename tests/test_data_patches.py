"""Patch dataset building blocks: channels, patches, splits, normalisation, targets, augmentation, sampling."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.typing import NDArray

from fringenet.data.augment import augment, dihedral, rotate_aspect
from fringenet.data.channels import PairLayers, check_channels, derive_channels
from fringenet.data.normalise import channel_statistics, normalise
from fringenet.data.patches import cut_patches, patch_origins
from fringenet.data.samplers import BucketSampler, label_buckets, place_crop, small_object_crops
from fringenet.data.splits import assign_splits
from fringenet.data.targets import soft_labels
from fringenet.errors import InputError
from fringenet.simulate.terrain import slope_aspect

PIXEL_M = 10.0
DIHEDRAL = list(itertools.product(range(4), (False, True)))


def tiny_layers(**overrides: object) -> PairLayers:
    """An 8 x 8 pair: a linear phase ramp, amplitude 10 and a DEM rising 5 m per column (eastwards)."""
    rows, cols = np.mgrid[0:8, 0:8].astype(np.float64)
    values: dict[str, object] = {
        "source": "tiny",
        "wrapped_phase": 0.9 * cols + 0.4 * rows + 7.0,  # partly outside [-pi, pi): must be wrapped
        "pixel_size_m": PIXEL_M,
        "wavelength_m": 0.0555,
        "amplitude": np.full((8, 8), 10.0),
        "dem": 1000.0 + 5.0 * cols,
    }
    return PairLayers(**{**values, **overrides})  # type: ignore[arg-type]


def circular_difference_deg(a: NDArray[np.floating], b: NDArray[np.floating]) -> NDArray[np.floating]:
    """Smallest absolute angle between ``a`` and ``b`` (deg)."""
    return np.abs((np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0)


# --- channels -----------------------------------------------------------------------------------


def test_derive_channels_gives_known_values_in_requested_order() -> None:
    layers = tiny_layers()
    phase = np.asarray(layers.wrapped_phase).copy()
    names = ["sin_phase", "cos_phase", "log_amplitude", "elevation", "slope", "aspect"]
    out = derive_channels(layers, names)
    assert out.shape == (6, 8, 8)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0], np.sin(phase), atol=1e-6)
    np.testing.assert_allclose(out[1], np.cos(phase), atol=1e-6)
    np.testing.assert_allclose(out[2], 20.0, atol=1e-5)  # 20 log10(10) dB
    np.testing.assert_allclose(out[3], layers.dem)  # type: ignore[arg-type]
    # 5 m rise per 10 m eastwards: slope atan(0.5), downslope towards the west (270 deg)
    np.testing.assert_allclose(out[4], np.degrees(np.arctan(0.5)), atol=1e-4)
    np.testing.assert_allclose(out[5], 270.0, atol=1e-4)
    assert layers.notes == []


def test_missing_amplitude_names_the_channel() -> None:
    with pytest.raises(InputError, match="log_amplitude") as err:
        derive_channels(tiny_layers(amplitude=None), ["cos_phase", "sin_phase", "log_amplitude"])
    assert err.value.source == "tiny"


def test_coherence_falls_back_to_the_phase_with_a_note() -> None:
    layers = tiny_layers()
    out = derive_channels(layers, ["coherence"])
    assert any("coherence estimated from the wrapped phase" in n for n in layers.notes)
    # a clean linear fringe ramp is perfectly smooth once the ramp is removed
    assert np.all((out >= 0) & (out <= 1))
    assert np.median(out) > 0.99
    given = tiny_layers(coherence=np.full((8, 8), 0.3))
    np.testing.assert_allclose(derive_channels(given, ["coherence"])[0], 0.3, atol=1e-6)
    assert given.notes == []


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        (["cos_phase", "sin_phase", "velocity"], "unknown channel.*velocity"),
        (["coherence", "coherence"], "repeat"),
        (["cos_phase", "coherence"], "cos_phase and sin_phase go together"),
        ([], "at least one channel"),
    ],
)
def test_check_channels_rejects_bad_lists(channels: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_channels(channels)


def test_check_channels_lists_valid_names_for_unknown_ones() -> None:
    with pytest.raises(InputError, match=r"valid channels.*cos_phase"):
        check_channels(["nope"])
    assert check_channels(["sin_phase", "cos_phase"]) == ("sin_phase", "cos_phase")


# --- patches ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("height", "width", "size", "stride"), [(70, 64, 32, None), (50, 33, 16, 12)])
def test_patch_origins_cover_the_whole_scene(height: int, width: int, size: int, stride: int | None) -> None:
    origins = patch_origins(height, width, size, stride)
    covered = np.zeros((height + size, width + size), dtype=bool)
    for r, c in origins:
        covered[r : r + size, c : c + size] = True
    assert covered[:height, :width].all()
    assert max(r for r, _ in origins) < height and max(c for _, c in origins) < width


def test_patch_origins_pad_the_edge_patch() -> None:
    assert patch_origins(70, 64, 32) == [(r, c) for r in (0, 32, 64) for c in (0, 32)]
    assert patch_origins(10, 10, 32) == [(0, 0)]  # a scene smaller than a patch is one padded patch
    with pytest.raises(InputError):
        patch_origins(64, 64, 0)


def scene_40() -> tuple[NDArray[np.float32], NDArray[np.uint8], NDArray[np.bool_], tuple[str, ...]]:
    """A 40 x 40 scene: cos, sin and an unwrapped phase ramp (patch-relative), a label, two invalid pixels."""
    rng = np.random.default_rng(1)
    phase = rng.uniform(-np.pi, np.pi, (40, 40))
    ramp = 100.0 + np.add.outer(np.arange(40.0), 0.5 * np.arange(40.0))
    image = np.stack([np.cos(phase), np.sin(phase), ramp]).astype(np.float32)
    image[2, 3, 4] = np.nan  # NaN in one channel invalidates the pixel
    label = np.zeros((40, 40), dtype=np.uint8)
    label[5:10, 5:10] = 1
    valid = np.ones((40, 40), dtype=bool)
    valid[6, 6] = False  # invalid inside the label
    return image, label, valid, ("cos_phase", "sin_phase", "unwrapped_phase")


def test_cut_patches_zeroes_invalid_pixels_and_centres_relative_channels() -> None:
    image, label, valid, names = scene_40()
    patches = cut_patches(image, label, valid, names, 32, min_valid_fraction=0.0)
    assert patches.image.shape == (4, 3, 32, 32)
    assert list(zip(patches.rows, patches.cols, strict=True)) == [(0, 0), (0, 32), (32, 0), (32, 32)]
    first_image, first_label, first_valid = patches.image[0], patches.label[0], patches.valid[0]
    assert first_valid[3, 4] == 0 and first_valid[6, 6] == 0
    assert np.all(first_image[:, 3, 4] == 0) and np.all(first_image[:, 6, 6] == 0)
    assert first_label[6, 6] == 0 and first_label.sum() == 24
    ok = first_valid > 0
    np.testing.assert_array_equal(first_image[0][ok], image[0, :32, :32][ok])  # not relative: untouched
    for k in range(patches.image.shape[0]):
        ok = patches.valid[k] > 0
        assert abs(np.median(patches.image[k, 2][ok])) < 1e-4
        assert np.all(patches.image[k][:, ~ok] == 0)  # includes the padding of the edge patches
    # the corner patch holds 8 x 8 scene pixels, the rest is padding marked invalid
    assert patches.valid[3].sum() == 64 and patches.valid[3, 8:, :].sum() == 0


def test_cut_patches_drops_patches_below_min_valid_fraction() -> None:
    image, label, valid, names = scene_40()
    # valid fractions: 1.0 (minus 2 px), 0.25, 0.25, 0.0625
    kept = cut_patches(image, label, valid, names, 32, min_valid_fraction=0.2)
    assert list(zip(kept.rows, kept.cols, strict=True)) == [(0, 0), (0, 32), (32, 0)]
    assert cut_patches(image, label, valid, names, 32, min_valid_fraction=0.5).image.shape[0] == 1
    none = cut_patches(image, label, np.zeros_like(valid), names, 32)
    assert none.image.shape == (0, 3, 32, 32) and none.rows.size == 0


# --- splits -------------------------------------------------------------------------------------

FRACTIONS = {"train": 0.7, "val": 0.2, "test": 0.1}


def many_groups(
    n_groups: int, seed: int = 0, labelled_groups: int = 10
) -> tuple[NDArray[np.str_], NDArray[np.int64]]:
    """Patches in ``n_groups`` groups of 1-6 patches; the first ``labelled_groups`` groups carry labels."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, n_groups)
    groups = np.repeat([f"g{k:03d}" for k in range(n_groups)], sizes)
    group_index = np.repeat(np.arange(n_groups), sizes)
    labelled = np.where(group_index < labelled_groups, rng.integers(1, 500, groups.size), 0)
    return groups, labelled.astype(np.int64)


def test_groups_never_straddle_splits() -> None:
    groups, labelled = many_groups(60)
    split = assign_splits(groups, labelled, FRACTIONS, seed=3)
    assert split.shape == groups.shape
    for g in np.unique(groups):
        assert np.unique(split[groups == g]).size == 1


@pytest.mark.parametrize("n_groups", [3, 4, 7])
def test_every_split_gets_patches_with_few_groups(n_groups: int) -> None:
    groups, labelled = many_groups(n_groups, labelled_groups=1)
    for seed in range(5):
        split = assign_splits(groups, labelled, FRACTIONS, seed=seed)
        assert set(split.tolist()) == {"train", "val", "test"}


def test_fractions_are_respected_with_many_groups() -> None:
    groups, labelled = many_groups(400, labelled_groups=80)
    split = assign_splits(groups, labelled, FRACTIONS, seed=0)
    for name, fraction in FRACTIONS.items():
        assert abs(np.mean(split == name) - fraction) < 0.02


def test_splits_are_deterministic_per_seed() -> None:
    groups, labelled = many_groups(80)
    first = assign_splits(groups, labelled, FRACTIONS, seed=5)
    np.testing.assert_array_equal(first, assign_splits(groups, labelled, FRACTIONS, seed=5))
    assert not np.array_equal(first, assign_splits(groups, labelled, FRACTIONS, seed=6))


def test_labelled_groups_spread_over_every_split() -> None:
    groups, labelled = many_groups(60, labelled_groups=6)
    for seed in range(5):
        split = assign_splits(groups, labelled, FRACTIONS, seed=seed)
        for name in FRACTIONS:
            assert labelled[split == name].sum() > 0, (seed, name)


def test_split_fractions_must_sum_to_one() -> None:
    with pytest.raises(InputError, match="sum to 1"):
        assign_splits(["a", "b"], np.zeros(2, dtype=np.int64), {"train": 0.7, "val": 0.2})


# --- normalisation ------------------------------------------------------------------------------


def test_channel_statistics_equal_numpy_over_valid_pixels() -> None:
    rng = np.random.default_rng(2)
    images = [
        rng.normal([[[3.0]], [[-1.0]]], [[[2.0]], [[0.5]]], (2, 6, 6)).astype(np.float32) for _ in range(3)
    ]
    valids = [rng.random((6, 6)) > 0.3 for _ in range(3)]
    images[0][:, ~valids[0]] = 1e6  # invalid pixels must not count
    masks = [v.astype(np.uint8) for v in valids]  # as stored in a dataset
    stats = channel_statistics(zip(images, masks, strict=True), ("a", "b"))
    for k, name in enumerate(("a", "b")):
        pooled = np.concatenate([im[k][v] for im, v in zip(images, valids, strict=True)]).astype(np.float64)
        assert stats[name]["mean"] == pytest.approx(pooled.mean(), rel=1e-9)
        assert stats[name]["std"] == pytest.approx(pooled.std(), rel=1e-6)
    constant = channel_statistics([(np.full((1, 4, 4), 2.0, np.float32), np.ones((4, 4), np.uint8))], ("c",))
    assert constant == {"c": {"mean": 2.0, "std": 1.0}}


def test_normalise_scales_valid_pixels_and_zeroes_invalid_ones() -> None:
    image = np.stack([np.full((4, 4), 5.0), np.full((4, 4), -2.0)]).astype(np.float32)
    valid = np.ones((4, 4), dtype=np.uint8)
    valid[0, 0] = 0
    stats = {"a": {"mean": 1.0, "std": 2.0}, "b": {"mean": -2.0, "std": 4.0}}
    out = normalise(image, valid, stats, ("a", "b"))
    assert out.dtype == np.float32
    assert np.all(out[:, 0, 0] == 0)
    np.testing.assert_allclose(out[0][valid > 0], 2.0)
    np.testing.assert_allclose(out[1][valid > 0], 0.0)
    batched = normalise(np.stack([image, image]), np.stack([valid, valid]), stats, ("a", "b"))
    np.testing.assert_array_equal(batched[1], out)


# --- targets ------------------------------------------------------------------------------------


def test_soft_labels_sigma_zero_is_the_hard_label() -> None:
    label = np.zeros((8, 8), dtype=np.uint8)
    label[2:4, 3:6] = 7
    hard = soft_labels(label, 0.0)
    assert hard.dtype == np.float32
    np.testing.assert_array_equal(hard, (label > 0).astype(np.float32))
    np.testing.assert_array_equal(soft_labels(np.zeros((4, 4), np.uint8), 2.0), np.zeros((4, 4)))


def test_soft_labels_follow_a_gaussian_of_the_distance() -> None:
    label = np.zeros((21, 21), dtype=bool)
    label[10, 10] = True
    soft = soft_labels(label, 2.0)
    assert soft[10, 10] == 1.0
    assert soft[10, 13] == pytest.approx(np.exp(-9 / 8), rel=1e-6)  # d = 3
    assert soft[13, 14] == pytest.approx(np.exp(-25 / 8), rel=1e-6)  # d = 5 (3-4-5)


# --- augmentation -------------------------------------------------------------------------------


def test_dihedral_moves_a_marker_as_rot90_then_mirror() -> None:
    marker = np.zeros((6, 8))
    marker[1, 2] = 1
    assert np.argwhere(dihedral(marker, 1, False)).tolist() == [[8 - 1 - 2, 1]]  # CCW: (r, c) -> (W-1-c, r)
    assert np.argwhere(dihedral(marker, 0, True)).tolist() == [[1, 8 - 1 - 2]]
    seen = {tuple(np.argwhere(dihedral(marker, k, f))[0]) + dihedral(marker, k, f).shape for k, f in DIHEDRAL}
    assert len(seen) == 8  # eight distinct transforms


def test_augment_keeps_image_label_and_valid_aligned() -> None:
    # an asymmetric L-shaped object, so every transform is distinguishable
    label = np.zeros((8, 8), dtype=np.uint8)
    label[1:4, 2] = 1
    label[3, 3] = 1
    valid = np.ones((8, 8), dtype=np.uint8)
    valid[0, 7] = 0
    image = np.stack([label * 5.0, 1.0 - valid, np.zeros((8, 8))]).astype(np.float32)
    channels = ("coherence", "log_amplitude", "elevation")
    layouts = set()
    for seed in range(40):
        im, lab, val = augment(image, label, valid, channels, np.random.default_rng(seed), phase_offset=False)
        np.testing.assert_array_equal(im[0] > 0, lab > 0)
        np.testing.assert_array_equal(im[1] > 0, val == 0)
        layouts.add(lab.tobytes())
    assert len(layouts) == 8


@pytest.mark.parametrize(("k", "flip"), DIHEDRAL)
def test_rotate_aspect_matches_the_aspect_of_the_transformed_dem(k: int, flip: bool) -> None:
    rows, cols = np.mgrid[0:9, 0:9].astype(np.float64) * PIXEL_M
    # a plane rising to the east and to the south: downslope towards the north-west-ish
    for rise_east, rise_south in ((1.0, 0.0), (0.3, 0.7), (-0.5, 0.2)):
        dem = 100.0 + rise_east * cols + rise_south * rows
        slope, aspect = slope_aspect(dem, PIXEL_M)
        turned_slope, turned_aspect = slope_aspect(dihedral(dem, k, flip), PIXEL_M)
        np.testing.assert_allclose(turned_slope, dihedral(slope, k, flip), atol=1e-9)
        expected = rotate_aspect(dihedral(aspect, k, flip), k, flip)
        assert np.all(circular_difference_deg(turned_aspect, expected) < 1e-6)


def test_one_quarter_turn_makes_an_east_facing_slope_face_north() -> None:
    east = np.array([90.0])
    assert rotate_aspect(east, 1, False)[0] == 0.0
    assert rotate_aspect(east, 2, False)[0] == 270.0
    assert rotate_aspect(east, 0, True)[0] == 270.0  # a left-right mirror swaps east and west
    assert rotate_aspect(np.array([30.0]), 1, True)[0] == 60.0


def test_phase_offset_rotates_the_phase_by_one_constant() -> None:
    rng = np.random.default_rng(4)
    phase = rng.uniform(-np.pi, np.pi, (8, 8))
    coherence = rng.random((8, 8))
    image = np.stack([np.cos(phase), coherence, np.sin(phase)]).astype(np.float32)
    channels = ("cos_phase", "coherence", "sin_phase")
    ones = np.ones((8, 8), dtype=np.uint8)
    offsets = []
    for seed in range(5):
        out, _, _ = augment(
            image, ones, ones, channels, np.random.default_rng(seed), dihedral_transforms=False
        )
        np.testing.assert_allclose(out[0] ** 2 + out[2] ** 2, 1.0, atol=1e-5)
        np.testing.assert_array_equal(out[1], image[1])
        shift = np.angle(np.exp(1j * (np.arctan2(out[2], out[0]) - phase)))
        assert np.all(circular_difference_deg(np.degrees(shift), np.degrees(shift[0, 0])) < 1e-3)
        offsets.append(shift[0, 0])
    assert np.ptp(offsets) > 0.1  # different draws, different offsets


# --- sampling -----------------------------------------------------------------------------------


def test_label_buckets_are_terciles_of_labelled_patches() -> None:
    counts = np.array([0, 10, 20, 30, 40, 50, 60, 0, 70, 80, 90])
    np.testing.assert_array_equal(label_buckets(counts), [0, 1, 1, 1, 2, 2, 2, 0, 3, 3, 3])
    np.testing.assert_array_equal(label_buckets(np.zeros(4, np.int64)), [0, 0, 0, 0])
    np.testing.assert_array_equal(label_buckets(np.array([0, 5, 5, 5])), [0, 3, 3, 3])


def test_bucket_sampler_is_deterministic_per_seed_and_epoch() -> None:
    buckets = label_buckets(np.arange(40) % 7 * 10)

    def draw(seed: int, epoch: int) -> list[int]:
        sampler = BucketSampler(buckets, (0.1, 0.5, 0.3, 0.1), num_samples=50, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert draw(0, 3) == draw(0, 3)
    assert draw(0, 3) != draw(0, 4)
    assert draw(0, 3) != draw(1, 3)
    assert len(draw(2, 1)) == 50 and all(0 <= i < 40 for i in draw(2, 1))


def test_bucket_shares_match_renormalised_probabilities() -> None:
    buckets = np.array([0] * 10 + [1] * 5 + [2] * 20)  # no large objects
    sampler = BucketSampler(buckets, (0.1, 0.5, 0.3, 0.1), num_samples=20_000, seed=0)
    expected = {"none": 0.1 / 0.9, "small": 0.5 / 0.9, "medium": 0.3 / 0.9, "large": 0.0}
    assert sampler.bucket_shares() == pytest.approx(expected)
    drawn = buckets[np.array(list(sampler))]
    for b, name in enumerate(("none", "small", "medium", "large")):
        assert np.mean(drawn == b) == pytest.approx(expected[name], abs=0.015)
    # inside a bucket every sample is equally likely
    small = np.bincount(np.array(list(sampler))[drawn == 1] - 10, minlength=5)
    assert small.min() > 0.8 * small.mean()


def test_small_object_crops_centre_small_objects_only() -> None:
    label = np.zeros((64, 64), dtype=np.uint8)
    label[30:33, 40:43] = 1  # small: 9 px, centre (31, 41)
    label[0, 0] = label[1, 1] = 1  # small, 8-connected across the diagonal, in the corner
    label[50:64, 0:30] = 1  # large: 420 px
    crops = small_object_crops(7, label, max_object_px=50, crop_px=16)
    assert len(crops) == 2 and all(c.index == 7 and c.size == 16 for c in crops)
    by_row = sorted(crops, key=lambda c: c.row)
    corner, middle = by_row
    assert (corner.row, corner.col) == (0, 0)  # clipped to stay inside the patch
    for crop, pixels in ((corner, 2), (middle, 9)):
        placed = place_crop(label, crop)
        assert placed.shape == label.shape
        assert placed.sum() == pixels  # the whole object is inside the crop
        assert placed[:24].sum() == 0 and placed[40:].sum() == 0  # outside the centred window: padding
    rows, cols = np.nonzero(place_crop(label, middle))
    assert abs(rows.mean() - 32) <= 0.5 and abs(cols.mean() - 32) <= 0.5
    image = np.arange(2 * 64 * 64, dtype=np.float32).reshape(2, 64, 64)
    placed_image = place_crop(image, middle, fill=-1)
    np.testing.assert_array_equal(placed_image[:, 24:40, 24:40], image[:, 23:39, 33:49])
    assert np.all(placed_image[:, :24] == -1)
    assert small_object_crops(0, np.zeros((8, 8)), 10, 4) == []
