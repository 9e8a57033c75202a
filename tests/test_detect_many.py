"""``fringenet detect a.tif b.tif ...`` and ``--each``: one run folder per product, models loaded once,
every input checked before any scan, a summary, no mixing with a previous call (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from typer.testing import CliRunner

import fringenet.models.compiled as compiled_module
import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)
import fringenet.pipeline.detect_many as many_module
from bundles import tiny_bundle
from fringenet.cli import app
from fringenet.errors import InputError
from fringenet.pipeline.detect_many import SUMMARY, folder_name, run_detect_many
from fringenet.pipeline.monitor import DetectConfig
from rasters import write_plain_tif

pytestmark = pytest.mark.usefixtures("one_torch_thread")

UTM = {"crs": "EPSG:32632", "transform": Affine(30.0, 0, 5e5, 0, -30.0, 5e6)}
PAIRS = ("20200101_20200113", "20200113_20200125", "20200101_20200125")


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bundle(tmp_path_factory.mktemp("bundle") / "detector", architecture="segformer")


def _wrapped(path: Path, seed: int = 0, size: int = 48) -> Path:
    rng = np.random.default_rng(seed)
    return write_plain_tif(path, rng.uniform(-3.0, 3.0, (size, size)).astype(np.float32), **UTM)


def _config(detector: Path) -> DetectConfig:
    return DetectConfig(model=detector, mask="none", scheduler="inline", window=64)


def _summary(out: Path) -> dict:
    return json.loads((out / SUMMARY).read_text())


def test_many_products_get_a_folder_each_and_the_model_is_loaded_once(
    detector: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _wrapped(tmp_path / "in" / "a_wrapped.tif", 0), _wrapped(tmp_path / "in" / "b_wrapped.tif", 1)
    loads: list[str] = []
    real = compiled_module.load_for_inference

    def counted(path):  # type: ignore[no-untyped-def]
        loads.append(str(path))
        return real(path)

    monkeypatch.setattr(compiled_module, "load_for_inference", counted)
    result = run_detect_many([a, b], tmp_path / "runs", _config(detector))
    assert len(loads) == 1  # one network for both products
    assert [r.name for r in result.runs] == ["a_wrapped", "b_wrapped"] and not result.failed
    for name in ("a_wrapped", "b_wrapped"):
        record = json.loads((tmp_path / "runs" / name / "run.json").read_text())
        assert record["complete"] and record["input"].endswith(f"{name}.tif")
        assert (tmp_path / "runs" / name / "probability.tif").exists()
    summary = _summary(tmp_path / "runs")
    assert summary["complete"] and summary["n_products"] == 2 and summary["n_failed"] == 0
    assert [p["folder"] for p in summary["products"]] == ["a_wrapped", "b_wrapped"]


def test_each_scans_every_pair_of_a_folder_on_its_own(detector: Path, tmp_path: Path) -> None:
    for k, pair in enumerate(PAIRS):
        _wrapped(tmp_path / "stack" / f"{pair}.tif", k)
    result = run_detect_many([tmp_path / "stack"], tmp_path / "runs", _config(detector), each=True)
    assert [r.name for r in result.runs] == sorted(PAIRS)
    for run in result.runs:
        record = json.loads((tmp_path / "runs" / run.name / "run.json").read_text())
        assert record["input"] == f"{tmp_path / 'stack'} [pair {run.name}]"


def test_a_bad_input_is_refused_before_any_scan(detector: Path, tmp_path: Path) -> None:
    good = _wrapped(tmp_path / "a_wrapped.tif")
    bad = write_plain_tif(tmp_path / "b_wrapped.tif", np.full((48, 48), np.nan, np.float32), **UTM)
    with pytest.raises(InputError, match=r"b_wrapped\.tif.*no valid pixel"):
        run_detect_many([good, bad], tmp_path / "runs", _config(detector))
    assert not (tmp_path / "runs").exists()


def test_a_failure_while_scanning_is_recorded_and_the_others_go_on(
    detector: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _wrapped(tmp_path / "a_wrapped.tif", 0), _wrapped(tmp_path / "b_wrapped.tif", 1)
    real = many_module._detect

    def failing(ds, source, folder, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(source).endswith("a_wrapped.tif"):
            (Path(folder) / "probability.tif").write_text("half")
            raise InputError(source, "truncated while reading")
        return real(ds, source, folder, *args, **kwargs)

    monkeypatch.setattr(many_module, "_detect", failing)
    code = CliRunner().invoke(app, ["detect", str(a), str(b), "--out", str(tmp_path / "runs"),
                                    "--model", str(detector), "--mask", "none", "--window", "64"])  # fmt: skip
    assert code.exit_code == 1, code.output
    assert (
        "a_wrapped: FAILED" in code.output
        and "b_wrapped: " in code.output
        and "1 of 2 product(s) failed" in code.output
    )
    assert not (tmp_path / "runs" / "a_wrapped").exists()  # nothing half-written is left
    summary = _summary(tmp_path / "runs")
    assert [p["status"] for p in summary["products"]] == ["failed", "done"]
    assert "truncated while reading" in summary["products"][0]["error"]


def test_a_previous_call_is_refused_and_overwrite_replaces_only_its_files(
    detector: Path, tmp_path: Path
) -> None:
    a, b = _wrapped(tmp_path / "a_wrapped.tif", 0), _wrapped(tmp_path / "b_wrapped.tif", 1)
    out = tmp_path / "runs"
    run_detect_many([a, b], out, _config(detector))
    (out / "a_wrapped" / "mine.txt").write_text("keep")
    with pytest.raises(InputError, match="previous"):
        run_detect_many([a], out, _config(detector))
    result = run_detect_many(
        [a, _wrapped(tmp_path / "c_wrapped.tif", 2)], out, _config(detector), overwrite=True
    )
    assert [r.name for r in result.runs] == ["a_wrapped", "c_wrapped"]
    assert not (out / "b_wrapped").exists()  # the previous call's product that is not in this one is gone
    assert (out / "a_wrapped" / "mine.txt").read_text() == "keep"  # a file fringenet did not write stays
    assert any("overwrite: removed" in n for n in result.notes)


def test_colliding_names_are_told_apart_and_made_safe(detector: Path, tmp_path: Path) -> None:
    a = _wrapped(tmp_path / "x" / "scene one.pha.tif", 0)
    b = _wrapped(tmp_path / "y" / "scene one.pha.tif", 1)
    result = run_detect_many([a, b], tmp_path / "runs", _config(detector))
    assert [r.name for r in result.runs] == ["scene_one.pha", "scene_one.pha-2"]
    assert folder_name(Path("geo_20200101_20200113.diff.tif")) == "geo_20200101_20200113.diff"


def test_the_same_inputs_give_the_same_rasters(detector: Path, tmp_path: Path) -> None:
    a, b = _wrapped(tmp_path / "a_wrapped.tif", 0), _wrapped(tmp_path / "b_wrapped.tif", 1)
    run_detect_many([a, b], tmp_path / "one", _config(detector))
    run_detect_many([a, b], tmp_path / "two", _config(detector))
    for name in ("a_wrapped", "b_wrapped"):
        for file in ("probability.tif", "detections.tif", "detections.geojson"):
            assert (tmp_path / "one" / name / file).read_bytes() == (
                tmp_path / "two" / name / file
            ).read_bytes()


def test_a_local_cluster_is_quiet_when_port_8787_is_taken(capfd: pytest.CaptureFixture[str]) -> None:
    import socket

    from fringenet.detect.scene import connect

    busy = socket.socket()
    try:
        busy.bind(("127.0.0.1", 8787))
        busy.listen()
    except OSError:
        pass  # already taken by something else: the case under test all the same
    try:
        client = connect(None, n_workers=1)
        assert client.submit(sum, [1, 2]).result() == 3
        client.close()
    finally:
        busy.close()
    err = capfd.readouterr().err
    assert "8787" not in err and "already in use" not in err
    assert "Traceback" not in err and "WARNING" not in err


def test_progress_names_the_products(
    detector: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    a, b = _wrapped(tmp_path / "a_wrapped.tif", 0), _wrapped(tmp_path / "b_wrapped.tif", 1)
    run_detect_many([a, b], tmp_path / "runs", _config(detector), progress=True)
    err = capfd.readouterr().err
    assert "products" in err and "2/2" in err


def test_a_failure_in_an_existing_folder_leaves_none_of_its_files(
    detector: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = _wrapped(tmp_path / "a_wrapped.tif", 0)
    out = tmp_path / "runs"
    run_detect_many([a, _wrapped(tmp_path / "b_wrapped.tif", 1)], out, _config(detector))
    (out / "a_wrapped" / "mine.txt").write_text("keep")

    def failing(ds, source, folder, *args, **kwargs):  # type: ignore[no-untyped-def]
        (Path(folder) / "probability.tif").write_text("half")
        raise InputError(source, "truncated while reading")

    monkeypatch.setattr(many_module, "_detect", failing)
    result = run_detect_many([a], out, _config(detector), overwrite=True)
    assert [r.status for r in result.runs] == ["failed"]
    assert sorted(p.name for p in (out / "a_wrapped").iterdir()) == ["mine.txt"]


def test_a_summary_naming_a_path_outside_the_folder_is_not_followed(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    out.mkdir()
    (tmp_path / "run.json").write_text("not ours to remove")
    (out / SUMMARY).write_text(json.dumps({"products": [{"folder": ".."}, {"folder": "a_wrapped"}]}))
    assert many_module._previous_products(out) == [out / "a_wrapped"]
