"""kill -9 of ``fringenet monitor`` at several moments, then a re-run: the same outputs, no stale temporaries
(issue 14, "tests that keep it so").

Deleting only what a writer created (``unwrap IFG --out EXISTING_FOLDER`` keeps the folder, a directory is
replaced only by a directory) is covered by ``test_atomic_safety.py`` and ``test_io_dates_atomic.py``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pytest

import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)
from fringenet.io.atomic import TEMPORARY_NAME
from fringenet.io.netcdf import write_netcdf
from fringenet.models.bundle import BundleInfo, save_bundle
from fringenet.models.segmentation import ModelSpec, build_segmentation_model
from fringenet.pipeline.demo import observed_product
from fringenet.simulate.config import SimulationConfig
from fringenet.simulate.scene import simulate_stack

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

CHANNELS = ["cos_phase", "sin_phase", "coherence", "gradient_magnitude", "gradient_consistency"]
#: Outputs that must be byte for byte those of an uninterrupted run.
BYTE_STABLE = re.compile(
    r"^(?:probability\.tif|detections\.tif|unusable\.tif|velocity\.tif|slow_motion_(?:z|velocity)\.tif"
    r"|detections\.geojson|quicklook\.nc"
    r"|masknet/(?:probability|detections)\.tif|targets/T\d+\.(?:csv|nc))$"
)
#: Outputs a monitor run first writes at the end of its detection stage and rewrites, with the
#: measurements, at its end: after a kill between the two they are complete but the detection stage's.
TWO_STAGE = ("detections.geojson", "detections.gpkg", "run.json")
#: Notes that report this run's clean-up of an earlier one (overwrite, a killed run's temporaries).
CLEAN_UP_NOTE = re.compile(r"^(?:overwrite: removed |removed \d+ temporary file)")
#: What an interrupted write may leave: atomic_path's temporaries and old folders, SQLite sidecars.
LEFTOVER = re.compile(r"(?:^\..*\.tmp|-journal$|-wal$|-shm$|^\..*\.old$)")
#: Run-folder names without base64 characters, so a report can be compared with the names swapped.
A_NAME, B_NAME = "run_a", "run_b"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 96 x 96 simulated stack of 6 dates and a random-weight detector, as in test_monitor.py."""
    import torch

    root = tmp_path_factory.mktemp("kill")
    config = SimulationConfig(height=96, width=96, n_dates=6, seed=3, scenario="subsidence", n_neighbours=3)
    product = write_netcdf(observed_product(simulate_stack(config)), root / "product.nc")
    torch.manual_seed(0)
    spec = ModelSpec(architecture="segformer", encoder="mit_b0", in_channels=len(CHANNELS), classes=1)
    info = BundleInfo(
        model=spec, channels=CHANNELS, normalisation={c: {"mean": 0.0, "std": 1.0} for c in CHANNELS},
        threshold=0.3, patch_size=64,
    )  # fmt: skip
    detector = save_bundle(root / "detector", build_segmentation_model(spec), info)
    return {"root": root, "product": product, "detector": detector}


def _command(ws: dict[str, Path], out: Path, *extra: str) -> list[str]:
    # inline scheduler: no Dask cluster; whirlwind: in-process unwrapping (no snaphu child to orphan)
    return [
        sys.executable, "-m", "fringenet", "monitor", str(ws["product"]), "--out", str(out),
        "--model", str(ws["detector"]), "--mask", "otsu", "--scheduler", "inline", "--unwrapper", "whirlwind",
        "--window", "64", "--precision", "float32", "--device", "cpu", *extra,
    ]  # fmt: skip


def _env() -> dict[str, str]:
    threads = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    return {**os.environ, **threads}


