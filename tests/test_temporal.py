"""Time-series models: input assembly and its checks, the three networks, sequence datasets and training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fringenet.data.sequence_store import (
    SequenceDatasetConfig,
    SequenceSamples,
    build_sequence_dataset,
    open_sequence_dataset,
)
from fringenet.data.sequences import (
    batch_inputs,
    check_dates,
    check_network,
    interferogram_inputs,
    network_coherence_matrix,
    stack_inputs,
    terrain_inputs,
)
from fringenet.errors import InputError
from fringenet.models.bundle import load_bundle
from fringenet.models.temporal import TEMPORAL_ARCHITECTURES, TemporalModelSpec, build_temporal_model
from fringenet.train.temporal import TemporalTrainConfig, run_train_temporal

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DATES = np.array(
    ["2020-05-01", "2020-05-13", "2020-05-25", "2020-06-06", "2020-06-18"], dtype="datetime64[D]"
)


def tiny(arch: str, max_steps: int = 8) -> TemporalModelSpec:
    return TemporalModelSpec(architecture=arch, dim=16, depth=1, heads=2, max_steps=max_steps, min_steps=2)


def chain_pairs(dates: np.ndarray, hops: int = 2) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.triu_indices(dates.size, k=1)
    keep = (j - i) <= hops
    return dates[i[keep]], dates[j[keep]]


@pytest.fixture(scope="module")
def sequences(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("seq") / "data"
    config = SequenceDatasetConfig(
        n_scenes=8, size=32, n_dates=6, seed=3, splits={"train": 0.5, "val": 0.5, "test": 0.0}
    )
    build_sequence_dataset(config, out)
    return out


def test_date_checks_name_the_problem() -> None:
    with pytest.raises(InputError, match="not sorted"):
        check_dates(DATES[[0, 2, 1, 3]], "stack.nc")
    with pytest.raises(InputError, match="appears twice"):
        check_dates(DATES[[0, 1, 1, 2]], "stack.nc")
    with pytest.raises(InputError, match="needs at least 8"):
        check_dates(DATES, "stack.nc", min_dates=8)
    assert check_dates(DATES, "stack.nc").size == 5


def test_network_checks_name_the_problem() -> None:
    ref, sec = chain_pairs(DATES)
    ref_idx, sec_idx, dates = check_network(ref, sec, "stack")
    assert dates.size == 5 and np.all(sec_idx > ref_idx)
    with pytest.raises(InputError, match="appears twice"):
        check_network(np.r_[ref, ref[:1]], np.r_[sec, sec[:1]], "stack")
    with pytest.raises(InputError, match="not in date order"):
        check_network(ref[::-1], sec[::-1], "stack")
    with pytest.raises(InputError, match="must precede"):
        check_network(sec, ref, "stack")
    gap = (ref != DATES[2]) & (sec != DATES[2])  # every pair touching the middle date missing
    keep = gap & ~((ref == DATES[1]) & (sec == DATES[3]))
    with pytest.raises(InputError, match="disconnected"):
        check_network(ref[keep], sec[keep], "stack")
    with pytest.raises(InputError, match="needs at least 40"):
        check_network(ref, sec, "stack", min_pairs=40)


def test_interferogram_inputs_pad_thin_and_fall_back() -> None:
    ref, sec = chain_pairs(DATES)  # 7 pairs
    rng = np.random.default_rng(0)
    phase = rng.uniform(-np.pi, np.pi, (ref.size, 16, 16))
    phase[:, 0, 0] = np.nan
    terrain = terrain_inputs(None, None, None, (16, 16), notes := [])
    out = interferogram_inputs(phase, None, ref, sec, tiny("st_transformer", 10), terrain)
    assert out.steps.shape == (10, 4, 16, 16) and out.step_mask.sum() == 7
    assert np.allclose(
        out.steps[:7, 0], np.where(np.isnan(phase), 0, np.cos(np.nan_to_num(phase))), atol=1e-6
    )
    assert not out.valid[0, 0] and out.valid[1, 1]
    assert any("estimated from the wrapped phase" in n for n in out.notes) and notes == [
        "no DEM: terrain context left empty"
    ]
    thinned = interferogram_inputs(phase, np.ones_like(phase), ref, sec, tiny("st_transformer", 4), terrain)
    assert thinned.step_mask.all() and any("4 of 7" in n for n in thinned.notes)
    with pytest.raises(InputError, match="3 phase layers"):
        interferogram_inputs(phase[:3], None, ref, sec, tiny("st_transformer"), terrain)


def test_network_matrix_matches_the_full_matrix_on_its_pairs() -> None:
    from fringenet.insar.phase_linking import sample_coherence_matrix

    rng = np.random.default_rng(1)
    slc = (rng.standard_normal((5, 12, 12)) + 1j * rng.standard_normal((5, 12, 12))).astype(np.complex64)
    full = sample_coherence_matrix(slc, window=3)
    i, j = np.triu_indices(5, k=1)
    keep = (j - i) <= 2
    i, j = i[keep], j[keep]
    phase = np.moveaxis(np.angle(full[:, :, i, j]), -1, 0)
    coherence = np.moveaxis(np.abs(full[:, :, i, j]), -1, 0)
    matrix, present = network_coherence_matrix(phase, coherence, i, j, 5)
    assert present.sum() == 5 + 2 * i.size
    assert np.allclose(matrix[:, :, present], full[:, :, present], atol=1e-5)
    assert np.all(matrix[:, :, ~present] == 0)


@pytest.mark.parametrize("arch", TEMPORAL_ARCHITECTURES)
def test_padded_steps_do_not_change_the_output(arch: str) -> None:
    spec = tiny(arch, 8)
    ref, sec = chain_pairs(DATES)
    rng = np.random.default_rng(2)
    phase = rng.uniform(-np.pi, np.pi, (ref.size, 16, 16))
    terrain = terrain_inputs(
        rng.normal(0, 100, (16, 16)), rng.uniform(0, 40, (16, 16)), rng.uniform(0, 360, (16, 16)), (16, 16)
    )
    inputs = stack_inputs(spec, phase, np.full_like(phase, 0.8), ref, sec, terrain)
    batch = {k: torch.from_numpy(v) for k, v in batch_inputs([inputs]).items()}
    torch.manual_seed(0)
    model = build_temporal_model(spec).eval()
    with torch.no_grad():
        out = model(batch["steps"], batch["time"], batch["step_mask"], batch["terrain"])
        noisy = batch["steps"].clone()
        noisy[:, ~batch["step_mask"][0]] = torch.randn_like(noisy[:, ~batch["step_mask"][0]]) * 5
        again = model(noisy, batch["time"], batch["step_mask"], batch["terrain"])
    assert out["logits"].shape == (1, 1, 16, 16) and out["rate"].shape == (1, 1, 16, 16)
    assert torch.allclose(out["logits"], again["logits"], atol=1e-5)
    assert torch.allclose(out["rate"], again["rate"], atol=1e-4)


def test_sequence_dataset_is_deterministic_and_complete(sequences: Path, tmp_path: Path) -> None:
    config = SequenceDatasetConfig(
        n_scenes=8, size=32, n_dates=6, seed=3, splits={"train": 0.5, "val": 0.5, "test": 0.0}
    )
    build_sequence_dataset(config, tmp_path / "again")
    a, b = open_sequence_dataset(sequences), open_sequence_dataset(tmp_path / "again")
    assert np.array_equal(a.read(3)["slc"], b.read(3)["slc"])
    sample = a.read(0)
    assert sample["slc"].shape == (6, 32, 32) and sample["slc"].dtype == np.complex64
    assert np.all(np.diff(sample["dates"]) > 0)
    with pytest.raises(InputError, match="exists already"):
        build_sequence_dataset(config, sequences)
    with pytest.raises(InputError, match="not a fringenet sequence dataset"):
        open_sequence_dataset(tmp_path)


def test_training_samples_vary_by_epoch_and_validation_is_fixed(sequences: Path) -> None:
    ds = open_sequence_dataset(sequences)
    spec = tiny("st_transformer", 12)
    train = SequenceSamples(ds, ds.indices("train"), spec, augment=True, seed=0)
    first = train[0]["steps"].clone()
    train.set_epoch(1)
    assert not torch.equal(first, train[0]["steps"])
    val = SequenceSamples(ds, ds.indices("val"), spec)
    assert torch.equal(val[0]["steps"], val[0]["steps"])
    item = val[0]
    assert item["label"].shape == (1, 32, 32) and torch.isfinite(item["rate"]).all()


def test_train_resume_pretrain_and_finetune(sequences: Path, tmp_path: Path) -> None:
    spec = tiny("hybrid", 8)
    base = {
        "dataset": sequences,
        "model": spec.model_dump(),
        "epochs": 1,
        "batch_size": 2,
        "samples_per_epoch": 4,
    }
    pre = run_train_temporal(TemporalTrainConfig(**base, objective="mae"), tmp_path / "mae", progress=False)
    info = load_bundle(pre.bundle)[1]
    assert info.task == "temporal-mae"
    config = TemporalTrainConfig(**{**base, "epochs": 2}, init_from=tmp_path / "mae", label_fraction=0.5)
    run = run_train_temporal(config, tmp_path / "ft", progress=False)
    assert len(run.history) == 2 and 0.0 <= run.history[-1]["val_best_iou"] <= 1.0
    table = open_sequence_dataset(sequences).table
    moving_in_val = table.loc[table["split"] == "val", "labelled_px"].sum() > 0
    assert np.isfinite(run.history[-1]["val_velocity_rmse_m_per_yr"]) == moving_in_val
    info = load_bundle(run.bundle)[1]
    assert info.task == "temporal" and info.patch_size == 32
    with pytest.raises(InputError, match="--resume"):
        run_train_temporal(config, tmp_path / "ft", progress=False)
    resumed = run_train_temporal(config, tmp_path / "ft", resume=True, progress=False)
    # nothing left to train: the same run comes back
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in run.history]


def test_cli_builds_sequences_and_prints_temporal_configs(tmp_path: Path) -> None:
    import yaml
    from typer.testing import CliRunner

    from fringenet.cli import app

    runner = CliRunner()
    printed = runner.invoke(app, ["config", "train-temporal"])
    assert printed.exit_code == 0
    parsed = TemporalTrainConfig.model_validate(yaml.safe_load(printed.stdout))
    assert parsed.task == "temporal" and parsed.model.architecture == "st_transformer"
    config = tmp_path / "seq.yaml"
    config.write_text("format: sequences\nn_scenes: 2\nsize: 16\nn_dates: 4\n")
    built = runner.invoke(app, ["dataset", "build", "--config", str(config), "--out", str(tmp_path / "d")])
    assert built.exit_code == 0, built.stdout
    assert "2 stacks of 4 SLCs, 16 px" in built.stdout
    assert len(open_sequence_dataset(tmp_path / "d").table) == 2
    config.write_text("format: sequences\nsize: 20\n")
    refused = runner.invoke(app, ["dataset", "build", "--config", str(config), "--out", str(tmp_path / "e")])
    assert refused.exit_code == 2 and "multiple of 8" in refused.output
