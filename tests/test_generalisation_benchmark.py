"""The generalisation benchmark: its independent scene generator and its scoring rules."""

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("troposim", reason="troposim not installed (pip install '.[bench]')")
pytest.importorskip(
    "okada_wrapper", reason="okada-wrapper not installed (pip install '.[bench]', needs gfortran)"
)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import generalisation as gen
import independent_scenes as scenes

SEED = 5


def _same(a: scenes.Scene, b: scenes.Scene) -> bool:
    arrays = [(a.wrapped_phase, b.wrapped_phase), (a.label, b.label)]
    if (a.coherence is None) != (b.coherence is None):
        return False
    if a.coherence is not None and b.coherence is not None:
        arrays.append((a.coherence, b.coherence))
    return all(x.tobytes() == y.tobytes() for x, y in arrays) and a.meta == b.meta


def test_generator_is_deterministic_and_cached(tmp_path: Path) -> None:
    first = [scenes.make_scene(SEED, i) for i in (0, 1)]
    again = [scenes.make_scene(SEED, i) for i in (0, 1)]
    assert all(_same(a, b) for a, b in zip(first, again, strict=True))
    assert not _same(first[0], scenes.make_scene(SEED + 1, 0))
    cached = scenes.load_scenes(2, SEED, tmp_path)  # generated and written
    reread = scenes.load_scenes(2, SEED, tmp_path)  # read back
    assert all(_same(a, b) and _same(a, c) for a, b, c in zip(first, cached, reread, strict=True))


def test_labels_exactly_for_deforming_scenes() -> None:
    batch = [scenes.make_scene(SEED, i) for i in range(8)]
    assert [s.deforming for s in batch] == [i % 2 == 0 for i in range(8)]
    for s in batch:
        assert s.label.any() == s.deforming, s.name
        assert not np.any(s.label & ~s.valid)
        assert s.wrapped_phase.dtype == np.float32
        valid = s.wrapped_phase[s.valid]
        assert valid.min() >= -np.pi and valid.max() <= np.pi
        assert s.pixel_size_m in scenes.PIXEL_SIZES_M
    with_coherence = [s.coherence is not None for s in batch]
    assert with_coherence.count(True) == 4
    assert {s.kind for s in batch if not s.deforming} == {"turbulence", "stratified"}


def test_los_sign_and_mogi() -> None:
    east, north, up = scenes.los_vector(39.0, -12.0)  # ascending, looking east
    assert east < 0 and up > 0 and abs(np.hypot(np.hypot(east, north), up) - 1) < 1e-12
    x, y = scenes.coordinates((5, 5), 100.0)
    ue, un, uu = scenes.mogi(x, y, 0.0, 0.0, 1000.0)
    assert uu[2, 2] == uu.max() and ue[2, 2] == 0 and ue[2, 4] > 0 and un[0, 2] > 0


def test_scoring_rules_on_hand_made_masks() -> None:
    valid = np.ones((20, 50), dtype=bool)
    label = np.zeros_like(valid)
    label[:10, :10] = True  # 100 label pixels
    flags = np.zeros_like(valid)
    flags[:2, :10] = True  # 20 of them: detected at exactly 20 %
    hit = gen.score_scene(flags, label, valid, deforming=True)
    assert (hit.tp, hit.fp, hit.fn, hit.detected) == (20, 0, 80, True)
    flags[1, 9] = False  # 19 %: missed
    assert not gen.score_scene(flags, label, valid, deforming=True).detected

    negative = np.zeros_like(valid)
    noise = np.zeros_like(valid)
    noise.flat[:10] = True  # 10 of 1000 valid pixels = 1 %: no false alarm
    assert not gen.score_scene(noise, negative, valid, deforming=False).false_alarm
    noise.flat[10] = True  # 11 > 1 %: false alarm
    assert gen.score_scene(noise, negative, valid, deforming=False).false_alarm
    part = valid.copy()
    part[0] = False  # flags outside valid pixels do not count
    assert gen.score_scene(noise, negative, part, deforming=False).flagged_px == 0

    pooled = gen.pool(
        [
            gen.score_scene(flags, label, valid, deforming=True),  # tp 19, fn 81
            gen.score_scene(noise, negative, valid, deforming=False),  # fp 11
        ]
    )
    assert pooled.iou == pytest.approx(19 / (19 + 11 + 81))
    assert pooled.f1 == pytest.approx(38 / (38 + 11 + 81))
    assert (pooled.detected, pooled.deforming, pooled.false_alarms, pooled.negatives) == (0, 1, 1, 1)


def test_gradient_rule_flags_fringes_not_noise() -> None:
    rng = np.random.default_rng(0)
    cols = np.arange(64)[None, :] * np.ones((64, 1))
    valid = np.ones((64, 64), dtype=bool)
    fringes = scenes.wrap(0.5 * cols)
    assert gen.gradient_rule(fringes, valid)[5:-5, 5:-5].all()
    assert not gen.gradient_rule(scenes.wrap(0.05 * cols), valid).any()  # below the fixed rate
    assert gen.gradient_rule(rng.uniform(-np.pi, np.pi, (64, 64)), valid).mean() < 0.01


def test_write_docs_replaces_only_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Other\n\ntext\n")
    gen.write_docs("first", doc)
    text = doc.read_text()
    assert gen.SECTION in text and "first" in text and text.index("## Other") < text.index(gen.START)
    gen.write_docs("second", doc)
    text = doc.read_text()
    assert "second" in text and "first" not in text and text.count(gen.START) == 1


def test_calibration_statistics_of_known_fields() -> None:
    import atmosphere_calibration as calibration

    rng = np.random.default_rng(1)
    rows, cols = np.indices((120, 150))
    ok = np.ones((120, 150), dtype=bool)
    plane = 0.01 + 2e-4 * rows - 3e-4 * cols
    assert np.abs(calibration.deramp(plane, ok)).max() < 1e-12
    white = rng.normal(0, 0.01, ok.shape)  # 1 cm, uncorrelated: sqrt(D) = sqrt(2) cm at every lag
    lags = np.array([0.5, 2.0, 8.0, 500.0])
    curve = calibration.structure_function(white, ok, 0.1, rng, lags)
    assert np.allclose(curve[:3], np.sqrt(2), rtol=0.05) and np.isnan(curve[3])  # 500 km: too far
    fringes = np.angle(np.exp(1j * 0.5 * cols))
    stats = calibration.gradient_statistics(fringes, ok)
    assert np.allclose(np.median(stats["raw"]), 0.5) and stats["rule"].mean() > 0.9
