"""Bundles applied through a cached TorchScript trace (fringenet.models.compiled, issue 14's start-up time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fringenet.models.compiled as compiled
from bundles import tiny_bundle
from fringenet.models.bundle import load_bundle

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _bundle(path: Path, architecture: str = "segformer") -> Path:
    return tiny_bundle(path, architecture=architecture)


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(compiled.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "torchscript"


def test_the_trace_is_cached_and_computes_what_the_network_does(tmp_path: Path, cache: Path) -> None:
    bundle = _bundle(tmp_path / "b")
    first, _ = compiled.load_for_inference(bundle)
    assert isinstance(first, torch.jit.ScriptModule)  # the trace from the first run on
    assert len(list(cache.glob("*.pt"))) == 1
    again, info = compiled.load_for_inference(bundle)
    assert isinstance(again, torch.jit.ScriptModule) and info.patch_size == 64
    eager, _ = load_bundle(bundle)
    x = torch.randn(2, 2, 96, 160)  # another size than the one traced
    with torch.no_grad():
        torch.testing.assert_close(again(x), eager(x), rtol=0, atol=1e-5)


def test_a_changed_bundle_gets_a_new_trace_and_a_damaged_one_is_rebuilt(tmp_path: Path, cache: Path) -> None:
    bundle = _bundle(tmp_path / "b")
    compiled.load_for_inference(bundle)
    (entry,) = cache.glob("*.pt")
    entry.write_bytes(b"not a trace")
    net, _ = compiled.load_for_inference(bundle)
    assert isinstance(net, torch.jit.ScriptModule) and entry.stat().st_size > 100
    other = _bundle(tmp_path / "c", architecture="ddnet")
    compiled.load_for_inference(other)
    assert len(list(cache.glob("*.pt"))) == 2


def test_off_unwritable_and_untraceable_fall_back_to_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = _bundle(tmp_path / "b")
    monkeypatch.setenv(compiled.CACHE_ENV, "off")
    assert not isinstance(compiled.load_for_inference(bundle)[0], torch.jit.ScriptModule)
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv(compiled.CACHE_ENV, str(blocked))
    net, _ = compiled.load_for_inference(bundle)  # no cache, still a working network
    assert net(torch.zeros(1, 2, 64, 64)).shape == (1, 1, 64, 64)
    monkeypatch.setenv(compiled.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(compiled, "trace_checked", lambda model, info: None)
    assert not isinstance(compiled.load_for_inference(bundle)[0], torch.jit.ScriptModule)


def test_a_cached_trace_loads_without_smp_timm_or_torchvision(tmp_path: Path, cache: Path) -> None:
    bundle = _bundle(tmp_path / "b")
    compiled.load_for_inference(bundle)
    code = (
        "import sys; from fringenet.models.compiled import load_for_inference; "
        f"net, _ = load_for_inference({str(bundle)!r}); "
        "print(type(net).__name__, [m for m in ('timm', 'torchvision', 'segmentation_models_pytorch') if m in sys.modules])"
    )
    env = {**os.environ, compiled.CACHE_ENV: str(cache.parent)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split()[-1] == "[]", out.stdout + out.stderr
