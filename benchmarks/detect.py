"""Whole-scene detection benchmark: scan a 4096 x 4096 interferogram and report speed and memory.

Builds a synthetic single-pair GeoTIFF set (wrapped phase with atmosphere, deformation bowls and
coherence-dependent noise, plus coherence) in a temporary folder, scans it with
:func:`fringenet.detect.scan_scene` and prints a markdown table: scene size, window, overlap,
batch, seconds, megapixels per second and the peak resident memory sampled during the scan,
against the targets (>= 1 Mpx/s, < 2 GB).

The model is ``--model PATH``, else the package's shipped detector, else a freshly initialised
SegFormer mit_b0 on cos_phase, sin_phase, coherence (speed does not depend on the weights).

    python benchmarks/detect.py                     # 4096 x 4096
    python benchmarks/detect.py --size 1024         # quick check
    python benchmarks/detect.py --end-to-end        # `fringenet detect` as a user runs it, 224 and 4096 px

``--end-to-end`` times the command line instead (a new process per run: imports, model loading, the Mask
Net, the scan, vectorising and every output file), on a phase-only GeoTIFF as LiCSAR delivers it, and
samples the peak resident memory of the process and its children (Dask workers included).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import rasterio
from affine import Affine
from scipy.ndimage import zoom

import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)

CRS = "EPSG:32633"
TARGET_MPX_S = 1.0
TARGET_RSS_GB = 2.0


def _write(path: Path, data: np.ndarray, transform: Affine) -> Path:
    profile = {
        "driver": "GTiff", "height": data.shape[0], "width": data.shape[1], "count": 1, "dtype": "float32",
        "crs": CRS, "transform": transform, "tiled": True, "blockxsize": 256, "blockysize": 256,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(np.float32), 1)
    return path


def make_scene(folder: Path, size: int, seed: int = 0) -> tuple[Path, Path]:
    """Write ``phase.pha.tif`` (rad) and ``phase.cc.tif`` of a synthetic ``size`` x ``size`` pair."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((size // 256 + 2, size // 256 + 2))
    coherence = (0.25 + 0.7 * zoom(coarse, size / (coarse.shape[0] - 1), order=1)[:size, :size]).astype(
        np.float32
    )
    y, x = np.ogrid[:size, :size]
    phase = np.zeros((size, size), np.float32)
    for _ in range(3):  # atmosphere: long-wavelength waves
        angle, wavelength = rng.uniform(0, np.pi), rng.uniform(400, 3000)
        phase += np.float32(rng.uniform(1, 4)) * np.cos(
            (2 * np.pi / wavelength) * (np.cos(angle) * x + np.sin(angle) * y) + rng.uniform(0, 2 * np.pi)
        ).astype(np.float32)
    for _ in range(max(1, size // 256)):  # deformation bowls, 20-60 px radius
        r0, c0 = rng.integers(64, size - 64, 2)
        radius, amplitude = rng.uniform(20, 60), rng.uniform(6, 25)
        box = int(3 * radius)
        rs, cs = slice(max(r0 - box, 0), min(r0 + box, size)), slice(max(c0 - box, 0), min(c0 + box, size))
        yy, xx = np.ogrid[rs, cs]
        phase[rs, cs] -= amplitude * np.exp(-((yy - r0) ** 2 + (xx - c0) ** 2) / (2 * radius**2))
    phase += rng.standard_normal((size, size), dtype=np.float32) * 1.5 * (1 - coherence)
    phase = np.angle(np.exp(1j * phase)).astype(np.float32)
    transform = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 4_000_000.0)
    return _write(folder / "scene.pha.tif", phase, transform), _write(
        folder / "scene.cc.tif", coherence, transform
    )


def resolve_model(model: str | None, folder: Path) -> tuple[Path, str]:
    """A bundle path and how it was chosen (given, shipped detector, or freshly initialised)."""
    if model:
        return Path(model), f"given bundle {model}"
    try:
        from fringenet.models.shipped import shipped_bundle

        return shipped_bundle("detector"), "the package's shipped detector"
    except (ImportError, ValueError):  # InputError is a ValueError: no trained detector shipped
        pass
    import torch

    from fringenet.models.bundle import BundleInfo, save_bundle
    from fringenet.models.segmentation import ModelSpec, build_segmentation_model

    torch.manual_seed(0)
    spec = ModelSpec(architecture="segformer", encoder="mit_b0", in_channels=3)
    stats = {"cos_phase": (0.0, 0.707), "sin_phase": (0.0, 0.707), "coherence": (0.6, 0.2)}
    info = BundleInfo(
        model=spec, channels=list(stats), patch_size=256, threshold=0.5,
        normalisation={c: {"mean": m, "std": s} for c, (m, s) in stats.items()},
    )  # fmt: skip
    path = save_bundle(folder / "fresh-mit_b0", build_segmentation_model(spec).eval(), info)
    return path, "a freshly initialised SegFormer mit_b0 (cos_phase, sin_phase, coherence; random weights)"


class PeakRss:
    """Peak resident memory (bytes) of this process, sampled every 20 ms in a thread."""

    def __init__(self) -> None:
        self.process, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


TARGET_SMALL_S = 3.0  # a 224 x 224 scene, process start to outputs


def tree_rss(process: psutil.Process) -> int:
    """Resident memory (bytes) of ``process`` and all its children."""
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:  # a child that just ended
            pass
    return total


def run_fringenet(arguments: list[str]) -> tuple[float, int]:
    """Run the ``fringenet`` command of this environment: seconds from process start to exit and the peak
    resident memory of its process tree (bytes); its output is shown if it fails."""
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("fringenet")
    t0, peak = time.perf_counter(), 0
    child = psutil.Popen([str(exe), *arguments], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    while child.poll() is None:
        peak = max(peak, tree_rss(child))
        time.sleep(0.05)
    seconds = time.perf_counter() - t0
    log = child.stdout.read().decode() if child.stdout else ""
    if child.returncode != 0:
        raise SystemExit(f"fringenet {' '.join(arguments)} failed:\n{log}")
    return seconds, peak


def end_to_end(sizes: list[int], repeats: int, extra: list[str]) -> None:
    """Print a table of ``fringenet detect`` runs on phase-only scenes of each size (best of ``repeats``)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="fringenet-detect-e2e-") as tmp:
        for size in sizes:
            folder = Path(tmp) / str(size)
            folder.mkdir()
            phase, _ = make_scene(folder, size)
            best, peak = float("inf"), 0
            for k in range(repeats):
                out = folder / f"run{k}"
                seconds, rss = run_fringenet(["detect", str(phase), "--out", str(out), *extra])
                best, peak = min(best, seconds), max(peak, rss)
            stages = json.loads((out / "run.json").read_text())["seconds"]
            rows.append((size, best, size * size / 1e6 / best, peak / 1e9, stages))
    print(
        "| scene (px) | seconds (process start to outputs) | Mpx/s | peak RSS (GB) | of which mask / scan (s) |"
    )
    print("|---|---|---|---|---|")
    for size, seconds, mpx, gb, stages in rows:
        print(f"| {size} x {size} | {seconds:.1f} | {mpx:.2f} | {gb:.2f} | "
              f"{stages.get('mask', 0):.1f} / {stages.get('scan', 0):.1f} |")  # fmt: skip
    small = [r for r in rows if r[0] <= 224]
    large = [r for r in rows if r[0] >= 4096]
    if small:
        print(
            f"\nTarget < {TARGET_SMALL_S:g} s for 224 x 224: {'met' if small[0][1] < TARGET_SMALL_S else 'NOT met'}"
        )
    if large:
        ok = large[0][2] >= TARGET_MPX_S and large[0][3] < TARGET_RSS_GB
        print(
            f"Target >= {TARGET_MPX_S:g} Mpx/s and < {TARGET_RSS_GB:g} GB for 4096 x 4096: {'met' if ok else 'NOT met'}"
        )
    print(f"Load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work slows the runs).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="scene side (px)")
    parser.add_argument(
        "--model", default=None, help="bundle folder (default: shipped detector or fresh mit_b0)"
    )
    parser.add_argument("--window", type=int, default=None, help="window side (px; default the patch size)")
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--precision",
        choices=("float32", "bfloat16"),
        default="float32",
        help="CPU arithmetic of the network",
    )
    parser.add_argument("--end-to-end", action="store_true", help="time `fringenet detect` itself")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[224, 4096], help="scene sides of --end-to-end"
    )
    parser.add_argument("--repeats", type=int, default=2, help="runs per size of --end-to-end (best kept)")
    args, extra = parser.parse_known_args()
    if args.end_to_end:
        end_to_end(args.sizes, args.repeats, extra)
        return
    if extra:
        parser.error(f"unrecognised arguments: {' '.join(extra)}")

    import torch

    from fringenet.detect import GeoTiffSource, scan_scene

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="fringenet-detect-bench-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        phase, coherence = make_scene(folder, args.size)
        made = time.perf_counter() - t0
        bundle, how = resolve_model(args.model, folder)
        source = GeoTiffSource(phase, coherence=coherence)
        before = psutil.Process().memory_info().rss / 1e9  # libraries and the model, before the scan
        with PeakRss() as rss:
            scan = scan_scene(
                bundle, source, folder / "run", window=args.window, overlap=args.overlap,
                batch_size=args.batch, device=args.device, bfloat16=args.precision == "bfloat16",
            )  # fmt: skip
        detected = 0
        with rasterio.open(scan.detections_path) as src:
            detected = int(src.read(1).sum())
    gb = rss.peak / 1e9
    print(f"Model: {how}. Scene built in {made:.1f} s; torch threads: {torch.get_num_threads()}.\n")
    print(
        "| scene (px) | precision | window | overlap | batch | windows | seconds | Mpx/s | peak RSS (GB) "
        "| RSS before (GB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.size} x {args.size} | {args.precision} | {scan.window} | {scan.overlap} | {args.batch} "
        f"| {scan.n_windows} "
        f"| {scan.seconds:.1f} | {scan.megapixels_per_s:.2f} | {gb:.2f} | {before:.2f} |"
    )
    speed_ok = "met" if scan.megapixels_per_s >= TARGET_MPX_S else "NOT met"
    memory_ok = "met" if gb < TARGET_RSS_GB else "NOT met"
    print(
        f"\nTargets: >= {TARGET_MPX_S:g} Mpx/s ({speed_ok}); peak RSS < {TARGET_RSS_GB:g} GB ({memory_ok})."
    )
    load = os.getloadavg()[0]
    print(f"Detected pixels: {detected}; notes: {scan.notes or 'none'}; load average {load:.1f} "
          f"on {os.cpu_count()} CPUs (other work slows the scan).")  # fmt: skip


if __name__ == "__main__":
    main()
