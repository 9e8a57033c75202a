"""Every segmentation architecture honours the same contract: shapes, seeding, bundles, prediction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from torch import nn

from fringenet.errors import InputError
from fringenet.models.bundle import BundleInfo, load_bundle, read_bundle_info, save_bundle
from fringenet.models.device import select_device
from fringenet.models.predict import pad_to_stride, predict_probabilities
from fringenet.models.segmentation import ModelSpec, build_segmentation_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def build(architecture: str, encoder: str, in_channels: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_segmentation_model(
        ModelSpec(architecture=architecture, encoder=encoder, in_channels=in_channels)
    ).eval()


def same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


class ModelConformance:
    """The contract; each subclass names one tiny architecture/encoder pair."""

    architecture: str
    encoder: str

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls) -> nn.Module:
        """The network with 3 input channels, seed 0, in eval mode."""
        return build(cls.architecture, cls.encoder, 3)

    @pytest.mark.parametrize("in_channels", [3, 5])
    def test_output_is_one_logit_map_per_image(self, in_channels: int) -> None:
        model = build(self.architecture, self.encoder, in_channels)
        with torch.no_grad():
            out = model(torch.zeros(2, in_channels, 64, 64))
        assert out.shape == (2, 1, 64, 64)
        assert torch.isfinite(out).all()

    def test_bundle_round_trip_gives_identical_outputs(self, model: nn.Module, tmp_path: Path) -> None:
        spec = ModelSpec(architecture=self.architecture, encoder=self.encoder, in_channels=3)
        info = BundleInfo(
            model=spec,
            channels=["cos_phase", "sin_phase", "coherence"],
            normalisation={c: {"mean": 0.0, "std": 1.0} for c in ("cos_phase", "sin_phase", "coherence")},
            threshold=0.3,
            patch_size=64,
        )
        path = save_bundle(tmp_path / "bundle", model, info)
        loaded, loaded_info = load_bundle(path)
        assert loaded_info == info and read_bundle_info(path).threshold == 0.3
        assert not loaded.training
        images = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32))
        with torch.no_grad():
            torch.testing.assert_close(loaded(images), model(images), rtol=0, atol=0)

    def test_same_seed_gives_identical_initial_weights(self, model: nn.Module) -> None:
        assert same_state(model, build(self.architecture, self.encoder, 3, seed=0))
        assert not same_state(model, build(self.architecture, self.encoder, 3, seed=1))

    def test_unknown_encoder_lists_valid_names(self) -> None:
        with pytest.raises(ValidationError, match="unknown encoder 'resnet_nope'") as err:
            ModelSpec(architecture=self.architecture, encoder="resnet_nope")
        assert "resnet18" in str(err.value) and "mit_b0" in str(err.value)
        with pytest.raises(ValidationError, match="tu-<timm model>"):
            ModelSpec(architecture=self.architecture, encoder="tu-no_such_timm_model")

    def test_predict_probabilities_handles_sizes_off_the_stride(self, model: nn.Module) -> None:
        images = np.random.default_rng(1).standard_normal((2, 3, 48, 40)).astype(np.float32)
        probs = predict_probabilities(model, images, batch_size=1)
        assert probs.shape == (2, 48, 40) and probs.dtype == np.float32
        assert np.all((probs >= 0) & (probs <= 1))
        # the answer is the top-left 48 x 40 of the network on the zero-padded 64 x 64 input
        with torch.no_grad():
            padded = torch.nn.functional.pad(torch.from_numpy(images), (0, 24, 0, 16))
            expected = torch.sigmoid(model(padded))[:, 0, :48, :40].numpy()
        np.testing.assert_allclose(probs, expected, atol=1e-5)


class TestUnet(ModelConformance):
    architecture, encoder = "unet", "resnet18"


class TestSegformer(ModelConformance):
    architecture, encoder = "segformer", "mit_b0"


def timm_has(name: str) -> bool:
    import timm  # after fringenet.models.segmentation, which makes torchvision (that timm needs) importable

    return bool(timm.is_model(name))


@pytest.mark.skipif(not timm_has("convnext_atto"), reason="this timm has no convnext_atto")
class TestUpernet(ModelConformance):
    architecture, encoder = "upernet", "tu-convnext_atto"


class TestFpn(ModelConformance):
    architecture, encoder = "fpn", "resnet18"


def test_unknown_architecture_lists_valid_names() -> None:
    with pytest.raises(ValidationError, match=r"unknown architecture 'unit'.*'segformer'.*'unet'"):
        ModelSpec(architecture="unit", encoder="resnet18")


def test_pad_to_stride_pads_bottom_right_only() -> None:
    x = torch.arange(48 * 40, dtype=torch.float32).reshape(1, 1, 48, 40)
    padded, size = pad_to_stride(x)
    assert padded.shape == (1, 1, 64, 64) and size == (48, 40)
    assert torch.equal(padded[..., :48, :40], x) and padded[..., 48:, :].abs().sum() == 0


def test_load_bundle_rejects_folders_without_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a model bundle"):
        load_bundle(tmp_path)


def test_auto_device_is_the_cpu_here() -> None:
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("an accelerator is present")
    assert select_device("auto") == torch.device("cpu")
    assert select_device("cpu") == torch.device("cpu")
    with pytest.raises(InputError, match="CUDA was requested"):
        select_device("cuda")
    with pytest.raises(InputError, match="unknown device"):
        select_device("abacus")


def test_bfloat16_autocast_stays_close_to_float32() -> None:
    from fringenet.models.predict import predict_probabilities

    torch.manual_seed(0)
    model = build_segmentation_model(ModelSpec(architecture="segformer", encoder="mit_b0", in_channels=3))
    images = np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype(np.float32)
    full = predict_probabilities(model, images)
    fast = predict_probabilities(model, images, bfloat16=True)
    assert fast.dtype == np.float32 and fast.shape == full.shape
    assert np.max(np.abs(fast - full)) < 0.05


def test_decoder_width_sets_the_unet_decoder_and_survives_a_bundle(tmp_path: Path) -> None:
    spec = ModelSpec(architecture="unet", encoder="mit_b0", decoder_width=8, in_channels=3)
    torch.manual_seed(0)
    model = build_segmentation_model(spec).eval()
    widths = [block.conv2[0].out_channels for block in model.decoder.blocks]  # type: ignore[union-attr]
    assert widths == [128, 64, 32, 16, 8]
    channels = ["cos_phase", "sin_phase", "coherence"]
    info = BundleInfo(
        model=spec, channels=channels, normalisation={c: {"mean": 0.0, "std": 1.0} for c in channels},
        threshold=0.5,
    )  # fmt: skip
    loaded, loaded_info = load_bundle(save_bundle(tmp_path / "b", model, info))
    assert loaded_info.model.decoder_width == 8 and same_state(model, loaded)


def test_decoder_width_is_refused_where_it_means_nothing() -> None:
    with pytest.raises(ValidationError, match="decoder_width applies to"):
        ModelSpec(architecture="segformer", encoder="mit_b0", decoder_width=8)


def test_prediction_runs_channels_last_with_the_same_answer() -> None:
    import copy

    torch.manual_seed(0)
    model = build_segmentation_model(ModelSpec(architecture="unet", encoder="mit_b0", in_channels=3)).eval()
    reference = copy.deepcopy(model)
    images = np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype(np.float32)
    probs = predict_probabilities(model, images)
    conv = next(p for p in model.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        expected = torch.sigmoid(reference(torch.from_numpy(images)))[:, 0].numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)