def _files(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(folder: Path) -> list[str]:
    return [
        rel for rel, p in _files(folder).items() if LEFTOVER.search(p.name) or TEMPORARY_NAME.match(p.name)
    ]


def _run_killed(cmd: list[str], cwd: Path, when: Callable[[float], bool], limit: float) -> int | None:
    """Start ``cmd``, SIGKILL it as soon as ``when(elapsed)`` holds; its return code (None: still killed)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.monotonic()
    try:
        while proc.poll() is None:
            elapsed = time.monotonic() - start
            if when(elapsed) or elapsed > limit:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def _stable_run_json(path: Path) -> dict:
    # created and seconds are the clock's, and the clean-up notes say what this run removed of the
    # killed ones; everything else (command, settings, other notes, n_targets) must agree
    record = json.loads(path.read_text())
    record["notes"] = [n for n in record["notes"] if not CLEAN_UP_NOTE.match(n)]
    return {k: v for k, v in record.items() if k not in ("created", "seconds")}


def _stable_report(path: Path, name: str) -> list[str]:
    # the creation time and the footer's "Generated ..." are the clock's, the clean-up notes this
    # run's own (see _stable_run_json); the run folder is named in the page
    lines = path.read_text().replace(name, "RUN").splitlines()
    return [
        line for line in lines
        if "<th>created</th>" not in line and not line.startswith("<footer>")
        and "temporary file(s) an interrupted run left" not in line and "overwrite: removed" not in line
    ]  # fmt: skip


def _assert_detection_stage(final: Path, early: Path) -> None:
    """``early`` is a complete file of the same targets as ``final`` (maybe without the measurements)."""
    if early.suffix == ".gpkg":
        assert list(gpd.read_file(early)["target_id"]) == list(gpd.read_file(final)["target_id"])
    elif early.name == "run.json":
        early_run, final_run = json.loads(early.read_text()), json.loads(final.read_text())
        assert early_run["n_targets"] == final_run["n_targets"] and early_run["command"] == "monitor"
        # the detection stage's record says so, so a killed folder is not taken for a finished run
        if early_run["complete"]:
            assert _stable_run_json(early) == _stable_run_json(final)
    else:
        ids = [f["properties"]["target_id"] for f in json.loads(early.read_text())["features"]]
        assert ids == [f["properties"]["target_id"] for f in json.loads(final.read_text())["features"]]


def _assert_same_as(a: Path, b: Path, *, complete: bool) -> None:
    """Every output in ``b`` is ``a``'s; with ``complete`` ``b`` holds exactly ``a``'s files and all are final.

    Without ``complete`` (after a kill) a file of :data:`TWO_STAGE` may still be the detection stage's.
    """
    files_a, files_b = _files(a), _files(b)
    published = {rel for rel in files_b if rel not in _leftovers(b)}
    assert published <= set(files_a), f"files an uninterrupted run does not write: {published - set(files_a)}"
    if complete:
        assert set(files_b) == set(files_a)
    for rel in sorted(published):
        if not complete and rel in TWO_STAGE:
            _assert_detection_stage(files_a[rel], files_b[rel])
        elif BYTE_STABLE.match(rel):
            assert files_b[rel].read_bytes() == files_a[rel].read_bytes(), f"{rel} differs"
        elif rel == "inventory.gpkg":
            # the GeoPackage's bytes carry SQLite / gpkg_contents timestamps; its attributes must agree
            inv_a, inv_b = gpd.read_file(files_a[rel]), gpd.read_file(files_b[rel])
            assert inv_b.equals(inv_a), "inventory attributes differ"
        elif rel == "run.json":
            assert _stable_run_json(files_b[rel]) == _stable_run_json(files_a[rel])
        elif rel == "report.html":
            assert _stable_report(files_b[rel], B_NAME) == _stable_report(files_a[rel], A_NAME)
        else:
            raise AssertionError(f"{rel}: not known to be byte-stable or comparable; decide how to check it")


def test_kill_9_at_several_moments_then_a_rerun_gives_the_same_outputs(workspace: dict[str, Path]) -> None:
    root = workspace["root"]
    run_a, run_b = root / A_NAME, root / B_NAME

    start = time.monotonic()
    done = subprocess.run(_command(workspace, run_a), cwd=root, env=_env(), capture_output=True, text=True)
    wall = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    assert any(rel.startswith("targets/") for rel in _files(run_a)), "the stack should give measured targets"
    assert not _leftovers(run_a)

    def any_temporary(_: float) -> bool:  # mid-write of the first atomic output
        return run_b.is_dir() and any(TEMPORARY_NAME.match(p.name) for p in run_b.rglob(".*"))

    def first_target(_: float) -> bool:  # mid-measurement: more targets, the inventory and report to come
        return (run_b / "targets").is_dir() and any((run_b / "targets").glob("*.csv"))

    moments: list[tuple[str, Callable[[float], bool]]] = [
        ("20 % of the wall time", lambda elapsed: elapsed > 0.2 * wall),
        ("60 % of the wall time", lambda elapsed: elapsed > 0.6 * wall),
        ("first target series", first_target),
        ("first temporary file", any_temporary),  # last: the re-run below must clean up after it
    ]
    codes, left = {}, {}
    for label, when in moments:
        # --overwrite: an earlier kill may have left published outputs, which the run-folder rule refuses
        codes[label] = _run_killed(_command(workspace, run_b, "--overwrite"), root, when, limit=3 * wall)
        left[label] = _leftovers(run_b) if run_b.is_dir() else []
        # kill -9 never leaves a half-written output under its final name: what is there is A's
        _assert_same_as(run_a, run_b, complete=False)
    print(f"A: {wall:.1f} s; return codes {codes}; left behind {left}")
    assert sum(code == -signal.SIGKILL for code in codes.values()) >= 2, codes
    if not left[
        "first temporary file"
    ]:  # the poll missed the few ms a temporary exists: plant what a kill leaves
        (run_b / ".probability.0123456789.tmp.tif").write_bytes(b"half a GeoTIFF")

    again = subprocess.run(
        _command(workspace, run_b, "--overwrite"), cwd=root, env=_env(), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert not _leftovers(run_b), "stale temporaries left behind"
    _assert_same_as(run_a, run_b, complete=True)
